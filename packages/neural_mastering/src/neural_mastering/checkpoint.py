"""Load a trained mastering model from a checkpoint (the shipped one by default).

Checkpoints carry the stamp `package = "neural_mastering"`, `kind = "mastering"` (written by
the Trainer, and into the shipped default.pt); a file without it, or with another stamp, is
refused as foreign rather than failing later on a config key.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from neural_mastering.config import MasteringConfig, load
from neural_mastering.model import MasteringModel
from sigshared.errors import CheckpointError
from sigshared.training import load_checkpoint, load_model_weights

PACKAGE, KIND = "neural_mastering", "mastering"
CHECKPOINT_META = {"package": PACKAGE, "kind": KIND}
DEFAULT_CHECKPOINT = "default.pt"


def default_checkpoint() -> Path:
    """The checkpoint shipped inside the package (see the package README for how it was made)."""
    return Path(str(resources.files("neural_mastering.checkpoints") / DEFAULT_CHECKPOINT))


@dataclass
class TrainedMastering:
    """A model ready for inference: the network (eval mode, EMA weights when present), its
    config and the file it came from."""

    model: MasteringModel
    config: MasteringConfig
    path: Path


def read_stamped(path: str | Path) -> dict:
    """The state dict of a neural_mastering checkpoint; CheckpointError for a missing, corrupt
    or foreign file."""
    p = Path(path)
    state = load_checkpoint(p, package=PACKAGE, kind=KIND)
    # sigshared lets an unstamped file through; every neural_mastering checkpoint is stamped.
    if state.get("package") is None or state.get("kind") is None:
        raise CheckpointError(f"{p} is an unstamped checkpoint, not a {PACKAGE} one")
    return state


def load_trained(path: str | Path | None = None, phase: str | None = None) -> TrainedMastering:
    """The model of checkpoint `path` (None: the shipped default) in eval mode.

    `phase`, when given, must match the checkpoint's: the phases have different layers.
    """
    p = Path(path) if path is not None else default_checkpoint()
    state = read_stamped(p)
    extra = state.get("extra") or {}
    if "config" not in extra or "model" not in state:
        raise CheckpointError(f"{p} holds no model config; it was not written by a training run")
    cfg = load(extra["config"])
    if phase is not None and phase != cfg.model.phase:
        raise CheckpointError(
            f"{p} holds a phase {cfg.model.phase} model, not {phase}; train a phase {phase} "
            "model and load that checkpoint"
        )
    model = MasteringModel(cfg.model)
    try:
        load_model_weights(model, state)
    except RuntimeError as err:
        raise CheckpointError(
            f"{p} does not fit its own config: {str(err).splitlines()[0]}"
        ) from None
    return TrainedMastering(model=model.eval(), config=cfg, path=p)
