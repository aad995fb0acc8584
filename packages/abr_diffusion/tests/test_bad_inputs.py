"""The hostile user's table: every bad input of every CLI exits 2 with one clear line and
leaves no output behind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from abr_diffusion.cli.eval import main as eval_main
from abr_diffusion.cli.infer import main as infer_main
from abr_diffusion.cli.train import main as train_main
from abr_diffusion.config import load
from sigshared.errors import ConfigError

MAINS = {"train": train_main, "infer": infer_main, "eval": eval_main}


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_run, table_writer):
    """Bad files of every kind, and a good checkpoint."""
    d = tmp_path_factory.mktemp("bad")
    good = d / "good.csv"
    table_writer(good, 2, 2)
    frame = pd.read_csv(good)
    nan = frame.copy()
    nan["s10"] = np.nan
    nan.to_csv(d / "nan.csv", index=False)
    frame.drop(columns=["fmp"]).to_csv(d / "cols.csv", index=False)
    frame.iloc[:0].to_csv(d / "header.csv", index=False)
    pd.DataFrame(columns=["age", "intensity", "rate", "fmp"]).to_csv(
        d / "header_static.csv", index=False
    )
    (d / "empty.yaml").write_bytes(b"")
    (d / "binary.yaml").write_bytes(bytes(range(256)))
    (d / "list.yaml").write_text("- 1\n- 2\n")
    torch.save({"package": "teb_vae", "kind": "model", "model": {}}, d / "foreign.pt")
    ckpt = (tiny_run / "checkpoints" / "best.pt").read_bytes()
    (d / "corrupt.pt").write_bytes(ckpt[: len(ckpt) // 2])
    (d / "a_file").write_text("not a folder")
    return {"dir": d, "ckpt": str(tiny_run / "checkpoints" / "best.pt")}


def _cases(f):
    d, ckpt = f["dir"], f["ckpt"]
    gen = ["generate", "--checkpoint", ckpt]
    den = ["denoise", "--checkpoint", ckpt, "--input", str(d / "good.csv")]
    return [
        # (cli, argv, text of the error line)
        ("train", ["--data", str(d / "missing.csv")], "data file not found"),
        ("train", ["--set", "model.width=3"], "unknown config key 'model.width'"),
        ("train", ["--config", str(d / "empty.yaml")], "is empty"),
        ("train", ["--config", str(d / "binary.yaml")], "is binary"),
        ("train", ["--config", str(d / "list.yaml")], "must be a mapping"),
        ("train", ["--set", "optim.lr=-1"], "optim.lr must be a finite number > 0, got -1"),
        ("train", ["--set", "model.n_heads=3"], "model.n_heads must be a divisor of model.d_model"),
        ("train", ["--set", "trainer.max_steps=0"], "trainer.max_steps must be an integer >= 1"),
        ("train", ["--set", "diffusion.guidance_scale=.nan"], "diffusion.guidance_scale must be"),
        ("train", ["--set", "diffusion.sampler=euler"], "diffusion.sampler must be one of"),
        ("train", ["--data", str(d / "header.csv")], "no recordings"),
        ("train", ["--data", str(d / "nan.csv")], "NaN"),
        ("train", ["--data", str(d / "cols.csv")], "missing column(s) fmp"),
        ("train", ["--resume", str(d / "foreign.pt")], "is a teb_vae checkpoint, not an abr_"),
        ("train", ["--resume", str(d / "corrupt.pt")], "is not a readable checkpoint"),
        ("train", ["--out", str(d / "a_file" / "run")], "a_file"),
        ("infer", [*gen, "--guidance-scale", "nan"], "--guidance-scale: expected a finite"),
        ("infer", [*gen, "--condition", "intensity=inf"], "condition intensity: non-numeric"),
        ("infer", [*gen, "--condition", "loudness=3"], "NAME one of age, intensity, rate, fmp"),
        ("infer", [*gen, "--set", "model.d_model=8"], "model.d_model cannot be changed"),
        ("infer", [*gen, "--set", "data.sample_rate=8000"], "data.sample_rate cannot be"),
        ("infer", [*gen, "--eta", "-1"], "--eta: expected a finite number >= 0"),
        ("infer", [*gen, "--eta", "0.5", "--sampler", "dpmpp_2m"], "ddim sampler only"),
        ("infer", [*gen, "--num-samples", "0"], "--num-samples: expected an integer >= 1"),
        ("infer", [*gen, "--num-inference-steps", "0"], "must be >= 1 for generate"),
        ("infer", [*gen, "--num-inference-steps", "5000"], "must lie in 0 .. 1000"),
        ("infer", [*gen, "--condition", "age=1,2", "--condition", "rate=1,2,3"], "same count"),
        ("infer", [*gen, "--conditions-csv", str(d / "header_static.csv")], "no rows"),
        ("infer", [*gen, "--conditions-csv", str(d / "cols.csv")], "missing column(s) fmp"),
        ("infer", ["generate", "--checkpoint", str(d / "foreign.pt")], "teb_vae checkpoint"),
        ("infer", ["generate", "--checkpoint", str(d / "corrupt.pt")], "not a readable"),
        ("infer", [*gen, "--out", str(d / "a_file" / "gen")], "a_file"),
        ("infer", [*den, "--t", "1000"], "--t must lie in 0 .. 999"),
        ("infer", ["denoise", "--checkpoint", ckpt, "--input", str(d / "nan.csv")], "no usable"),
        ("infer", ["denoise", "--checkpoint", ckpt, "--input", str(d / "header.csv")], "no rec"),
        ("eval", ["--checkpoint", ckpt, "--max-signals", "0"], "--max-signals: expected an"),
        ("eval", ["--checkpoint", ckpt, "--guidance-scale", "inf"], "--guidance-scale: expected"),
        ("eval", ["--checkpoint", ckpt, "--sampler", "euler"], "invalid choice: 'euler'"),
        ("eval", ["--checkpoint", str(d / "none.pt")], "checkpoint not found"),
        ("eval", ["--checkpoint", str(d / "foreign.pt")], "teb_vae checkpoint"),
        ("eval", ["--checkpoint", ckpt, "--data", str(d / "header.csv")], "no recordings"),
        ("eval", ["--checkpoint", ckpt, "--data", str(d / "none*.csv")], "no data file matches"),
        ("train", ["--data", str(d / "good.csv"), "--set", "data.format=biosig"], "not a BioSig"),
    ]


def test_every_bad_input_exits_2_with_one_line_and_leaves_nothing(files, capsys, run_cli):
    out = files["dir"] / "out"
    for cli, argv, needle in _cases(files):
        capsys.readouterr()
        full = [*argv, "--quiet"] if "--out" in argv else [*argv, "--out", str(out), "--quiet"]
        assert run_cli(MAINS[cli], full) == 2, (cli, argv)
        err = capsys.readouterr().err.strip()
        lines = err.splitlines()
        assert "Traceback" not in err, (cli, argv, err)
        # argparse prints its usage line first; every other error is one line.
        message = lines[-1]
        assert len(lines) == 1 or lines[0].startswith("usage:"), (cli, argv, err)
        assert needle in message, (cli, argv, message)
        assert not out.exists(), (cli, argv, "left an output folder")


def test_divergence_exits_2_naming_the_last_finite_checkpoint(
    tmp_path, capsys, run_cli, tiny_overrides
):
    out = tmp_path / "run"
    argv = ["--quiet", "--out", str(out), *tiny_overrides("optim.lr=1e6", "optim.min_lr=0")]
    assert run_cli(train_main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "training diverged" in err
    named = err.split("the last finite checkpoint is ")[1].split(". ")[0]
    assert named == str((out / "checkpoints" / "last.pt").resolve())
    assert (out / "checkpoints" / "last.pt").is_file()


def test_nothing_half_written_when_writing_fails(files, run_cli, monkeypatch):
    """A failure while the outputs are written (here: the plot) leaves no folder and no file."""
    import abr_diffusion.inference as inference

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(inference, "plot_best_worst", broken)
    out = files["dir"] / "den"
    argv = ["denoise", "--checkpoint", files["ckpt"], "--input", str(files["dir"] / "good.csv")]
    with pytest.raises(OSError):
        infer_main.__wrapped__([*argv, "--out", str(out)])
    assert not out.exists()


@pytest.mark.parametrize(
    "override, key",
    [
        ("model.n_heads=3", "model.n_heads"),
        ("model.conv_kernel=4", "model.conv_kernel"),
        ("model.dropout=1.5", "model.dropout"),
        ("optim.lr=.inf", "optim.lr"),
        ("optim.betas=[0.9]", "optim.betas"),
        ("diffusion.num_inference_steps=2000", "diffusion.num_inference_steps"),
        ("diffusion.cond_drop_prob=1", "diffusion.cond_drop_prob"),
        ("diffusion.beta_schedule=quadratic", "diffusion.beta_schedule"),
        ("diffusion.eta=-1", "diffusion.eta"),
        ("diffusion.prediction_type=epsilon", "diffusion.prediction_type"),
        ("diffusion.loss_weighting=snr", "diffusion.loss_weighting"),
        ("diffusion.stft_hop_sizes=[4]", "diffusion.stft_hop_sizes"),
        ("data.split=[0.5,0.5,0.5]", "data.split"),
        ("data.conditions=[]", "data.conditions"),
        ("data.sample_rate=0", "data.sample_rate"),
        ("data.duration_ms=0.1", "data.duration_ms"),
        ("data.split_by=subject", "data.split_by"),
        ("eval.level_condition=level_db", "eval.level_condition"),
        ("eval.series_wave=II", "eval.series_wave"),
        ("peaks.waves=[{name: I, start_ms: 2, end_ms: 1}]", r"peaks.waves\[I\]"),
        ("eval.max_signals=0", "eval.max_signals"),
    ],
)
def test_impossible_config_values_name_the_key_and_the_range(override, key):
    with pytest.raises(ConfigError, match=rf"^{key} must be .*, got "):
        load("demo", [override])
