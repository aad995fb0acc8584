"""Each CLI end to end on a tiny config, resume, and bad input exiting 2 with one clear line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from abr_diffusion.cli.eval import main as eval_main
from abr_diffusion.cli.infer import main as infer_main
from abr_diffusion.cli.train import main as train_main
from sigshared.training import load_checkpoint


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
        "level_series",
        "loss",
    ):
        assert (tiny_run / "plots" / f"{plot}.png").is_file(), plot
    report = json.loads((tiny_run / "report.json").read_text())
    assert report["steps"] == 6
    gen = report["evaluation"]["generation"]
    assert {"mse", "pearson", "snr_db", "dtw", "stft", "latency_error_V_ms"} <= set(gen)
    state = load_checkpoint(tiny_run / "checkpoints" / "last.pt")
    assert {"config", "condition_encoder", "amplitude_model"} <= set(state["extra"])
    assert (state["package"], state["kind"]) == ("abr_diffusion", "generator")


def test_the_first_line_states_the_steps_and_the_time(tmp_path, capsys, run_cli, tiny_overrides):
    code = run_cli(
        train_main,
        ["--quiet", "--out", str(tmp_path / "r"), *tiny_overrides("trainer.max_steps=1")],
    )
    assert code == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("abr-train: training 1 steps (under a minute on a 2-core CPU")


def test_resume_continues_in_place(tiny_run, tmp_path, run_cli):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    code = run_cli(
        train_main,
        [
            "--quiet",
            "--resume",
            str(run / "checkpoints" / "last.pt"),
            "--set",
            "trainer.max_steps=9",
        ],
    )
    assert code == 0
    assert json.loads((run / "report.json").read_text())["steps"] == 9
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 9
    assert (run / "checkpoints" / "best.pt").is_file()


def test_resume_into_another_run_is_refused_and_loses_nothing(tiny_run, tmp_path, run_cli):
    other = tmp_path / "other"
    shutil.copytree(tiny_run, other)
    before = {p: p.read_bytes() for p in other.rglob("*") if p.is_file()}
    argv = ["--quiet", "--resume", str(tiny_run / "checkpoints" / "last.pt"), "--out", str(other)]
    assert run_cli(train_main, [*argv, "--set", "trainer.max_steps=9"]) == 2
    assert {p: p.read_bytes() for p in other.rglob("*") if p.is_file()} == before


def test_train_on_a_table(tmp_path, run_cli, tiny_overrides, table_writer):
    table = tmp_path / "abr.csv"
    table_writer(table)
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
    argv = ["generate", "--checkpoint", ckpt, "--condition", "intensity=30,60,90"]
    argv += ["--condition", "age=40"]
    code = run_cli(
        infer_main, [*argv, "--num-samples", "2", "--num-inference-steps", "3", "--out", str(out)]
    )
    assert code == 0
    frame = pd.read_csv(out / "generated.csv")
    assert len(frame) == 6 and list(frame["intensity"]) == [30, 30, 60, 60, 90, 90]
    assert (frame["age"] == 40).all() and "s199" in frame and "wave_V_ms" in frame
    assert (frame["sample_rate_hz"] == 20_000).all()
    npz = np.load(out / "generated.npz")
    assert npz["signals_uv"].shape == (6, 200)
    assert (out / "plots" / "generated.png").is_file()
    # Same seed, same output; an existing folder is not overwritten without --overwrite.
    again = tmp_path / "gen2"
    run_cli(
        infer_main, [*argv, "--num-samples", "2", "--num-inference-steps", "3", "--out", str(again)]
    )
    assert np.array_equal(np.load(again / "generated.npz")["signals_uv"], npz["signals_uv"])
    assert run_cli(infer_main, [*argv, "--out", str(out)]) == 2


def test_infer_generate_from_a_static_csv(tiny_run, tmp_path, run_cli):
    csv = tmp_path / "static.csv"
    pd.DataFrame({"age": [30, 50], "intensity": [80, 40], "rate": [11, 21], "fmp": [5, 2]}).to_csv(
        csv, index=False
    )
    out = tmp_path / "gen"
    ckpt = str(tiny_run / "checkpoints" / "best.pt")
    argv = ["generate", "--checkpoint", ckpt, "--conditions-csv", str(csv), "--guidance-scale", "2"]
    assert run_cli(infer_main, [*argv, "--num-inference-steps", "2", "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "generated.csv")) == 2


@pytest.mark.parametrize("steps", ["0", "5"])
def test_infer_denoise(tiny_run, tmp_path, steps, run_cli, table_writer):
    table = tmp_path / "rec.csv"
    data = table_writer(table, 2, 2)
    out = tmp_path / "den"
    ckpt = str(tiny_run / "checkpoints" / "best.pt")
    argv = ["denoise", "--checkpoint", ckpt, "--input", str(table), "--t", "100"]
    assert run_cli(infer_main, [*argv, "--num-inference-steps", steps, "--out", str(out)]) == 0
    npz = np.load(out / "denoised.npz")
    assert npz["denoised_uv"].shape == (4, 200)
    assert np.allclose(npz["input_uv"], data.signals, atol=1e-5)
    assert (out / "plots" / "denoised.png").is_file()


def test_eval_prints_and_writes_the_table(tiny_run, tmp_path, capsys, run_cli):
    out = tmp_path / "ev"
    ckpt = str(tiny_run / "checkpoints" / "best.pt")
    argv = [
        "--checkpoint",
        ckpt,
        "--max-signals",
        "3",
        "--num-inference-steps",
        "2",
        "--out",
        str(out),
    ]
    assert run_cli(eval_main, [*argv, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "generation" in printed and "latency_error_V_ms" in printed and "document" in printed
    rows = pd.read_csv(out / "evaluation.csv")
    assert set(rows["mode"]) == {"reconstruction", "generation"}
    summary = json.loads((out / "evaluation.json").read_text())
    assert -1 <= summary["reconstruction"]["pearson"] <= 1
    assert (out / "plots" / "generation_spectrogram.png").is_file()


def test_the_mouse_config_on_biosig_exports(mouse_exports, tmp_path, run_cli, tiny_overrides):
    """Train on BioSigRZ exports (level and stimulus as conditions), generate, denoise and
    evaluate with the same data options."""
    run = tmp_path / "mouse"
    data = str(mouse_exports / "*.csv")
    argv = ["--config", "mouse", "--data", data, "--quiet", "--out", str(run)]
    tiny = tiny_overrides("eval.levels=[80,40]", "trainer.validate_every_epochs=1")
    assert run_cli(train_main, [*argv, *tiny]) == 0
    report = json.loads((run / "report.json").read_text())
    assert report["level_series"]["condition"] == "level_db"
    assert len(report["level_series"]["wave_I_ms"]) == 2
    ckpt = str(run / "checkpoints" / "best.pt")
    gen = tmp_path / "gen"
    cond = ["--condition", "level_db=90,50", "--condition", "stimulus=click"]
    argv = ["generate", "--checkpoint", ckpt, *cond, "--num-inference-steps", "2"]
    assert run_cli(infer_main, [*argv, "--out", str(gen)]) == 0
    frame = pd.read_csv(gen / "generated.csv")
    assert list(frame["level_db"]) == [90, 50] and list(frame["stimulus"]) == ["click"] * 2
    # The mouse config's grid: half the exports' 24414.0625 Hz, 10 ms = 122 samples.
    assert "wave_IV_ms" in frame and "s121" in frame and "s122" not in frame
    assert np.allclose(frame["sample_rate_hz"], 1e6 / 81.92)
    den = tmp_path / "den"
    argv = ["denoise", "--checkpoint", ckpt, "--input", str(mouse_exports / "55.csv")]
    argv += ["--no-added-noise", "--t", "100"]
    assert run_cli(infer_main, [*argv, "--num-inference-steps", "0", "--out", str(den)]) == 0
    assert np.load(den / "denoised.npz")["denoised_uv"].shape == (20, 122)
    ev = tmp_path / "ev"
    argv = ["--checkpoint", ckpt, "--data", data, "--num-inference-steps", "2", "--no-plots"]
    assert run_cli(eval_main, [*argv, "--out", str(ev), "--quiet"]) == 0
    assert "latency_error_I_ms" in json.loads((ev / "evaluation.json").read_text())["generation"]
