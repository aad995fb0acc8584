"""Each CLI end to end on a tiny config, resume, and bad input exiting 2 with one clear line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from abr_diffusion.evaluate import main as eval_main
from abr_diffusion.infer import main as infer_main
from abr_diffusion.synthetic import generate
from abr_diffusion.train import DEMO_BANNER
from abr_diffusion.train import main as train_main
from sigshared.training import load_checkpoint


def _write_table(path, n_patients=6, recordings=3):
    data = generate(n_patients, recordings, seed=5)
    frame = pd.DataFrame(data.static, columns=["age", "intensity", "rate", "fmp"])
    frame.insert(0, "patient_id", data.patient_id)
    sig = pd.DataFrame(data.signals, columns=[f"s{i}" for i in range(200)])
    pd.concat([frame, sig], axis=1).to_csv(path, index=False)
    return data


def test_train_writes_the_run_folder(tiny_run, capsys):
    for name in ("config.yaml", "metrics.csv", "report.json", "evaluation.csv", "evaluation.json"):
        assert (tiny_run / name).is_file(), name
    assert (tiny_run / "checkpoints" / "last.pt").is_file()
    assert (tiny_run / "checkpoints" / "best.pt").is_file()
    for plot in (
        "reconstruction_best_worst",
        "generation_best_worst",
        "generation_error",
        "reconstruction_spectrogram",
        "intensity_series",
        "loss",
    ):
        assert (tiny_run / "plots" / f"{plot}.png").is_file(), plot
    report = json.loads((tiny_run / "report.json").read_text())
    assert report["steps"] == 6
    gen = report["evaluation"]["generation"]
    assert {"mse", "pearson", "snr_db", "dtw", "stft", "latency_error_V_ms"} <= set(gen)
    extra = load_checkpoint(tiny_run / "checkpoints" / "last.pt")["extra"]
    assert {"config", "static_scaler", "amplitude_model"} <= set(extra)


def test_demo_banner_is_the_first_line(tmp_path, capsys, run_cli, tiny_overrides):
    code = run_cli(
        train_main,
        ["--quiet", "--out", str(tmp_path / "r"), *tiny_overrides("trainer.max_steps=1")],
    )
    assert code == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == DEMO_BANNER and "--config default" in first


def test_resume_continues_from_the_checkpoint(tiny_run, tmp_path, run_cli):
    code = run_cli(
        train_main,
        [
            "--quiet",
            "--resume",
            str(tiny_run / "checkpoints" / "last.pt"),
            "--out",
            str(tmp_path / "resumed"),
            "--set",
            "trainer.max_steps=9",
        ],
    )
    assert code == 0
    report = json.loads((tmp_path / "resumed" / "report.json").read_text())
    assert report["steps"] == 9
    state = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")
    assert state["step"] == 9


def test_train_on_a_table(tmp_path, run_cli, tiny_overrides):
    table = tmp_path / "abr.csv"
    _write_table(table)
    out = tmp_path / "run"
    code = run_cli(
        train_main,
        [
            "--quiet",
            "--data",
            str(table),
            "--out",
            str(out),
            *tiny_overrides("trainer.max_steps=2"),
        ],
    )
    assert code == 0
    assert json.loads((out / "report.json").read_text())["data"] == str(table)


def test_infer_generate_writes_uv_signals(tiny_run, tmp_path, run_cli):
    out = tmp_path / "gen"
    ckpt = str(tiny_run / "checkpoints" / "best.pt")
    argv = ["generate", "--checkpoint", ckpt, "--intensity", "30", "60", "90", "--age", "40"]
    code = run_cli(infer_main, [*argv, "--num-samples", "2", "--steps", "3", "--out", str(out)])
    assert code == 0
    frame = pd.read_csv(out / "generated.csv")
    assert len(frame) == 6 and list(frame["intensity"]) == [30, 30, 60, 60, 90, 90]
    assert (frame["age"] == 40).all() and "s199" in frame and "wave_V_ms" in frame
    npz = np.load(out / "generated.npz")
    assert npz["signals_uv"].shape == (6, 200)
    assert (out / "plots" / "generated.png").is_file()
    # Same seed, same output; an existing folder is not overwritten without --overwrite.
    again = tmp_path / "gen2"
    run_cli(infer_main, [*argv, "--num-samples", "2", "--steps", "3", "--out", str(again)])
    assert np.array_equal(np.load(again / "generated.npz")["signals_uv"], npz["signals_uv"])
    assert run_cli(infer_main, [*argv, "--out", str(out)]) == 2


def test_infer_generate_from_a_static_csv(tiny_run, tmp_path, run_cli):
    csv = tmp_path / "static.csv"
    pd.DataFrame({"age": [30, 50], "intensity": [80, 40], "rate": [11, 21], "fmp": [5, 2]}).to_csv(
        csv, index=False
    )
    out = tmp_path / "gen"
    ckpt = str(tiny_run / "checkpoints" / "best.pt")
    argv = ["generate", "--checkpoint", ckpt, "--static-csv", str(csv), "--guidance", "2"]
    assert run_cli(infer_main, [*argv, "--steps", "2", "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "generated.csv")) == 2


@pytest.mark.parametrize("steps", ["0", "5"])
def test_infer_denoise(tiny_run, tmp_path, steps, run_cli):
    table = tmp_path / "rec.csv"
    data = _write_table(table, 2, 2)
    out = tmp_path / "den"
    ckpt = str(tiny_run / "checkpoints" / "best.pt")
    argv = ["denoise", "--checkpoint", ckpt, "--input", str(table), "--t", "100"]
    assert run_cli(infer_main, [*argv, "--steps", steps, "--out", str(out)]) == 0
    npz = np.load(out / "denoised.npz")
    assert npz["denoised_uv"].shape == (4, 200)
    assert np.allclose(npz["input_uv"], data.signals, atol=1e-5)
    assert (out / "plots" / "denoised.png").is_file()


def test_eval_prints_and_writes_the_table(tiny_run, tmp_path, capsys, run_cli):
    out = tmp_path / "ev"
    ckpt = str(tiny_run / "checkpoints" / "best.pt")
    argv = ["--checkpoint", ckpt, "--max-signals", "3", "--steps", "2", "--out", str(out)]
    assert run_cli(eval_main, [*argv, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "generation" in printed and "latency_error_V_ms" in printed and "document" in printed
    rows = pd.read_csv(out / "evaluation.csv")
    assert set(rows["mode"]) == {"reconstruction", "generation"}
    summary = json.loads((out / "evaluation.json").read_text())
    assert -1 <= summary["reconstruction"]["pearson"] <= 1
    assert (out / "plots" / "generation_spectrogram.png").is_file()


def test_bad_inputs_exit_2_with_one_clear_line(tiny_run, tmp_path, capsys, run_cli):
    ckpt = str(tiny_run / "checkpoints" / "best.pt")
    nan_table = tmp_path / "nan.csv"
    _write_table(nan_table, 2, 1)
    frame = pd.read_csv(nan_table)
    frame["s10"] = np.nan
    frame.to_csv(nan_table, index=False)
    cols_table = tmp_path / "cols.csv"
    pd.read_csv(tmp_path / "nan.csv").drop(columns=["fmp"]).to_csv(cols_table, index=False)
    cases = [
        (train_main, ["--data", str(tmp_path / "missing.csv")], "data file not found"),
        (train_main, ["--set", "model.width=3"], "unknown config key 'model.width'"),
        (train_main, ["--data", str(nan_table), "--out", str(tmp_path / "x")], "NaN"),
        (train_main, ["--data", str(cols_table), "--out", str(tmp_path / "y")], "fmp"),
        (eval_main, ["--checkpoint", str(tmp_path / "none.pt")], "checkpoint not found"),
        (
            infer_main,
            ["generate", "--checkpoint", ckpt, "--age", "1", "2", "--rate", "1", "2", "3"],
            "same count",
        ),
        (
            infer_main,
            [
                "denoise",
                "--checkpoint",
                ckpt,
                "--input",
                str(nan_table),
                "--out",
                str(tmp_path / "z"),
            ],
            "no usable rows",
        ),
    ]
    for main, argv, needle in cases:
        capsys.readouterr()
        assert run_cli(main, argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert needle in err, (argv, err)
        assert len(err.splitlines()) == 1 and "Traceback" not in err
