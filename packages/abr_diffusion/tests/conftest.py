"""Shared fixtures: a tiny config and one tiny trained run reused by the CLI tests."""

from __future__ import annotations

import numpy as np
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
    frame = data.conditions.copy()
    frame.insert(0, "patient_id", data.patient_id)
    sig = pd.DataFrame(data.signals, columns=[f"s{i}" for i in range(200)])
    pd.concat([frame, sig], axis=1).to_csv(path, index=False)
    return data


def write_biosig(path, levels, freqs, signals, subject="7", period_us=40.96):
    """A CSV in the BioSigRZ export layout: metadata columns, then 'Data(uv)...' and the
    samples (the real exports' header and column order, synthetic values)."""
    meta = (
        "SGI,Rec No.,Gain,No. Avgs,No. Arts,Time,Chan,Sub. ID,Sub. Ref-1,Sub. Ref-2,Sub. Memo,,"
        "Freq(Hz),Level(dB),Atten-A(dB),Phase(deg),Duration(ms),GateTime(ms),,"
        + ",".join(f"T{i}(ms),V{i}(uv)" for i in range(1, 4))
        + ",,Samp. Per.,No. Samps.,O.S. Time,Data(uv)..."
    )
    n = signals.shape[1]
    lines = [meta + "," + ",".join(str(i) for i in range(n))]
    for k, (level, freq, sig) in enumerate(zip(levels, freqs, signals)):
        fields = [k + 1, k, 20, 512, 0, 1713164793, 1, subject, "lab", "", "", ""]
        fields += [freq, level, 95 - level, 270.0, 5.0, 0.5, ""]
        fields += [-1.0, 0.0] * 3 + ["", period_us, n, 0.0, ""]
        lines.append(",".join(map(str, fields)) + "," + ",".join(f"{v:.6f}" for v in sig))
    path.write_text("\n".join(lines) + "\n")


def mouse_like_export(path, subject, seed=0):
    """A BioSigRZ-layout file of mouse-like responses: a wave I peak whose latency grows as
    the level falls (1.4 ms at 90 dB + 0.01 ms/dB), later waves, noise; click and 8 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(244) * 40.96e-3
    levels, freqs, rows = [], [], []
    for freq in (100.0, 8000.0):
        for level in range(90, -1, -10):
            lat = 1.4 + 0.01 * (90 - level)
            amp = max(level - 20, 0) / 70
            wave = sum(
                a * amp * np.exp(-0.5 * ((t - lat - d) / 0.15) ** 2)
                for a, d in ((3.0, 0.0), (2.0, 0.9), (2.5, 1.9), (1.5, 3.0))
            )
            rows.append(wave + rng.normal(0, 0.15, len(t)))
            levels.append(level)
            freqs.append(freq)
    write_biosig(path, levels, freqs, np.array(rows), subject=subject)


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
def biosig_writer():
    return write_biosig


@pytest.fixture(scope="session")
def mouse_exports(tmp_path_factory):
    """A folder with two mouse-like BioSigRZ exports (subjects 55 and 80), 20 rows each."""
    folder = tmp_path_factory.mktemp("mouse")
    mouse_like_export(folder / "55.csv", "55", seed=1)
    mouse_like_export(folder / "80.csv", "80", seed=2)
    return folder


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
