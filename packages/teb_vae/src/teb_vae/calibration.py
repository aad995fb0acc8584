"""Calibrating the forecast spread on held-out records, and the shipped model file.

The Gaussian NLL fits the spread on the training windows, where a network with few windows
is overconfident; the scale that makes the +-2 std band hold 95.45 % of the validation
targets (a conformal-style quantile of |error| / std, one per 15 s horizon bin) corrects that
without touching the means. teb-train fits it on the validation windows after training and
stores it in the checkpoints (`extra["std_scale"]`); every forecast path multiplies the std by
it (`TrainedTeb.scale_std`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sigshared.training import load_checkpoint, save_checkpoint
from teb_vae.checkpoint import KIND, PACKAGE
from teb_vae.forecast import future_targets

BIN_S = 15.0
FS = 4.0
COVER_2STD = 0.9545


@torch.no_grad()
def fit_std_scale(
    model: torch.nn.Module, dataset, warmup: int, decimation: int, batch: int = 4
) -> list[float]:
    """One factor per 15 s horizon bin: the 95.45 % quantile of |target - mu| / std over the
    valid targets of every step past the warm-up of `dataset` (validation windows), / 2."""
    model.eval()
    per_bin = int(BIN_S * FS)
    ratios: list[list[np.ndarray]] | None = None
    for i in range(0, len(dataset), batch):
        items = [dataset[j] for j in range(i, min(i + batch, len(dataset)))]
        b = {k: torch.stack([it[k] for it in items]) for k in items[0]}
        out = model(b["y_st"], b["y_ph"], b["x_ph"])
        mu, logvar = out["raw_signal_mu"][:, warmup:], out["raw_signal_logvar"][:, warmup:]
        steps = torch.arange(warmup, mu.shape[1] + warmup)
        target, mask = future_targets(b["y_raw"], steps, mu.shape[-1], decimation, b["valid"])
        z = ((target - mu).abs() * torch.exp(-0.5 * logvar)).numpy()
        m = mask.numpy()
        n_bins = -(-mu.shape[-1] // per_bin)
        if ratios is None:
            ratios = [[] for _ in range(n_bins)]
        for k in range(n_bins):
            sl = slice(k * per_bin, (k + 1) * per_bin)
            ratios[k].append(z[..., sl][m[..., sl]])
    if ratios is None:
        raise ValueError("no validation windows to calibrate the spread on")
    return [float(np.quantile(np.concatenate(r), COVER_2STD) / 2.0) for r in ratios]


def store_std_scale(path: str | Path, scale: list[float]) -> None:
    """Write `scale` into a teb-train checkpoint's extra (atomically)."""
    state = load_checkpoint(path, package=PACKAGE, kind=KIND)
    state.setdefault("extra", {})["std_scale"] = list(scale)
    save_checkpoint(state, path)


def export_model(src: str | Path, dst: str | Path) -> Path:
    """A checkpoint reduced to what inference needs (EMA weights, config, statistics, spreads,
    stamps): no optimizer, scheduler or RNG state. The shipped model is made with it."""
    state = load_checkpoint(src, package=PACKAGE, kind=KIND)
    weights = state.get("ema") or state["model"]
    slim = {"model": weights, "extra": state["extra"], "package": PACKAGE, "kind": KIND}
    for key in ("step", "epoch"):
        if key in state:
            slim[key] = state[key]
    return save_checkpoint(slim, dst)
