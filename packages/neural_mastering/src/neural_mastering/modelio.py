"""Load a trained MasteringModel from a Trainer checkpoint (the shipped one by default)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from neural_mastering.config import MasteringConfig
from neural_mastering.model import MasteringModel
from sigshared.cli import require_file
from sigshared.errors import UserError
from sigshared.training import load_checkpoint, load_config, load_model_weights

DEFAULT_CHECKPOINT = "default.pt"


def default_checkpoint() -> Path:
    """The checkpoint shipped inside the package (see the package README for how it was made)."""
    return Path(str(resources.files("neural_mastering.checkpoints") / DEFAULT_CHECKPOINT))


def load_model(
    path: str | Path | None = None, phase: str | None = None
) -> tuple[MasteringModel, MasteringConfig]:
    """(model in eval mode with EMA weights when present, its config) from a checkpoint.

    `phase`, when given, must match the checkpoint's: the phases have different layers.
    """
    p = require_file(path if path is not None else default_checkpoint(), "checkpoint")
    state = load_checkpoint(p)
    extra = state.get("extra") or {}
    if "config" not in extra or "model" not in state:
        raise UserError(f"{p} is not a neural_mastering checkpoint (no config inside)")
    cfg = load_config(MasteringConfig, extra["config"])
    if phase is not None and phase != cfg.model.phase:
        raise UserError(
            f"{p} holds a phase {cfg.model.phase} model, not {phase}; train one with "
            f"mastering-train --phase {phase} and pass it with --checkpoint"
        )
    model = MasteringModel(cfg.model)
    try:
        load_model_weights(model, state)
    except RuntimeError as err:
        raise UserError(f"{p} does not fit its own config: {str(err).splitlines()[0]}") from None
    return model.eval(), cfg
