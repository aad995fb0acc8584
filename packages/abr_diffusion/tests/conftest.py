"""Shared fixtures: a tiny config and one tiny trained run reused by the CLI tests."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from abr_diffusion.cli.train import main as train_main
from abr_diffusion.synthetic import generate

TINY = [
    "model.d_model=16",
    "model.n_layers=1",
    "model.n_heads=2",
    "model.film_hidden=16",
    "model.t_embed_dim=16",
    "data.synthetic_patients=12",
    "data.synthetic_recordings=4",
    "trainer.batch_size=8",
    "trainer.max_steps=6",
    "trainer.max_epochs=3",
    "trainer.validate_every_epochs=1",
    "eval.max_signals=4",
    "diffusion.num_inference_steps=4",
]


def write_table(path, n_patients=6, recordings=3):
    """A CSV recordings table (patient_id, age, intensity, rate, fmp, s0 .. s199)."""
    data = generate(n_patients, recordings, seed=5)
    frame = pd.DataFrame(data.static, columns=["age", "intensity", "rate", "fmp"])
    frame.insert(0, "patient_id", data.patient_id)
    sig = pd.DataFrame(data.signals, columns=[f"s{i}" for i in range(200)])
    pd.concat([frame, sig], axis=1).to_csv(path, index=False)
    return data


def _tiny_overrides(*extra: str) -> list[str]:
    """--set arguments for a model and data set small enough for a test."""
    return [a for kv in (*TINY, *extra) for a in ("--set", kv)]


def _run_cli(main, argv: list[str]) -> int:
    """Run a @cli_entry main in-process and return its exit code."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


@pytest.fixture(scope="session")
def tiny_overrides():
    return _tiny_overrides


@pytest.fixture(scope="session")
def table_writer():
    return write_table


@pytest.fixture(scope="session")
def run_cli():
    return _run_cli


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished tiny abr-train run folder (trained once per test session)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("tiny_run")
    code = _run_cli(train_main, ["--quiet", "--out", str(out), "--overwrite", *_tiny_overrides()])
    assert code == 0
    return out
