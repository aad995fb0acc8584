"""The design document's two evaluation modes on held-out recordings.

reconstruction: each reference x0 (per-recording z-scored) is noised to a random step
    t ~ U{0..999} and the model's one-step estimate x0_hat is compared with x0.
generation: the checkpoint's sampler (DDIM, 60 steps, eta 0 by default) from noise with the
    reference's static parameters; the sample is compared with the reference recording.

Per signal: MSE, L1, Pearson, SNR (dB), multi-resolution STFT distance and DTW, on the
z-scored signals (the document's scale), and the wave I / III / V peak-latency error in ms
against the peaks found the same way in the reference (and, for synthetic data, against the
true latencies too). Summaries are means over signals. `write_evaluation` prints and writes
the table and plots; `level_series` generates one response per stimulus level.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from abr_diffusion.checkpoint import TrainedModel
from abr_diffusion.config import ABRConfig, DiffusionConfig
from abr_diffusion.data import ABRDataset, to_uv
from abr_diffusion.peaks import peak_latencies
from abr_diffusion.plots import (
    plot_best_worst,
    plot_error_curve,
    plot_signals,
    plot_spectrograms,
)
from sigshared import metrics
from sigshared.losses import MultiResolutionSTFTLoss

METRICS = ("mse", "l1", "pearson", "snr_db", "stft", "dtw")
# The design document's table (its clinical data, not ours): reference points only.
DOCUMENT_TABLE = {
    "reconstruction": {"mse": 0.0056, "pearson": 0.919, "dtw": 5.42, "snr_db": 12.1},
    "generation": {"mse": 0.052, "pearson": 0.349, "dtw": 18.4, "snr_db": -0.03},
}


@dataclass
class SamplingOptions:
    """Sampler settings that override the checkpoint's config; None keeps the config's."""

    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    sampler: str | None = None
    eta: float | None = None

    def kwargs(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def resolved(self, cfg: DiffusionConfig) -> dict[str, object]:
        """The settings in effect (the config's where not overridden)."""
        return {k: getattr(cfg, k) if v is None else v for k, v in asdict(self).items()}


@dataclass
class ModeResult:
    """Per-signal results of one mode; arrays are (N, T) z-scored or (N,) / (N, W) with one
    latency column per wave of `waves`."""

    reference: np.ndarray
    output: np.ndarray
    per_signal: dict[str, np.ndarray]
    waves: list[str]
    latency_ref: np.ndarray
    latency_out: np.ndarray
    latency_true: pd.DataFrame | None = None
    extra: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        out = {k: float(np.mean(v)) for k, v in self.per_signal.items()}
        err = np.abs(self.latency_out - self.latency_ref)
        for j, wave in enumerate(self.waves):
            out[f"latency_error_{wave}_ms"] = float(err[:, j].mean())
        if self.latency_true is not None:
            for j, wave in enumerate(self.waves):
                if wave in self.latency_true:
                    true = self.latency_true[wave].to_numpy()
                    out[f"latency_error_true_{wave}_ms"] = float(
                        np.abs(self.latency_out[:, j] - true).mean()
                    )
        out.update(self.extra)
        return out


def signal_metrics(reference: torch.Tensor, output: torch.Tensor) -> dict[str, np.ndarray]:
    """(N, T) reference and output -> per-signal metric arrays (N,)."""
    stft = MultiResolutionSTFTLoss(fft_sizes=(16, 32, 64), hop_sizes=(4, 8, 16))
    per_stft = torch.stack([stft(o[None], r[None]) for o, r in zip(output, reference)])
    values = {
        "mse": metrics.mse(output, reference),
        "l1": metrics.l1(output, reference),
        "pearson": metrics.pearson(output, reference),
        "snr_db": metrics.snr_db(reference, output),
        "stft": per_stft,
        "dtw": metrics.dtw(output, reference),
    }
    return {k: v.double().cpu().numpy() for k, v in values.items()}


def _mode_result(
    reference: torch.Tensor,
    output: torch.Tensor,
    cfg: ABRConfig,
    latency_true: pd.DataFrame | None,
) -> ModeResult:
    ref, out = reference.cpu().numpy(), output.cpu().numpy()
    windows, rate = cfg.peaks.windows, cfg.data.sample_rate
    return ModeResult(
        reference=ref,
        output=out,
        per_signal=signal_metrics(reference.cpu(), output.cpu()),
        waves=[w for w, _, _ in windows],
        latency_ref=peak_latencies(ref, rate, windows),
        latency_out=peak_latencies(out, rate, windows),
        latency_true=latency_true,
    )


@torch.no_grad()
def evaluate(
    trained: TrainedModel,
    dataset: ABRDataset,
    index: np.ndarray,
    batch_size: int = 256,
    seed: int = 42,
    sampling: SamplingOptions | None = None,
    progress: bool = False,
) -> dict[str, ModeResult]:
    """Both modes on the recordings `index` of `dataset`; seeded. `sampling` overrides the
    checkpoint's sampler settings for the generation mode."""
    sampling = sampling or SamplingOptions()
    device = trained.device
    gen = torch.Generator().manual_seed(seed)
    x0_all = dataset.x[index]
    static_all = dataset.static[index]
    num_t = trained.config.diffusion.num_train_timesteps
    t_all = torch.randint(0, num_t, (len(index),), generator=gen)
    noise_all = torch.randn(x0_all.shape, generator=gen)
    recon, generated = [], []
    starts = range(0, len(index), batch_size)
    for s in tqdm(starts, disable=not progress, desc="evaluating"):
        x0 = x0_all[s : s + batch_size].to(device)
        static = static_all[s : s + batch_size].to(device)
        t = t_all[s : s + batch_size].to(device)
        noise = noise_all[s : s + batch_size].to(device)
        recon.append(trained.reconstruct(x0, static, t, noise).cpu())
        x_T = torch.randn(x0.shape, generator=gen)
        generated.append(trained.generate(static, x_T, **sampling.kwargs()).cpu())
    ref = x0_all[:, 0]
    lat = dataset.data.latencies
    lat_true = None if lat is None else lat.iloc[index].reset_index(drop=True)
    cfg = trained.config
    results = {
        "reconstruction": _mode_result(ref, torch.cat(recon)[:, 0], cfg, lat_true),
        "generation": _mode_result(ref, torch.cat(generated)[:, 0], cfg, lat_true),
    }
    results["reconstruction"].extra["mean_t"] = float(t_all.float().mean())
    return results


def summary_table(results: dict[str, ModeResult]) -> list[dict[str, object]]:
    """Rows {mode, metric, value, document} for CSV / printing."""
    rows = []
    for mode, res in results.items():
        for metric, value in res.summary().items():
            rows.append(
                {
                    "mode": mode,
                    "metric": metric,
                    "value": value,
                    "document": DOCUMENT_TABLE[mode].get(metric, ""),
                }
            )
    return rows


def format_table(rows: list[dict[str, object]]) -> str:
    """A plain-text table of `summary_table` rows."""
    lines = [f"{'mode':<15} {'metric':<26} {'ours':>10} {'document':>10}"]
    for r in rows:
        doc = f"{r['document']:>10.4g}" if r["document"] != "" else f"{'':>10}"
        lines.append(f"{r['mode']:<15} {r['metric']:<26} {r['value']:>10.4g} {doc}")
    return "\n".join(lines)


def write_evaluation(
    results: dict[str, ModeResult],
    dataset: ABRDataset,
    index: np.ndarray,
    out_dir: Path,
    plots: bool,
) -> dict[str, dict[str, float]]:
    """Print the table; write evaluation.csv / evaluation.json and the per-mode plots into
    the existing folder `out_dir`."""
    rows = summary_table(results)
    print(format_table(rows))
    with open(out_dir / "evaluation.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["mode", "metric", "value", "document"])
        writer.writeheader()
        writer.writerows(rows)
    summary = {mode: res.summary() for mode, res in results.items()}
    summary["n_signals"] = {"count": float(len(index))}
    (out_dir / "evaluation.json").write_text(json.dumps(summary, indent=2))
    if plots:
        mean, std = dataset.mean[index], dataset.std[index]
        rate = dataset.data.sample_rate
        plot_dir = out_dir / "plots"
        for mode, res in results.items():
            ref = to_uv(res.reference, mean, std)
            # Generated signals take the scale of the recording they are compared with.
            out = to_uv(res.output, mean, std)
            plot_best_worst(
                ref, out, rate, res.per_signal["mse"], mode, plot_dir / f"{mode}_best_worst.png"
            )
            plot_error_curve(ref, out, rate, mode, plot_dir / f"{mode}_error.png")
            plot_spectrograms(ref, out, rate, mode, plot_dir / f"{mode}_spectrogram.png")
    return summary


def series_conditions(train: pd.DataFrame, cfg: ABRConfig) -> pd.DataFrame:
    """One row of raw conditions per level of `eval.levels`: the level condition set to the
    level, `eval.series_conditions` as given, every other condition at the training rows'
    median (numeric) or most frequent value (categorical) within 5 units of the level (all
    rows if none)."""
    e = cfg.eval
    specs = {c.column: c for c in cfg.data.conditions}
    level = pd.to_numeric(train[e.level_condition], errors="coerce").to_numpy(np.float64)
    rows = []
    for value in e.levels:
        near = np.abs(level - value) <= 5
        pool = train[near] if near.any() else train
        row: dict[str, object] = {}
        for column, spec in specs.items():
            if column == e.level_condition:
                row[column] = float(value)
            elif column in e.series_conditions:
                row[column] = e.series_conditions[column]
            elif spec.categorical:
                row[column] = pool[column].astype(str).mode().iloc[0]
            else:
                row[column] = float(np.median(pd.to_numeric(pool[column])))
        rows.append(row)
    return pd.DataFrame(rows)


@torch.no_grad()
def level_series(
    trained: TrainedModel, train: pd.DataFrame, path: Path | None, seed: int = 0
) -> dict[str, list]:
    """Generate one signal per level of `eval.levels` from the same starting noise, plot them
    with wave markers at `path` (when given) and return the levels and the generated latency
    of `eval.series_wave` (ms): a working model shows it growing as the level falls."""
    cfg = trained.config
    conditions = series_conditions(train, cfg)
    z = torch.from_numpy(trained.encoder.transform(conditions))
    gen = torch.Generator().manual_seed(seed)
    # The same starting noise for every level, so only the condition differs.
    x_T = torch.randn((1, 1, cfg.data.seq_len), generator=gen).repeat(len(conditions), 1, 1)
    out = trained.generate(z, x_T)[:, 0].cpu().numpy()
    mean, std = trained.amplitude.predict(z.numpy())
    uv = to_uv(out, mean, std)
    rate, windows = cfg.data.sample_rate, cfg.peaks.windows
    if path is not None:
        labels = [
            ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items())
            for r in conditions.to_dict("records")
        ]
        plot_signals(
            uv, rate, windows, labels, f"generated {cfg.eval.level_condition} series", path
        )
    j = [w for w, _, _ in windows].index(cfg.eval.series_wave)
    return {
        "condition": cfg.eval.level_condition,
        "levels": [float(v) for v in cfg.eval.levels],
        f"wave_{cfg.eval.series_wave}_ms": peak_latencies(uv, rate, windows)[:, j].tolist(),
    }
