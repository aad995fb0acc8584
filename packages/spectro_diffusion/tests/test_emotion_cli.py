"""The four CLIs end to end on the tiny config, and their answers to bad input (exit 2)."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spectro_diffusion.emotion.cli import eval as evaluate
from spectro_diffusion.emotion.cli import generate, train
from spectro_diffusion.emotion.cli import train_classifier as classifier


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
    args = ["--checkpoint", ckpt, "--emotion", "anger", "--num-samples", "2", "--num-inference-steps", "4"]
    assert run(generate.main, [*args, "--out", str(out), "--quiet"]) == 0
    for name in ("sheet.png", "anger_0.png", "anger_1.wav", "anger_0.npy", "report.json"):
        assert (out / name).is_file(), name
    audio, sr = sf.read(out / "anger_0.wav")
    assert sr == 22_050 and np.isfinite(audio).all()
    # An existing, non-empty output folder is not overwritten.
    assert run(generate.main, [*args, "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (
        run(
            generate.main, [*args, "--out", str(out), "--overwrite", "--sampler", "ddpm", "--quiet"]
        )
        == 0
    )


def test_classifier_reports_accuracy_and_confusion(trained):
    report = json.loads((trained["clf"] / "report.json").read_text())
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (7, 7)
    assert np.isclose(np.trace(matrix) / matrix.sum(), report["test_accuracy"])
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
    assert "emotion preservation" in printed and "85.4%" in printed
    report = json.loads((out / "report.json").read_text())
    assert 0 <= report["emotion_preservation"] <= 1
    assert np.isfinite(report["frechet_distance"]) and report["frechet_distance"] >= 0
    assert np.isfinite(report["audio_snr_db"])


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
