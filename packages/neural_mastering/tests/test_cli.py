"""The three CLIs end to end on the tiny config, and their answers to bad input."""

import json

import numpy as np
import pytest
import soundfile as sf

from neural_mastering.checkpoint import default_checkpoint
from neural_mastering.cli import eval as evaluate
from neural_mastering.cli import infer, train
from neural_mastering.metrics import true_peak
from neural_mastering.synthetic import synth_song


def run(main, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    assert run(train.main, ["--config", "tiny", "--out", str(out), "--quiet"]) == 0
    return out


def test_train_writes_the_run_folder(tiny_run):
    for name in ("config.yaml", "metrics.csv", "checkpoints/last.pt", "report.json"):
        assert (tiny_run / name).is_file(), name
    report = json.loads((tiny_run / "report.json").read_text())
    assert report["steps"] == 2
    assert set(report["validation_scores"]) == {
        "model",
        "model_loudness_matched",
        "unprocessed",
        "loudness_matched",
    }


def test_train_rejects_an_unknown_config_key(tmp_path, capsys):
    code = run(
        train.main, ["--config", "tiny", "--set", "model.bogus=1", "--out", str(tmp_path / "x")]
    )
    assert code == 2
    assert "bogus" in capsys.readouterr().err


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
    assert true_peak(y.T) <= -1.0 + 1e-3
    report = json.loads(out.with_suffix(".json").read_text())
    assert len(report["eq_bands"]) == 3 and report["eq_bands"][0]["kind"] == "low_shelf"
    assert report["after"]["true_peak_dbtp"] <= -1.0
    capped = report["after"]["lufs"] < report["target_lufs"] - 0.1
    assert report["ceiling_limited"] is capped
    assert ("ceiling capped the gain" in capsys.readouterr().out) is capped
    assert out.with_suffix(".png").stat().st_size > 1000
    before = out.read_bytes()
    assert run(infer.main, [str(stereo_wav), "-o", str(out), "--checkpoint", ckpt]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_infer_with_the_shipped_checkpoint_writes_song_mastered(stereo_wav):
    ckpt = default_checkpoint()
    assert ckpt.is_file(), "the package must ship checkpoints/default.pt"
    assert ckpt.stat().st_size < 10 * 2**20
    assert run(infer.main, [str(stereo_wav), "--quiet", "--ceiling", "-2"]) == 0
    y, _ = sf.read(stereo_wav.with_name("song_mastered.wav"), always_2d=True)
    assert np.isfinite(y).all() and true_peak(y.T) <= -2.0 + 1e-3


def test_infer_phase_mismatch_is_a_user_error(tiny_run, stereo_wav, capsys):
    ckpt = str(tiny_run / "checkpoints" / "last.pt")
    assert run(infer.main, [str(stereo_wav), "--checkpoint", ckpt, "--phase", "1C"]) == 2
    assert "phase 1B" in capsys.readouterr().err


def _bad_files(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros((0, 2), np.float32), 44100)
    eight = tmp_path / "eight.wav"
    sf.write(eight, np.zeros((4410, 8), np.float32), 44100)
    return {
        text: "not readable audio",
        empty: "not readable audio",
        zero: "0 samples",
        eight: "8 channels",
    }


def test_bad_inputs_exit_2_and_write_nothing(tmp_path, capsys):
    for path, message in _bad_files(tmp_path).items():
        assert run(infer.main, [str(path), "--report"]) == 2, path
        assert message in capsys.readouterr().err
        stem = path.with_name(f"{path.stem}_mastered")
        assert not any(stem.with_suffix(s).exists() for s in (".wav", ".json", ".png"))
    assert run(infer.main, [str(tmp_path / "missing.wav")]) == 2
    song = tmp_path / "fine.wav"
    sf.write(song, np.zeros((4410, 1), np.float32), 44100)
    assert run(infer.main, [str(song), "--latent-s", "-1"]) == 2
    assert "--latent-s must be >= 0" in capsys.readouterr().err


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
    assert run(evaluate.main, ["--checkpoint", ckpt, "--out", str(tmp_path / "e2")]) == 2
