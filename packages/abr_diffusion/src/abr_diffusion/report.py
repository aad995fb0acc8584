"""Write an evaluation to a folder: table (printed, CSV, JSON) and plots; and the data set-up
(synthetic or table, patient split, normalisation) that training and evaluation share."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from abr_diffusion.checkpoint import TrainedModel
from abr_diffusion.config import ABRConfig
from abr_diffusion.data import (
    ABRDataset,
    AmplitudeModel,
    ColumnNames,
    StaticScaler,
    load_table,
    patient_split,
)
from abr_diffusion.evaluation import ModeResult, format_table, summary_table
from abr_diffusion.peaks import peak_latencies
from abr_diffusion.plots import (
    plot_best_worst,
    plot_error_curve,
    plot_signals,
    plot_spectrograms,
)
from abr_diffusion.synthetic import ABRData, generate


@dataclass
class Splits:
    """The recordings and their patient-stratified train / val / test row indices."""

    data: ABRData
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def load_data(cfg: ABRConfig) -> Splits:
    """The table at cfg.data.path, or the synthetic set; split by patient with the seed."""
    d = cfg.data
    if d.path:
        names = ColumnNames(d.patient_column, list(d.static_columns), d.signal_column)
        data = load_table(d.path, names, cfg.model.seq_len)
    else:
        data = generate(
            d.synthetic_patients, d.synthetic_recordings, d.synthetic_seed, cfg.model.seq_len
        )
    train, val, test = patient_split(data.patient_id, tuple(d.split), d.split_seed)
    return Splits(data, train, val, test)


def fit_normalisers(splits: Splits) -> tuple[StaticScaler, AmplitudeModel]:
    """Static z-score and amplitude model from the training split only."""
    train = splits.data.subset(splits.train)
    scaler = StaticScaler.fit(train.static)
    ds = ABRDataset(train, scaler)
    return scaler, AmplitudeModel.fit(ds.static.numpy(), ds.mean, ds.std)


def to_uv(z: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(N, T) z-scored -> µV with per-recording mean / std (N,)."""
    return z * std[:, None] + mean[:, None]


def write_evaluation(
    results: dict[str, ModeResult],
    dataset: ABRDataset,
    index: np.ndarray,
    out_dir: Path,
    plots: bool,
) -> dict[str, dict[str, float]]:
    """Print the table; write evaluation.csv / evaluation.json and the per-mode plots."""
    rows = summary_table(results)
    print(format_table(rows))
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "evaluation.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["mode", "metric", "value", "document"])
        writer.writeheader()
        writer.writerows(rows)
    summary = {mode: res.summary() for mode, res in results.items()}
    summary["n_signals"] = {"count": float(len(index))}
    (out_dir / "evaluation.json").write_text(json.dumps(summary, indent=2))
    if plots:
        mean, std = dataset.mean[index], dataset.std[index]
        plot_dir = out_dir / "plots"
        for mode, res in results.items():
            ref = to_uv(res.reference, mean, std)
            # Generated signals take the scale of the recording they are compared with.
            out = to_uv(res.output, mean, std)
            plot_best_worst(
                ref, out, res.per_signal["mse"], mode, plot_dir / f"{mode}_best_worst.png"
            )
            plot_error_curve(ref, out, mode, plot_dir / f"{mode}_error.png")
            plot_spectrograms(ref, out, mode, plot_dir / f"{mode}_spectrogram.png")
    return summary


def intensity_conditions(
    static_raw: np.ndarray, levels: np.ndarray, intensity_col: int = 1
) -> np.ndarray:
    """(L, S) raw static rows for an intensity series: at each level the median of the
    recordings within 5 dB (all recordings if none), with the intensity set to the level."""
    rows = []
    for level in levels:
        near = np.abs(static_raw[:, intensity_col] - level) <= 5
        row = np.median(static_raw[near] if near.any() else static_raw, axis=0)
        row[intensity_col] = level
        rows.append(row)
    return np.array(rows, dtype=np.float32)


@torch.no_grad()
def plot_intensity_series(
    trained: TrainedModel, static_raw: np.ndarray, path: Path, seed: int = 0
) -> dict[str, list[float]]:
    """Generate one signal per intensity (90 .. 20 dB) and plot them with wave markers.

    Returns the levels and the generated wave V latencies (ms): a working model shows the
    latency growing as the intensity falls.
    """
    levels = np.arange(90, 19, -10, dtype=np.float32)
    raw = intensity_conditions(static_raw, levels)
    z = torch.from_numpy(trained.scaler.transform(raw)).to(trained.device)
    gen = torch.Generator().manual_seed(seed)
    # The same starting noise for every level, so only the condition differs.
    x_T = torch.randn((1, 1, trained.config.model.seq_len), generator=gen).repeat(len(levels), 1, 1)
    out = (
        trained.diffusion.generate(
            trained.net, z, x_T=x_T.to(trained.device), seq_len=trained.config.model.seq_len
        )[:, 0]
        .cpu()
        .numpy()
    )
    mean, std = trained.amplitude.predict(z.cpu().numpy())
    uv = to_uv(out, mean, std)
    labels = [
        f"{lv:.0f} dB nHL (age {r[0]:.0f}, rate {r[2]:.0f}/s, FMP {r[3]:.2f})"
        for lv, r in zip(levels, raw)
    ]
    plot_signals(uv, labels, "generated intensity series", path)
    return {"intensity_db": levels.tolist(), "wave_V_ms": peak_latencies(uv)[:, 2].tolist()}
