"""The three CLIs end to end on the tiny config, and their answers to bad input."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from neural_mastering.checkpoint import default_checkpoint
from neural_mastering.cli import eval as evaluate
from neural_mastering.cli import infer, train
from neural_mastering.metrics import lufs, true_peak
from neural_mastering.synthetic import synth_song


def assert_one_error_line(err: str, message: str, case) -> None:
    """The error is one line "PROG: error: ..." naming `message` (argparse puts its usage
    lines above it, and nothing else may be printed: no traceback)."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err, (case, err)
    assert ": error: " in lines[-1] and message in lines[-1], (case, err)
    assert all(line.startswith(("usage:", " ")) for line in lines[:-1]), (case, err)


def run(main, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    assert run(train.main, ["--config", "tiny", "--out", str(out), "--quiet"]) == 0
    return out


def test_train_writes_the_run_folder_and_states_its_steps_first(tiny_run):
    for name in ("config.yaml", "metrics.csv", "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (tiny_run / name).is_file(), name
    report = json.loads((tiny_run / "report.json").read_text())
    assert report["steps"] == 2
    assert set(report["validation_scores"]) == {
        "model",
        "model_loudness_matched",
        "unprocessed",
        "loudness_matched",
    }
    state = torch.load(tiny_run / "checkpoints" / "best.pt", weights_only=True)
    assert (state["package"], state["kind"]) == ("neural_mastering", "mastering")


def test_train_first_line_states_steps_and_time(tmp_path, capsys):
    # The demo's first line, without training: the run then stops at a missing data folder.
    out = tmp_path / "y"
    argv = ["--set", "trainer.max_steps=600", "--tracks", str(tmp_path / "none"), "--out", str(out)]
    assert run(train.main, argv) == 2
    assert capsys.readouterr().out.splitlines()[0] == (
        "training 600 steps (about 4 minutes on a 2-core CPU)"
    )
    assert not out.exists()


def test_train_resumes_in_place(tiny_run, capsys):
    last = tiny_run / "checkpoints" / "last.pt"
    argv = [
        "--config",
        "tiny",
        "--resume",
        str(last),
        "--set",
        "trainer.max_steps=3",
        "--set",
        "trainer.max_epochs=2",
        "--quiet",
    ]
    assert run(train.main, argv) == 0
    assert json.loads((tiny_run / "report.json").read_text())["steps"] == 3


def test_infer_end_to_end_with_report(tiny_run, stereo_wav, capsys):
    ckpt = str(tiny_run / "checkpoints" / "last.pt")
    out = stereo_wav.with_name("out.wav")
    code = run(
        infer.main, [str(stereo_wav), "-o", str(out), "--checkpoint", ckpt, "--report", "--quiet"]
    )
    assert code == 0
    y, sr = sf.read(out, always_2d=True)
    x, sr_in = sf.read(stereo_wav, always_2d=True)
    assert sr == sr_in and y.shape == x.shape
    assert true_peak(y.T) <= -1.0
    report = json.loads(out.with_suffix(".json").read_text())
    assert len(report["eq_bands"]) == 3 and report["eq_bands"][0]["kind"] == "low_shelf"
    assert report["settings"]["target_lufs"] == -14.0
    assert report["after"]["true_peak_8x_dbtp"] <= -1.0
    assert abs(report["after"]["lufs"] + 14.0) <= 0.3
    limiter = report["limiter"]
    assert limiter["gain_reduction_max_db"] >= limiter["gain_reduction_mean_db"] >= 0
    assert report["after"]["loudness_range_lu"] >= 0
    assert "limiter max" in capsys.readouterr().out
    assert out.with_suffix(".png").stat().st_size > 1000
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(".")) == []
    before = out.read_bytes()
    assert run(infer.main, [str(stereo_wav), "-o", str(out), "--checkpoint", ckpt]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_infer_several_songs_into_a_folder_at_16_bits_with_a_preset(tiny_run, tmp_path, capsys):
    ckpt = str(tiny_run / "checkpoints" / "last.pt")
    songs = []
    for i, name in enumerate(("a.wav", "b.flac")):
        songs.append(tmp_path / name)
        sf.write(songs[-1], 0.2 * np.stack([synth_song(i, 1.5, 44100)] * 2).T, 44100)
    out = tmp_path / "masters"
    argv = [*map(str, songs), "-o", f"{out}/", "--preset", "cd", "--bit-depth", "16"]
    assert run(infer.main, [*argv, "--checkpoint", ckpt, "--quiet"]) == 0
    for song in songs:
        info = sf.info(out / f"{song.stem}_mastered.wav")
        assert info.subtype == "PCM_16"
        y, sr = sf.read(out / f"{song.stem}_mastered.wav", always_2d=True)
        assert abs(lufs(y.T, sr) + 9.0) <= 0.3 and true_peak(y.T) <= -0.3


def test_infer_with_the_shipped_checkpoint_writes_song_mastered(stereo_wav):
    ckpt = default_checkpoint()
    assert ckpt.is_file(), "the package must ship checkpoints/default.pt"
    assert ckpt.stat().st_size < 10 * 2**20
    assert run(infer.main, [str(stereo_wav), "--quiet", "--ceiling", "-2"]) == 0
    y, _ = sf.read(stereo_wav.with_name("song_mastered.wav"), always_2d=True)
    assert np.isfinite(y).all() and true_peak(y.T) <= -2.0


def _checkpoints(tmp_path):
    """Checkpoint files a user might pass by mistake, with the message each must get."""
    foreign = tmp_path / "abr.pt"
    torch.save({"package": "abr_diffusion", "kind": "generator", "model": {}}, foreign)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a checkpoint" * 10)
    unstamped = tmp_path / "plain.pt"
    torch.save({"model": {}}, unstamped)
    return [
        (foreign, "abr_diffusion checkpoint, not a neural_mastering one"),
        (corrupt, "is not a readable checkpoint"),
        (unstamped, "unstamped checkpoint"),
        (tmp_path / "missing.pt", "checkpoint not found"),
    ]


def _bad_files(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros((0, 2), np.float32), 44100)
    eight = tmp_path / "eight.wav"
    sf.write(eight, np.zeros((4410, 8), np.float32), 44100)
    return [
        (text, "not readable audio"),
        (empty, "not readable audio"),
        (zero, "0 samples"),
        (eight, "8 channels"),
        (tmp_path / "missing.wav", "not found"),
    ]


def test_infer_bad_inputs_exit_2_with_one_line_and_write_nothing(tmp_path, capsys):
    song = tmp_path / "fine.wav"
    sf.write(song, 0.1 * np.random.default_rng(0).standard_normal((44100, 1)), 44100)
    (tmp_path / "a_file").write_text("x")
    cases = [
        (["--target-lufs", "nan"], "--target-lufs"),
        (["--target-lufs", "5"], "--target-lufs"),
        (["--ceiling", "inf"], "--ceiling"),
        (["--chunk-s", "nan"], "--chunk-s"),
        (["--latent-s", "inf"], "--latent-s"),
        (["--latent-s", "-1"], "--latent-s"),
        (["-o", str(tmp_path / "out.mp4")], "unknown format"),
        (["-o", str(tmp_path / "a_file" / "out.wav")], "is a file, not a folder"),
        (["-o", str(song)], "is the input"),
        (["--mix", "nan"], "--mix"),
        (["--eq-amount", "101"], "--eq-amount"),
        (["--bit-depth", "8"], "--bit-depth"),
        (["--preset", "radio"], "--preset"),
        (["-o", str(tmp_path / "out.flac"), "--bit-depth", "32f"], "FLAC holds integer"),
        ([str(song), "-o", str(tmp_path / "one.wav")], "need an output folder"),
        (["--reference", str(tmp_path / "nope.wav")], "audio file not found"),
        (["--reference", str(song), "--reference-weights", "1", "2"], "one per reference"),
        (["--reference", str(song), "--reference-weights", "0"], "--reference-weights"),
    ]
    cases += [(["--checkpoint", str(p)], msg) for p, msg in _checkpoints(tmp_path)]
    before = sorted(p.name for p in tmp_path.iterdir())
    for extra, message in cases:
        assert run(infer.main, [str(song), "--report", *extra]) == 2, extra
        assert_one_error_line(capsys.readouterr().err, message, extra)
        assert sorted(p.name for p in tmp_path.iterdir()) == before, extra
    for path, message in _bad_files(tmp_path):
        assert run(infer.main, [str(path), "--report"]) == 2, path
        assert message in capsys.readouterr().err
        stem = path.with_name(f"{path.stem}_mastered")
        assert not any(stem.with_suffix(s).exists() for s in (".wav", ".json", ".png"))


def test_train_bad_inputs_exit_2_and_leave_no_folder(tiny_run, tmp_path, capsys):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(256)))
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    last = str(tiny_run / "checkpoints" / "last.pt")
    cases = [
        (["--config", str(binary)], "binary.yaml"),
        (["--config", str(empty)], "empty.yaml"),
        (["--config", str(listing)], "list.yaml"),
        (["--set", "optim.lr=-1"], "optim.lr"),
        (["--set", "trainer.max_steps=0"], "trainer.max_steps"),
        (["--set", "model.unet_kernel=4"], "model.unet_kernel"),
        (["--set", "model.bogus=1"], "bogus"),
        (["--set", "data.crop_s=0"], "data.crop_s"),
        (["--resume", last], "holds another run"),
    ]
    for extra, message in cases:
        out = tmp_path / "out"
        if extra[0] == "--resume":
            out = tiny_run.parent / "other"
            (out / "checkpoints").mkdir(parents=True)
        code = run(train.main, ["--config", "tiny", "--out", str(out), "--quiet", *extra])
        assert code == 2, extra
        assert_one_error_line(capsys.readouterr().err, message, extra)
        if extra[0] != "--resume":
            assert not out.exists(), extra


