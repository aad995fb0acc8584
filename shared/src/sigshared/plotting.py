"""One plotting style for every package: stacked panels, overlays, bands, images, and the loss
curves of a Trainer run (its metrics.csv).

Figures are `matplotlib.figure.Figure` objects created without pyplot, so no GUI backend or
global figure registry is involved (safe in workers and on headless machines); `save_figure`
writes PNG, PDF or SVG by suffix and releases the figure.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.2,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
}
REFERENCE_COLOR = "#222222"
ESTIMATE_COLOR = "#d62728"
BAND_COLOR = "#1f77b4"
SUFFIXES = (".png", ".pdf", ".svg")

matplotlib.rcParams.update(STYLE)


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    figsize: tuple[float, float] | None = None,
    sharex: bool = False,
    sharey: bool = False,
    squeeze: bool = True,
):
    """A figure and its axes grid in the house style (axes as from `Figure.subplots`)."""
    if figsize is None:
        figsize = (4.0 * ncols, 2.6 * nrows)
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=squeeze)
    return fig, axes


def stacked_panels(
    n: int, width: float = 10.0, height_per_panel: float = 2.0, xlabel: str | None = None
) -> tuple[Figure, list[Axes]]:
    """`n` panels stacked vertically sharing one time axis; the label goes on the bottom one."""
    fig, axes = new_figure(n, 1, figsize=(width, height_per_panel * n), sharex=True, squeeze=False)
    axes = list(axes[:, 0])
    if xlabel:
        axes[-1].set_xlabel(xlabel)
    return fig, axes


def plot_overlay(
    ax: Axes,
    t,
    reference,
    estimate,
    reference_label: str = "reference",
    estimate_label: str = "output",
    ylabel: str | None = None,
) -> None:
    """Reference (dark) and estimate (red) on one axis, with a legend."""
    ax.plot(_np(t), _np(reference), color=REFERENCE_COLOR, label=reference_label)
    ax.plot(_np(t), _np(estimate), color=ESTIMATE_COLOR, label=estimate_label, alpha=0.9)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.legend(loc="upper right")


def plot_band(
    ax: Axes,
    t,
    mean,
    std=None,
    lower=None,
    upper=None,
    n_std: float = 2.0,
    label: str = "mean",
    color: str = BAND_COLOR,
) -> None:
    """A mean curve with a shaded band: mean +/- n_std * std, or explicit lower / upper.

    NaN in any input leaves a gap rather than a line to zero.
    """
    t, mean = _np(t), _np(mean)
    if std is not None:
        lo, hi = mean - n_std * _np(std), mean + n_std * _np(std)
        band_label = f"±{n_std:g} std"
    elif lower is not None and upper is not None:
        lo, hi = _np(lower), _np(upper)
        band_label = "band"
    else:
        raise ValueError("plot_band needs std or both lower and upper")
    ax.plot(t, mean, color=color, label=label)
    ax.fill_between(t, lo, hi, color=color, alpha=0.25, linewidth=0, label=band_label)


def plot_image(
    ax: Axes,
    image,
    extent: Sequence[float] | None = None,
    cmap: str = "magma",
    colorbar_label: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> None:
    """A 2-D array (rows = frequency or channel, bottom row first) with a colour bar."""
    img = _np(image)
    if img.ndim != 2:
        raise ValueError(f"plot_image expects a 2-D array, got shape {img.shape}")
    im = ax.imshow(
        img,
        origin="lower",
        aspect="auto",
        extent=extent,
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
    )
    ax.grid(False)
    cbar = ax.figure.colorbar(im, ax=ax)
    if colorbar_label:
        cbar.set_label(colorbar_label)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)


def plot_metrics_csv(
    metrics_csv: str | Path,
    path: str | Path,
    curves: Sequence[tuple[str, str]],
    ylabel: str = "loss",
    figsize: tuple[float, float] = (7, 4),
) -> Path | None:
    """Columns of a Trainer's metrics.csv against the optimizer step, log y, saved to `path`.

    `curves`: (column, legend label) pairs; a row whose cell is empty is skipped (validation
    columns are filled on validation epochs only). None if the file is missing or has no rows.
    """
    metrics_csv = Path(metrics_csv)
    if not metrics_csv.is_file():
        return None
    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    fig, ax = new_figure(1, 1, figsize=figsize)
    for key, label in curves:
        pts = [(float(r["step"]), float(r[key])) for r in rows if r.get(key)]
        if pts:
            ax.plot(*zip(*pts), marker="o", markersize=3, label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.legend()
    return save_figure(fig, path)


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write `fig` as PNG, PDF or SVG (by suffix), creating parent folders, then release it."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"unsupported figure suffix {path.suffix!r}; use one of {SUFFIXES}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path)
    finally:
        fig.clear()
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path
