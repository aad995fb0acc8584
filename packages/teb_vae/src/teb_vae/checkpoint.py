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
from teb_vae.config import RunConfig, load_run_config
from teb_vae.data import FeatureStats
from teb_vae.model import SeqVaeTeb

PACKAGE = "teb_vae"
KIND = "forecaster"
CHECKPOINT_META = {"package": PACKAGE, "kind": KIND}
SHIPPED_MODEL = "ctu_uhb.pt"


@dataclass
class TrainedTeb:
    """What inference needs: the model (EMA weights when present, eval mode), its run config,
    the feature standardisation statistics and the baselines' spread per horizon sample (bpm)
    fitted on its training windows."""

    model: SeqVaeTeb
    cfg: RunConfig
    stats: FeatureStats
    path: Path
    baseline_spread: dict[str, list[float]] | None = None
    std_scale: list[float] | None = None

    def scale_std(self, std):
        """std (..., H) (numpy or torch) times the validation-fitted factor of each sample's
        15 s horizon bin (`teb_vae.calibration`); unchanged when the checkpoint has none."""
        if not self.std_scale:
            return std
        h = std.shape[-1]
        per_bin = -(-h // len(self.std_scale))
        factor = np.repeat(np.asarray(self.std_scale, np.float64), per_bin)[:h]
        if isinstance(std, torch.Tensor):
            return std * torch.as_tensor(factor, dtype=std.dtype, device=std.device)
        return std * factor

    def scale_logvar(self, logvar: torch.Tensor) -> torch.Tensor:
        """`scale_std` on a log-variance (..., H) tensor."""
        return 2 * torch.log(self.scale_std(torch.exp(0.5 * logvar)))


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
        extra.get("std_scale"),
    )
