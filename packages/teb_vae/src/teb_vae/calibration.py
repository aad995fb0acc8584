"""Calibrating the forecasts on validation records, and the shipped model file.

The Gaussian NLL fits the spread on the training windows, where a network with few windows is
overconfident, and its spread hardly follows the state of the record; inside decelerations
its mean recovers too fast. After training, teb-train fits on the forecasts of the validation
records (whole, as teb-eval and the stream forecast them: the state then has its full causal
history), in this order, and stores in each checkpoint:

- `extra["anchor"]`: how far forecasts issued inside a deceleration are held at the last
  valid sample (`teb_vae.anchoring`);
- `extra["spread"]`: the state-conditioned spread (`teb_vae.spread`), fitted on the errors of
  the anchored means.

Both read only the causal state of `teb_vae.state`; every forecast path (benchmark, windows,
stream) applies them (`TrainedTeb.adjust_mean`, `TrainedTeb.scale_std`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sigshared.training import load_checkpoint, save_checkpoint
from teb_vae.anchoring import DecelAnchor, fit_decel_anchor
from teb_vae.benchmark import forecast_whole_record
from teb_vae.checkpoint import KIND, PACKAGE, TrainedTeb, load_trained
from teb_vae.data import Recording, load_recordings
from teb_vae.features.preprocess import FS
from teb_vae.spread import COVER_2STD, SpreadModel, fit_spread
from teb_vae.state import STATE_NAMES, forecast_state

BIN_S = 15.0
EVERY = 4  # fit on every 4th horizon sample: neighbours carry nearly the same error


def validation_errors(
    trained: TrainedTeb, recordings: list[Recording], device: torch.device | str = "cpu"
) -> dict[str, np.ndarray]:
    """The network's own forecasts (no anchoring, no spread model) from every step past the
    warm-up of each whole recording at least a window long, as teb-eval and the stream issue
    them, at their valid targets, every EVERY-th horizon sample: {"mu", "std", "target",
    "last" (the last valid FHR at the issue sample) (M,) bpm; "state" (M, F); "k" (M,) the
    horizon sample}."""
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("mu", "std", "target", "last", "state", "k")
    }
    for rec in recordings:
        if len(rec.fhr) < trained.cfg.features.window:
            continue
        fc = forecast_whole_record(trained, rec, device)
        y, valid, n = fc.clean.fhr, fc.clean.valid, len(fc.clean.fhr)
        ks = np.arange(0, fc.mu.shape[1], EVERY)
        idx = fc.issue[:, None] + 1 + ks[None]
        ok = (idx < n) & valid[np.minimum(idx, n - 1)]
        rows, kk = np.nonzero(ok)
        state = forecast_state(y, valid, fc.issue)
        cols["mu"].append(fc.net_mu[:, ks][rows, kk])
        cols["std"].append(fc.net_std[:, ks][rows, kk])
        cols["target"].append(y[idx[rows, kk]])
        cols["last"].append(y[fc.issue][rows])
        cols["state"].append(state[rows])
        cols["k"].append(ks[kk])
    if not cols["mu"]:
        raise ValueError("no validation recording is long enough to calibrate the forecasts on")
    return {k: np.concatenate(v) for k, v in cols.items()}


def fit_validation_calibration(
    trained: TrainedTeb,
    recordings: list[Recording],
    device: torch.device | str = "cpu",
    cover: float = COVER_2STD,
) -> tuple[DecelAnchor, SpreadModel]:
    """The deceleration anchoring (`teb_vae.anchoring`) and then, on the anchored errors, the
    state-conditioned spread (`teb_vae.spread`) of `trained`'s network on the whole
    validation `recordings`."""
    v = validation_errors(trained, recordings, device)
    bin_len = int(BIN_S * FS)
    n_bins = -(-trained.cfg.model.horizon // bin_len)
    inside = v["state"][:, STATE_NAMES.index("in_decel")]
    m = inside > 0
    anchor = fit_decel_anchor(v["mu"][m], v["last"][m], v["target"][m], v["k"][m], bin_len, n_bins)
    mu = v["mu"] + anchor.weight_at(v["k"]) * inside * (v["last"] - v["mu"])
    spread = fit_spread(
        v["std"], np.abs(v["target"] - mu), v["state"], v["k"], bin_len, n_bins, STATE_NAMES, cover
    )
    return anchor, spread


def store_calibration(path: str | Path, anchor: DecelAnchor, spread: SpreadModel) -> None:
    """Write `anchor` and `spread` into a teb-train checkpoint's extra (atomically)."""
    state = load_checkpoint(path, package=PACKAGE, kind=KIND)
    extra = state.setdefault("extra", {})
    extra.pop("std_scale", None)  # the per-bin factor of earlier checkpoints, superseded
    extra["anchor"] = anchor.to_state()
    extra["spread"] = spread.to_state()
    save_checkpoint(state, path)


def calibrate_checkpoint(
    path: str | Path, data: str, records: dict[str, list[str]], device: str = "cpu"
) -> tuple[DecelAnchor, SpreadModel]:
    """Refit and store the anchoring and spread of a teb-train checkpoint on the validation
    records of `records` (`teb_vae.data.read_records_file`) in the folder `data`, with the
    checkpoint's own config and feature statistics: what teb-train does after training, for
    a checkpoint trained before these existed."""
    trained = load_trained(path, device)
    if not records.get("val"):
        raise ValueError("the records file names no validation records to fit the spread on")
    _, val = load_recordings(trained.cfg, data, trained.cfg.trainer.seed, records)
    anchor, spread = fit_validation_calibration(trained, val, device)
    store_calibration(path, anchor, spread)
    return anchor, spread


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
