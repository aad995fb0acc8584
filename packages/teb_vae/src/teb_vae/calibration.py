"""Calibrating the forecast spread on validation records, and the shipped model file.

The Gaussian NLL fits the spread on the training windows, where a network with few windows is
overconfident, and its spread hardly follows the state of the record. teb-train therefore fits
a state-conditioned spread model (`teb_vae.spread`, the state of `teb_vae.state`) on the
forecasts of the validation windows after training and stores it in each checkpoint
(`extra["spread"]`); every forecast path (benchmark, windows, stream) applies it
(`TrainedTeb.scale_std`). The network's means are left as they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sigshared.training import load_checkpoint, save_checkpoint
from teb_vae.checkpoint import KIND, PACKAGE, load_trained
from teb_vae.data import CTGWindowDataset, compute_features, load_windows
from teb_vae.features.preprocess import FHR_SCALE, FS, denormalize_fhr
from teb_vae.forecast import future_targets
from teb_vae.spread import COVER_2STD, SpreadModel, fit_spread
from teb_vae.state import STATE_NAMES, forecast_state

BIN_S = 15.0
EVERY = 4  # fit on every 4th horizon sample: neighbours carry nearly the same error


@torch.no_grad()
def validation_errors(
    model: torch.nn.Module, dataset, warmup: int, decimation: int, batch: int = 4
) -> dict[str, np.ndarray]:
    """The valid targets of every step past the warm-up of `dataset` (validation windows),
    every EVERY-th horizon sample: {"std", "abs_err" (M,) bpm; "state" (M, F); "k" (M,) the
    horizon sample}. The state of a forecast is computed on its window (its causal past
    there)."""
    model.eval()
    cols: dict[str, list[np.ndarray]] = {"std": [], "abs_err": [], "state": [], "k": []}
    for i in range(0, len(dataset), batch):
        items = [dataset[j] for j in range(i, min(i + batch, len(dataset)))]
        b = {k: torch.stack([it[k] for it in items]) for k in items[0]}
        out = model(b["y_st"], b["y_ph"], b["x_ph"])
        mu, logvar = out["raw_signal_mu"][:, warmup:], out["raw_signal_logvar"][:, warmup:]
        h = mu.shape[-1]
        steps = torch.arange(warmup, mu.shape[1] + warmup)
        target, mask = future_targets(b["y_raw"], steps, h, decimation, b["valid"])
        ks = np.arange(0, h, EVERY)
        err = (FHR_SCALE * (target - mu).abs()).numpy()[..., ks]
        std = (FHR_SCALE * torch.exp(0.5 * logvar)).numpy()[..., ks]
        m = mask.numpy()[..., ks]
        issue = (steps.numpy() + 1) * decimation - 1
        for w in range(len(items)):
            fhr = denormalize_fhr(b["y_raw"][w].double().numpy())
            st = forecast_state(fhr, b["valid"][w].numpy(), issue)
            rows, kk = np.nonzero(m[w])
            cols["std"].append(std[w][rows, kk])
            cols["abs_err"].append(err[w][rows, kk])
            cols["state"].append(st[rows])
            cols["k"].append(ks[kk])
    if not cols["std"]:
        raise ValueError("no validation windows to calibrate the spread on")
    return {k: np.concatenate(v) for k, v in cols.items()}


def fit_validation_spread(
    model: torch.nn.Module, dataset, warmup: int, decimation: int, cover: float = COVER_2STD
) -> SpreadModel:
    """The state-conditioned spread (`teb_vae.spread`) of `model` on the validation windows
    `dataset`."""
    v = validation_errors(model, dataset, warmup, decimation)
    bin_len = int(BIN_S * FS)
    horizon = model.cfg.horizon
    return fit_spread(
        v["std"],
        v["abs_err"],
        v["state"],
        v["k"],
        bin_len,
        -(-horizon // bin_len),
        STATE_NAMES,
        cover,
    )


def store_spread(path: str | Path, spread: SpreadModel) -> None:
    """Write `spread` into a teb-train checkpoint's extra (atomically)."""
    state = load_checkpoint(path, package=PACKAGE, kind=KIND)
    extra = state.setdefault("extra", {})
    extra.pop("std_scale", None)  # the per-bin factor of earlier checkpoints, superseded
    extra["spread"] = spread.to_state()
    save_checkpoint(state, path)


def calibrate_checkpoint(
    path: str | Path, data: str, records: dict[str, list[str]], device: str = "cpu"
) -> SpreadModel:
    """Refit and store the spread of a teb-train checkpoint on the validation records of
    `records` (`teb_vae.data.read_records_file`) in the folder `data`, with the checkpoint's
    own config and feature statistics: what teb-train does after training, for a checkpoint
    trained before the spread model existed."""
    trained = load_trained(path, device)
    cfg = trained.cfg
    if not records.get("val"):
        raise ValueError("the records file names no validation records to fit the spread on")
    _, val, _ = load_windows(cfg, data, cfg.trainer.seed, records)
    feats = compute_features(val, cfg.features, None, device)
    ds = CTGWindowDataset(val, feats, trained.stats, cfg.model.validity_channels > 0)
    spread = fit_validation_spread(
        trained.model, ds, cfg.model.warmup_period, cfg.model.decimation_factor
    )
    store_spread(path, spread)
    return spread


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
