"""The four CLIs end to end on the tiny config, and their answers to bad input (exit 2)."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from spectro_diffusion.emotion.cli import eval as evaluate
from spectro_diffusion.emotion.cli import generate, train
from spectro_diffusion.emotion.cli import train_classifier as classifier
from spectro_diffusion.emotion.evaluation import voiced_per_class


def run(main, argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """One tiny diffusion run and one tiny classifier on the tiny synthetic corpus."""
    root = tmp_path_factory.mktemp("emotion_cli")
    common = ["--config", "tiny", "--set", f"data.cache_dir={root / 'cache'}", "--quiet"]
    assert run(train.main, [*common, "--out", str(root / "run"), "--device", "cpu"]) == 0
    assert run(classifier.main, [*common, "--out", str(root / "clf")]) == 0
    return {"root": root, "run": root / "run", "clf": root / "clf"}


def test_train_writes_the_run_folder_and_a_sheet(trained):
    run_dir = trained["run"]
    for name in ("config.yaml", "metrics.csv", "report.json", "plots/samples.png"):
        assert (run_dir / name).is_file(), name
    report = json.loads((run_dir / "report.json").read_text())
    assert report["steps"] == 6
    assert report["samples"]["wavs_written"] == len(report["data"]["classes"]) == 7
    splits = report["data"]["splits"]
    speakers = [set(splits[k]["speakers"]) for k in ("train", "val", "test")]
    assert not (speakers[0] & speakers[1] or speakers[0] & speakers[2] or speakers[1] & speakers[2])


def test_resume_continues_the_step_count(trained):
    ckpt = trained["run"] / "checkpoints" / "last.pt"
    out = trained["root"] / "resumed"
    code = run(
        train.main,
        ["--resume", str(ckpt), "--set", "trainer.max_steps=8", "--out", str(out), "--quiet"],
    )
    assert code == 0
    assert json.loads((out / "report.json").read_text())["steps"] == 8


def test_generate_writes_pngs_wavs_and_a_sheet(trained, capsys):
    out = trained["root"] / "gen"
    ckpt = str(trained["run"] / "checkpoints" / "last.pt")
    args = [
        "--checkpoint",
        ckpt,
        "--emotion",
        "anger",
        "--num-samples",
        "2",
        "--num-inference-steps",
        "4",
    ]
    assert run(generate.main, [*args, "--out", str(out), "--quiet"]) == 0
    for name in ("sheet.png", "anger_0.png", "anger_1.wav", "anger_0.npy", "report.json"):
        assert (out / name).is_file(), name
    audio, sr = sf.read(out / "anger_0.wav")
    assert sr == 22_050 and np.isfinite(audio).all()
    # An existing, non-empty output folder is not overwritten.
    assert run(generate.main, [*args, "--out", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert (
        run(
            generate.main, [*args, "--out", str(out), "--overwrite", "--sampler", "ddpm", "--quiet"]
        )
        == 0
    )


def test_exported_model_is_slim_loads_and_names_its_data(trained, capsys):
    from spectro_diffusion.emotion import ship

    src = trained["run"] / "checkpoints" / "last.pt"
    dst = trained["root"] / "slim.pt"
    assert run(ship.main, [str(src), str(dst), "--description", "Corpus X (licence Y)"]) == 0
    assert run(ship.main, [str(src), str(dst), "--description", "again"]) == 2  # no overwrite
    assert dst.stat().st_size < src.stat().st_size / 2
    capsys.readouterr()
    out = trained["root"] / "gen-slim"
    argv = ["--checkpoint", str(dst), "--emotion", "anger", "--num-samples", "1"]
    assert run(generate.main, [*argv, "--num-inference-steps", "2", "--out", str(out)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("spectro-generate: a model trained on Corpus X (licence Y)")


def test_shipped_model_generates_without_a_checkpoint(tmp_path, capsys):
    out = tmp_path / "gen"
    argv = ["--emotion", "anger", "--num-samples", "1", "--num-inference-steps", "2"]
    assert run(generate.main, [*argv, "--griffin-lim-iters", "2", "--out", str(out)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("spectro-generate: the shipped model trained on EmoDB")
    audio, sr = sf.read(out / "anger_0.wav")
    assert sr == 16_000 and len(audio) == 63 * 256 and np.isfinite(audio).all()


def test_classifier_reports_accuracy_and_confusion(trained):
    report = json.loads((trained["clf"] / "report.json").read_text())
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (7, 7)
    assert np.isclose(np.trace(matrix) / matrix.sum(), report["test_accuracy"])
    recalls = np.diag(matrix)[matrix.sum(1) > 0] / matrix.sum(1)[matrix.sum(1) > 0]
    assert np.isclose(recalls.mean(), report["test_unweighted_accuracy"])
    assert (trained["clf"] / "plots" / "confusion.png").is_file()


def test_eval_prints_the_table(trained, capsys):
    out = trained["root"] / "eval"
    code = run(
        evaluate.main,
        [
            "--checkpoint",
            str(trained["run"] / "checkpoints" / "last.pt"),
            "--classifier",
            str(trained["clf"] / "checkpoints" / "last.pt"),
            "--num-per-class",
            "2",
            "--num-inference-steps",
            "3",
            "--audio-clips",
            "2",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "emotion preservation (functional SVM)" in printed
    assert "real validation vs real test speakers" in printed and "(CNN classifier)" in printed
    report = json.loads((out / "report.json").read_text())
    judge, cnn = report["judge"], report["cnn"]
    for scores in (judge, cnn):
        assert 0 <= scores["emotion_preservation"] <= 1
        assert set(scores["emotion_preservation_per_class"]) == set(report["classes"])
        assert np.isfinite(scores["frechet_distance"]) and scores["frechet_distance"] >= 0
        assert np.isfinite(scores["frechet_distance_real_vs_real"])
    assert np.isfinite(report["audio_snr_db"])
    for key in ("generated", "real", "real_inverted"):
        assert 0 <= report[f"voiced_fraction_{key}"] <= 1
    per_class = report["voiced_fraction_per_class"]
    assert list(per_class) == report["classes"]
    # every emotion has the same number of generated clips: the class means average to the mean
    generated = [v["generated"] for v in per_class.values()]
    assert np.mean(generated) == pytest.approx(report["voiced_fraction_generated"])
    assert "voiced, " + report["classes"][0] in printed
    for name in ("generated.png", "pitch.png", "real_inverted_0.wav"):
        assert (out / name).is_file()


def test_unknown_emotion_exits_2(trained, capsys):
    ckpt = str(trained["run"] / "checkpoints" / "last.pt")
    code = run(
        generate.main,
        ["--checkpoint", ckpt, "--emotion", "joy", "--out", str(trained["root"] / "joy")],
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown emotion 'joy'" in err and "anger" in err


def test_empty_folder_exits_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = run(
        train.main,
        ["--config", "tiny", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "run")],
    )
    assert code == 2
    assert "no usable emodb WAV files" in capsys.readouterr().err


def test_unreadable_wav_exits_2_naming_the_file(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    sr = 22_050
    tone = 0.3 * np.sin(2 * np.pi * 200 * np.arange(sr // 2) / sr)
    for spk in ("03", "08", "09"):
        sf.write(data / f"{spk}a01Wa.wav", tone, sr)
    (data / "10a01Ta.wav").write_bytes(b"RIFF but not really")
    code = run(
        train.main,
        [
            "--config",
            "tiny",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "run"),
            "--set",
            f"data.cache_dir={tmp_path / 'cache'}",
        ],
    )
    assert code == 2
    assert "10a01Ta.wav" in capsys.readouterr().err


def test_bad_config_key_exits_2(tmp_path, capsys):
    code = run(
        train.main, ["--config", "tiny", "--set", "model.widht=3", "--out", str(tmp_path / "r")]
    )
    assert code == 2
    assert "widht" in capsys.readouterr().err


def _write_inputs(root: Path) -> dict[str, Path]:
    """Bad files a user may hand over: empty / binary configs, corrupt and foreign checkpoints."""
    root.mkdir(exist_ok=True)
    files = {
        "empty_yaml": root / "empty.yaml",
        "binary_yaml": root / "binary.yaml",
        "list_yaml": root / "list.yaml",
        "corrupt_pt": root / "corrupt.pt",
        "foreign_pt": root / "foreign.pt",
        "a_file": root / "a_file",
    }
    files["empty_yaml"].write_text("")
    files["binary_yaml"].write_bytes(b"\x00\x01\x02PK\x03\x04")
    files["list_yaml"].write_text("- 1\n- 2\n")
    files["corrupt_pt"].write_bytes(b"not a torch file at all")
    torch.save({"package": "abr_diffusion", "kind": "generator", "model": {}}, files["foreign_pt"])
    files["a_file"].write_text("x")
    return files


GEN, CLF = "{run}/checkpoints/last.pt", "{clf}/checkpoints/last.pt"
# (command, arguments, a fragment of the last stderr line); "{out}" is the output that must
# not exist afterwards. Every case must exit 2 with one line and no traceback.
BAD_INPUTS = [
    (
        "generate",
        ["--checkpoint", GEN, "--emotion", "anger", "--guidance-scale", "nan"],
        "--guidance-scale",
    ),
    (
        "generate",
        ["--checkpoint", GEN, "--emotion", "anger", "--guidance-scale", "inf"],
        "--guidance-scale",
    ),
    ("generate", ["--checkpoint", GEN, "--emotion", "anger", "--eta", "2"], "--eta"),
    (
        "generate",
        ["--checkpoint", GEN, "--emotion", "anger", "--num-samples", "0"],
        "--num-samples",
    ),
    (
        "generate",
        ["--checkpoint", GEN, "--emotion", "anger", "--num-inference-steps", "-3"],
        "--num-inference-steps",
    ),
    (
        "generate",
        ["--checkpoint", CLF, "--emotion", "anger"],
        "an emotion-classifier checkpoint, not an emotion-generator one",
    ),
    (
        "generate",
        ["--checkpoint", "{corrupt_pt}", "--emotion", "anger"],
        "is not a readable checkpoint",
    ),
    (
        "generate",
        ["--checkpoint", "{foreign_pt}", "--emotion", "anger"],
        "an abr_diffusion checkpoint, not a spectro_diffusion one",
    ),
    ("generate", ["--checkpoint", GEN, "--emotion", "joy"], "unknown emotion 'joy'"),
    (
        "generate",
        ["--checkpoint", GEN, "--emotion", "anger", "--out", "{a_file}/sub"],
        "cannot create the output folder",
    ),
    ("train", ["--config", "{empty_yaml}"], "is empty"),
    ("train", ["--config", "{binary_yaml}"], "is binary"),
    ("train", ["--config", "{list_yaml}"], "must be a mapping"),
    ("train", ["--config", "tiny", "--set", "optim.lr=-1"], "optim.lr must be > 0"),
    ("train", ["--config", "tiny", "--set", "trainer.max_steps=0"], "trainer.max_steps"),
    ("train", ["--config", "tiny", "--set", "model.heads=3"], "model.heads must be a divisor"),
    ("train", ["--config", "tiny", "--set", "data.val_fraction=.nan"], "data.val_fraction"),
    ("train", ["--config", "tiny", "--set", "sample.sampler=euler"], "sample.sampler"),
    ("train", ["--resume", CLF], "an emotion-classifier checkpoint, not an emotion-generator"),
    ("train", ["--resume", GEN, "--out", "{clf}"], "holds another run"),
    (
        "train-classifier",
        ["--config", "tiny", "--set", "classifier.lr=-1e-3"],
        "classifier.lr must be > 0",
    ),
    (
        "train-classifier",
        ["--config", "tiny", "--set", "classifier.max_steps=0"],
        "classifier.max_steps must be >= 1",
    ),
    (
        "eval",
        ["--checkpoint", GEN, "--classifier", GEN],
        "an emotion-generator checkpoint, not an emotion-classifier one",
    ),
    (
        "eval",
        ["--checkpoint", GEN, "--classifier", CLF, "--guidance-scale", "nan"],
        "--guidance-scale",
    ),
    ("eval", ["--checkpoint", GEN, "--classifier", CLF, "--t-recon", "100000"], "--t-recon"),
]
MAINS = {
    "generate": generate.main,
    "train": train.main,
    "train-classifier": classifier.main,
    "eval": evaluate.main,
}


@pytest.mark.parametrize(("command", "argv", "message"), BAD_INPUTS)
def test_bad_input_exits_2_with_one_line_and_leaves_nothing(
    trained, tmp_path, capsys, command, argv, message
):
    names = {k: str(v) for k, v in _write_inputs(tmp_path / "inputs").items()}
    names |= {"run": str(trained["run"]), "clf": str(trained["clf"])}
    argv = [a.format(**names) for a in argv]
    out = tmp_path / "out"
    if "--out" not in argv:
        argv += ["--out", str(out)]
    before = sorted(p.name for p in trained["clf"].rglob("*"))
    capsys.readouterr()
    assert (
        run(
            MAINS[command],
            [*argv, "--quiet", "--set", f"data.cache_dir={tmp_path}"]
            if command.startswith("train")
            else [*argv, "--quiet"],
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert message in last, err
    assert not out.exists()
    assert not (tmp_path / "inputs" / "a_file" / "sub").exists()
    assert sorted(p.name for p in trained["clf"].rglob("*")) == before


def test_voiced_per_class_groups_clips_by_their_emotion():
    voiced = {"generated": np.array([1.0, 0.0, 0.5, 0.25]), "real": np.array([0.2, 0.4])}
    labels = {"generated": np.array([0, 0, 1, 1]), "real": np.array([1, 1])}
    per = voiced_per_class(voiced, labels, ["anger", "sadness", "fear"])
    assert per["anger"] == {"generated": 0.5, "real": None}
    assert per["sadness"] == {"generated": pytest.approx(0.375), "real": pytest.approx(0.3)}
    assert per["fear"] == {"generated": None, "real": None}
