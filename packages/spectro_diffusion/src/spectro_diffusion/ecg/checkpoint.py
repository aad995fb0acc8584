"""`load_trained`: everything inference needs from an ecg-train checkpoint, checked first.

A checkpoint is stamped package "spectro_diffusion", kind "ecg" by the Trainer; its "extra"
entry holds the resolved config, the array shapes (`ArraySpec`s) and the normalisation
statistics, so the model is rebuilt from the checkpoint alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from sigshared.diffusion import GaussianDiffusion
from sigshared.errors import CheckpointError
from sigshared.training import load_checkpoint, load_model_weights
from spectro_diffusion.ecg.config import EcgConfig, load_ecg_config
from spectro_diffusion.ecg.data import ArraySpec
from spectro_diffusion.ecg.objective import make_diffusion

PACKAGE = "spectro_diffusion"
KIND = "ecg"
CHECKPOINT_META = {"package": PACKAGE, "kind": KIND}


@dataclass
class TrainedEcg:
    """A trained ECG model ready to sample: `diffusion` (eval mode, on the requested device),
    the run's config, array shapes and normalisation statistics, and which weights were
    loaded ("ema" or "model")."""

    diffusion: GaussianDiffusion
    cfg: EcgConfig
    specs: dict[str, ArraySpec]
    stats: dict[str, dict[str, float]]
    weights: str
    path: Path


def load_trained(
    path: str | Path, device: torch.device | str = "cpu", prefer_ema: bool = True
) -> TrainedEcg:
    """The model of an ecg-train checkpoint; CheckpointError for a missing, corrupt or
    foreign file (another package's, or another kind of spectro_diffusion model)."""
    path = Path(path)
    state = load_checkpoint(path, map_location="cpu", package=PACKAGE, kind=KIND)
    extra = state.get("extra", {})
    if not all(k in extra for k in ("config", "specs", "stats")):
        raise CheckpointError(f"{path} lacks the config, shapes or statistics of an ECG model")
    cfg = load_ecg_config(extra["config"])
    specs = {n: ArraySpec.from_dict(d) for n, d in extra["specs"].items()}
    diffusion = make_diffusion(cfg, specs, extra["stats"])
    try:
        weights = load_model_weights(diffusion, state, prefer_ema=prefer_ema)
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(
            f"{path}: weights do not fit the model it describes ({first})"
        ) from None
    return TrainedEcg(diffusion.to(device).eval(), cfg, specs, extra["stats"], weights, path)
