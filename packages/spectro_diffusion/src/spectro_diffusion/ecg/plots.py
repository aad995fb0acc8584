"""Figures of the ECG variant: one example's four arrays, generated vs ground truth.

Arrays come in model shape ((C, L) or (C, H, W), physical units); channel 0 is drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sigshared.plotting import new_figure, plot_image, plot_overlay, save_figure


def _draw(ax, x: np.ndarray, title: str, ylabel: str) -> None:
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[0]
    if x.ndim == 2 and x.shape[0] > 1:
        plot_image(ax, x, xlabel="time column", ylabel="row")
    else:
        ax.plot(x.reshape(-1))
        ax.set_ylabel(ylabel)
    ax.set_title(title)


def plot_example(arrays: dict[str, np.ndarray], title: str, path: str | Path) -> Path:
    """The four arrays of one stem (any of them may be missing) in a 2 x 2 grid."""
    fig, axes = new_figure(2, 2, figsize=(11, 7))
    labels = {
        "images": ("images (log power scalogram)", "log power"),
        "emb_init": ("emb_init (coarse image)", "log power"),
        "amp_init": ("amp_init (normalised waveform)", "z-score"),
        "freq_embeddings": ("freq_embeddings (log mean power per row)", "log power"),
    }
    for ax, name in zip(axes.flat, ("images", "emb_init", "amp_init", "freq_embeddings")):
        if name in arrays:
            _draw(ax, arrays[name], labels[name][0], labels[name][1])
        else:
            ax.set_title(f"{name}: missing")
            ax.axis("off")
    fig.suptitle(title)
    return save_figure(fig, path)


def plot_generated(
    conditions: dict[str, np.ndarray],
    image: np.ndarray,
    freq: np.ndarray,
    title: str,
    path: str | Path,
) -> Path:
    """Conditions (amp_init, emb_init) and the generated image and frequency embedding."""
    return plot_example(
        {**conditions, "images": image, "freq_embeddings": freq}, f"generated: {title}", path
    )


def plot_comparison(
    conditions: dict[str, np.ndarray],
    gen: dict[str, np.ndarray],
    true: dict[str, np.ndarray],
    title: str,
    path: str | Path,
) -> Path:
    """Generated vs ground truth: both images and their difference on one colour scale,
    the frequency embeddings overlaid, and the two conditions."""
    gi, ti = np.asarray(gen["images"]), np.asarray(true["images"])
    gi, ti = (gi[0], ti[0]) if gi.ndim == 3 else (gi, ti)
    lo, hi = float(min(gi.min(), ti.min())), float(max(gi.max(), ti.max()))
    fig, axes = new_figure(2, 3, figsize=(15, 7))
    plot_image(axes[0, 0], ti, vmin=lo, vmax=hi, ylabel="row", colorbar_label="log power")
    axes[0, 0].set_title("ground-truth image")
    plot_image(axes[0, 1], gi, vmin=lo, vmax=hi, colorbar_label="log power")
    axes[0, 1].set_title("generated image")
    span = float(np.abs(gi - ti).max()) or 1.0  # symmetric, so white means no error
    plot_image(
        axes[0, 2],
        gi - ti,
        cmap="coolwarm",
        colorbar_label="generated - truth",
        vmin=-span,
        vmax=span,
    )
    axes[0, 2].set_title("difference")
    gf, tf = np.asarray(gen["freq_embeddings"]), np.asarray(true["freq_embeddings"])
    if gf.ndim == 2 and gf.shape[0] >= 1 and gf.shape[0] < gf.shape[1]:
        gf, tf = gf[0], tf[0]
    if gf.ndim == 1:
        plot_overlay(
            axes[1, 0],
            np.arange(len(tf)),
            tf,
            gf,
            "ground truth",
            "generated",
            ylabel="log power",
        )
        axes[1, 0].set_xlabel("frequency row")
    else:
        plot_image(axes[1, 0], gf if gf.ndim == 2 else gf[0])
    axes[1, 0].set_title("freq_embeddings")
    _draw(axes[1, 1], conditions["amp_init"], "amp_init (condition)", "z-score")
    _draw(axes[1, 2], conditions["emb_init"], "emb_init (condition)", "log power")
    fig.suptitle(title)
    return save_figure(fig, path)
