"""Atomic checkpoint files, loaded with `weights_only=True`.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only, so the safe
unpickler loads it; numpy RNG state is stored as tensors for that reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sigshared.errors import UserError


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write `state` to `path` atomically: temporary file, fsync, rename, fsync of the folder.

    A crash at any point leaves either the previous file or the new one, never a partial one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with the safe unpickler; a missing or corrupt file is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"cannot read checkpoint {path}: {first}") from None
    if not isinstance(state, dict):
        raise UserError(f"checkpoint {path} does not hold a dict; was it written by this project?")
    return state


def load_model_weights(model: nn.Module, state: dict[str, Any], prefer_ema: bool = True) -> str:
    """Load the EMA weights (or the raw ones) of a Trainer checkpoint into `model`.

    Returns which were loaded: "ema" or "model".
    """
    which = "ema" if prefer_ema and state.get("ema") is not None else "model"
    model.load_state_dict(state[which])
    return which
