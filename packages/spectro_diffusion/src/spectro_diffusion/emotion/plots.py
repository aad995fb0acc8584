"""Figures of the emotion variant: spectrogram sheets and the confusion matrix."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sigshared.plotting import new_figure, plot_image, save_figure
from spectro_diffusion.emotion.features import MelSettings


def spectrogram_sheet(
    images: np.ndarray,
    titles: Sequence[str],
    mel: MelSettings,
    path: str | Path,
    db_max: float,
    top_db: float,
    ncols: int = 4,
) -> Path:
    """A grid of (N, n_mels, n_frames) scaled spectrograms shown in dB with their titles."""
    n = len(images)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(3.6 * ncols, 2.8 * nrows), squeeze=False)
    seconds = (mel.n_frames - 1) * mel.hop_length / mel.sample_rate
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        db = (np.clip(images[i], -1, 1) + 1) / 2 * top_db + db_max - top_db
        plot_image(
            ax,
            db,
            extent=(0, seconds, 0, mel.n_mels),
            colorbar_label="dB",
            xlabel="time (s)",
            ylabel="mel bin",
            vmin=db_max - top_db,
            vmax=db_max,
        )
        ax.set_title(titles[i], fontsize=10)
    return save_figure(fig, path)


def confusion_figure(matrix: np.ndarray, classes: Sequence[str], path: str | Path, title: str):
    """Row-normalised confusion matrix (rows true, columns predicted) with the counts."""
    fig, axes = new_figure(1, 1, figsize=(1.0 + 0.8 * len(classes), 0.8 + 0.7 * len(classes)))
    ax = axes
    rows = matrix.sum(axis=1, keepdims=True).clip(min=1)
    ax.imshow(matrix / rows, cmap="Blues", vmin=0, vmax=1)
    ax.grid(False)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return save_figure(fig, path)


def pitch_figure(
    tracks: Sequence[tuple[np.ndarray, np.ndarray]],
    titles: Sequence[str],
    path: str | Path,
    ncols: int = 4,
) -> Path:
    """A grid of pitch tracks: (times in s, f0 in Hz with NaN where unvoiced) per panel."""
    n = len(tracks)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(3.6 * ncols, 2.4 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        times, f0 = tracks[i]
        ax.plot(times, f0, ".-", markersize=3)
        ax.set_yscale("log")
        ax.set_ylim(60, 520)
        ax.set_xlim(0, float(times[-1]) if len(times) else 1.0)
        voiced = float(np.mean(np.isfinite(f0))) if len(f0) else 0.0
        ax.set_title(f"{titles[i]} (voiced {voiced:.0%})", fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("f0 (Hz)")
    return save_figure(fig, path)
