"""Loading a trained TEB-VAE: `load_trained(path) -> TrainedTeb`.

A teb-train checkpoint is stamped package "teb_vae", kind "forecaster" and carries, besides
the weights, the resolved run config and the feature statistics (`extra`), so inference needs
the checkpoint alone. Another package's checkpoint, a corrupt file and a checkpoint without
those entries are refused with a `CheckpointError` that says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch

from sigshared.errors import CheckpointError
from sigshared.training import load_checkpoint
from teb_vae.anchoring import DecelAnchor
from teb_vae.config import RunConfig, load_run_config
from teb_vae.data import FeatureStats
from teb_vae.features.preprocess import FHR_SCALE
from teb_vae.model import SeqVaeTeb
from teb_vae.spread import SpreadModel
from teb_vae.state import STATE_NAMES

PACKAGE = "teb_vae"
KIND = "forecaster"
CHECKPOINT_META = {"package": PACKAGE, "kind": KIND}
SHIPPED_MODEL = "ctu_uhb.pt"


@dataclass
class TrainedTeb:
    """What inference needs: the model (EMA weights when present, eval mode), its run config,
    the feature standardisation statistics, the baselines' spread per horizon sample (bpm)
    fitted on its training windows, and the model's spread and deceleration anchoring fitted
    on its validation windows."""

    model: SeqVaeTeb
    cfg: RunConfig
    stats: FeatureStats
    path: Path
    baseline_spread: dict[str, list[float]] | None = None
    spread: SpreadModel | None = None
    anchor: DecelAnchor | None = None

    def adjust_mean(self, mu, last, state: np.ndarray):
        """mu (..., H) (numpy or torch, bpm or normalised), last (...) the last valid FHR in
        the same units, state (..., F) -> mu held toward `last` inside decelerations
        (`teb_vae.anchoring`); unchanged when the checkpoint has no anchoring."""
        if self.anchor is None:
            return mu
        return self.anchor.apply(mu, last, state[..., STATE_NAMES.index("in_decel")])

    def scale_std(self, std: np.ndarray, state: np.ndarray) -> np.ndarray:
        """std (..., H) network std (bpm), state (..., F) the forecasts' causal state
        (`teb_vae.state.forecast_state`) -> the std fitted on the validation records
        (`teb_vae.spread`); unchanged when the checkpoint has no spread model."""
        return std if self.spread is None else self.spread.std(std, state)

    def scale_logvar(self, logvar: torch.Tensor, state: np.ndarray) -> torch.Tensor:
        """`scale_std` on a normalised log-variance tensor (..., H)."""
        if self.spread is None:
            return logvar
        std = FHR_SCALE * np.exp(0.5 * logvar.double().cpu().numpy())
        scaled = self.spread.std(std, state) / FHR_SCALE
        return torch.as_tensor(2 * np.log(scaled), dtype=logvar.dtype, device=logvar.device)


def shipped_model_path() -> Path:
    """The model trained on the CTU-UHB records that ships with the package (see
    src/teb_vae/models/README.md for its data, licence and training command)."""
    return Path(str(files("teb_vae.models") / SHIPPED_MODEL))


def load_trained(path: str | Path | None = None, device: torch.device | str = "cpu") -> TrainedTeb:
    """The model of a teb-train checkpoint (the shipped CTU-UHB model when `path` is None), on
    `device`, in eval mode."""
    path = Path(path) if path is not None else shipped_model_path()
    state = load_checkpoint(path, package=PACKAGE, kind=KIND)
    extra = state.get("extra") or {}
    if "config" not in extra or "feature_stats" not in extra:
        raise CheckpointError(
            f"{path} has no run config or feature statistics; it was not written by teb-train"
        )
    cfg = load_run_config(extra["config"])
    model = SeqVaeTeb(cfg.model)
    try:
        model.load_state_dict(state.get("ema") or state["model"])
    except (KeyError, RuntimeError) as err:
        raise CheckpointError(
            f"{path}: the weights do not fit its own config ({str(err).splitlines()[0]})"
        ) from None
    return TrainedTeb(
        model.to(device).eval(),
        cfg,
        FeatureStats.from_state(extra["feature_stats"]),
        path,
        extra.get("baseline_spread"),
        _spread(extra, cfg, path),
        DecelAnchor.from_state(extra["anchor"]) if "anchor" in extra else None,
    )


def _spread(extra: dict, cfg: RunConfig, path: Path) -> SpreadModel | None:
    """The checkpoint's spread model; a per-bin one from the factors of older checkpoints."""
    if "spread" in extra:
        spread = SpreadModel.from_state(extra["spread"])
        if spread.state_names != STATE_NAMES:
            raise CheckpointError(
                f"{path}: its spread model reads the state {list(spread.state_names)}, this "
                f"version computes {list(STATE_NAMES)}; refit it with "
                "teb_vae.calibration.calibrate_checkpoint"
            )
        return spread
    if extra.get("std_scale"):
        h, n = cfg.model.horizon, len(extra["std_scale"])
        return SpreadModel.per_bin(extra["std_scale"], -(-h // n), STATE_NAMES)
    return None