def test_eval_scores_model_and_both_baselines(tiny_run, tmp_path, capsys):
    ckpt = str(tiny_run / "checkpoints" / "last.pt")
    out = tmp_path / "eval"
    tracks = tmp_path / "tracks"
    tracks.mkdir()
    sf.write(tracks / "a.flac", np.stack([synth_song(5, 1.0, 48000)] * 2).T, 48000)
    argv = ["--checkpoint", ckpt, "--synthetic", "1", "--duration", "1.0", "--tracks", str(tracks)]
    assert run(evaluate.main, [*argv, "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["tracks"]["items"] == 1
    scores = report["synthetic"]["scores"]
    assert set(scores) == {"model", "model_loudness_matched", "unprocessed", "loudness_matched"}
    assert scores["loudness_matched"]["lufs_error"] < 0.01


def test_eval_bad_inputs_exit_2_and_leave_no_folder(tiny_run, tmp_path, capsys):
    ckpt = str(tiny_run / "checkpoints" / "last.pt")
    cases = [
        (["--checkpoint", ckpt], "nothing to evaluate"),
        (["--synthetic", "-1"], "--synthetic"),
        (["--synthetic", "1", "--duration", "nan"], "--duration"),
        (["--tracks", str(tmp_path / "none")], "is not a folder"),
    ]
    cases += [(["--synthetic", "1", "--checkpoint", str(p)], m) for p, m in _checkpoints(tmp_path)]
    for extra, message in cases:
        out = tmp_path / "eval"
        assert run(evaluate.main, ["--out", str(out), "--quiet", *extra]) == 2, extra
        assert_one_error_line(capsys.readouterr().err, message, extra)
        assert not out.exists(), extra
