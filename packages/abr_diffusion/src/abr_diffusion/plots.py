"""Figures of a run, in µV over ms, through `sigshared.plotting` (Agg, saved and closed).

- `plot_best_worst`: overlays of reference and output, the five best and five worst by MSE
- `plot_error_curve`: |reference - output| over time, mean with a 5-95 % band and statistics
- `plot_spectrograms`: mean spectrograms of references and outputs side by side
- `plot_signals`: stacked signals with their wave markers (e.g. a level series)

Every function takes the signals' sample rate, so the time axis is right for any grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import signal as sps

from abr_diffusion.peaks import peak_latencies
from abr_diffusion.synthetic import time_ms
from sigshared.plotting import (
    new_figure,
    plot_band,
    plot_image,
    plot_overlay,
    save_figure,
    stacked_panels,
)

WAVE_COLORS = ("#2ca02c", "#d62728", "#ff7f0e", "#8c564b", "#9467bd", "#17becf")


def plot_best_worst(
    reference_uv: np.ndarray,
    output_uv: np.ndarray,
    sample_rate: float,
    mse: np.ndarray,
    title: str,
    path: Path,
) -> Path:
    """Two columns of five overlays: best (left) and worst (right) signals by `mse` (N,)."""
    order = np.argsort(mse)
    k = min(5, len(order))
    picks = {"best": order[:k], "worst": order[::-1][:k]}
    fig, axes = new_figure(k, 2, figsize=(11, 1.9 * k + 0.6), sharex=True, squeeze=False)
    t = time_ms(reference_uv.shape[1], sample_rate)
    for col, (name, idx) in enumerate(picks.items()):
        for row, i in enumerate(idx):
            ax = axes[row, col]
            plot_overlay(ax, t, reference_uv[i], output_uv[i], "reference", "output", ylabel="µV")
            ax.set_title(f"{name} #{row + 1}: recording {i}, MSE {mse[i]:.3g} (z units)")
        axes[-1, col].set_xlabel("time after stimulus (ms)")
    fig.suptitle(title)
    return save_figure(fig, path)


def plot_error_curve(
    reference_uv: np.ndarray, output_uv: np.ndarray, sample_rate: float, title: str, path: Path
):
    """Mean absolute error over time with its 5-95 % band; statistics in the title."""
    err = np.abs(reference_uv - output_uv)
    t = time_ms(err.shape[1], sample_rate)
    fig, ax = new_figure(1, 1, figsize=(9, 3.2))
    plot_band(
        ax,
        t,
        err.mean(0),
        lower=np.percentile(err, 5, axis=0),
        upper=np.percentile(err, 95, axis=0),
        label="mean |reference - output| (band: 5-95 %)",
    )
    ax.set_xlabel("time after stimulus (ms)")
    ax.set_ylabel("absolute error (µV)")
    ax.legend(loc="upper right")
    ax.set_title(
        f"{title}: mean {err.mean():.3g} µV, median {np.median(err):.3g} µV, "
        f"95th pct {np.percentile(err, 95):.3g} µV, max {err.max():.3g} µV (n={len(err)})"
    )
    return save_figure(fig, path)


def _mean_spectrogram(
    x: np.ndarray, sample_rate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Windows of about 1.6 ms (32 samples at 20 kHz), 7/8 overlap.
    n = max(8, int(round(1.6e-3 * sample_rate)))
    f, tt, s = sps.spectrogram(x, fs=sample_rate, nperseg=n, noverlap=n * 7 // 8, axis=-1)
    return f, tt * 1000.0, 10 * np.log10(s.mean(0) + 1e-12)


def plot_spectrograms(
    reference_uv: np.ndarray, output_uv: np.ndarray, sample_rate: float, title: str, path: Path
):
    """Mean power spectrograms (dB, 1.6 ms Hann windows) of references and outputs."""
    fig, axes = new_figure(1, 2, figsize=(11, 3.4))
    specs = [
        _mean_spectrogram(reference_uv, sample_rate),
        _mean_spectrogram(output_uv, sample_rate),
    ]
    lo = min(s[2].min() for s in specs)
    hi = max(s[2].max() for s in specs)
    for ax, (f, tt, s), name in zip(axes, specs, ("reference", "output")):
        plot_image(
            ax,
            s,
            extent=(tt[0], tt[-1], f[0] / 1000, f[-1] / 1000),
            colorbar_label="power (dB µV²/Hz)",
            xlabel="time after stimulus (ms)",
            ylabel="frequency (kHz)",
            vmin=lo,
            vmax=hi,
        )
        ax.set_title(f"{title}: {name} (mean of {len(reference_uv)})")
    return save_figure(fig, path)


def plot_signals(
    signals_uv: np.ndarray,
    sample_rate: float,
    waves: Sequence[tuple[str, float, float]],
    labels: list[str],
    title: str,
    path: Path,
) -> Path:
    """Signals stacked top to bottom, each with its detected waves (windows `waves`) marked."""
    n = len(signals_uv)
    fig, axes = stacked_panels(n, width=8, height_per_panel=1.3, xlabel="time after stimulus (ms)")
    t = time_ms(signals_uv.shape[1], sample_rate)
    lat = peak_latencies(signals_uv, sample_rate, waves)
    names = [w for w, _, _ in waves]
    for ax, sig, label, peaks in zip(axes, signals_uv, labels, lat):
        ax.plot(t, sig, color="#222222")
        for j, (wave, ms) in enumerate(zip(names, peaks)):
            color = WAVE_COLORS[j % len(WAVE_COLORS)]
            ax.axvline(ms, color=color, linestyle="--", linewidth=0.9)
            ax.annotate(
                wave,
                (ms, 1.0),
                xycoords=("data", "axes fraction"),
                color=color,
                ha="center",
                va="bottom",
            )
        ax.set_ylabel("µV")
        ax.set_title(f"{label}; {names[-1]} at {peaks[-1]:.2f} ms", loc="left", fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path)
