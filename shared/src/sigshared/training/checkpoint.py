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

from sigshared.errors import CheckpointError


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


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def load_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    *,
    package: str | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    """Load a checkpoint with the safe unpickler and check whose it is.

    Raises `CheckpointError` for a missing file, a file torch cannot read (corrupt, truncated,
    not a checkpoint), and, when `package` / `kind` are given, for a checkpoint stamped with
    another package or kind (the top-level "package" and "kind" keys the Trainer writes from
    its `checkpoint_meta`). An unstamped checkpoint passes the check.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception:
        # torch's own message advises weights_only=False, which would run arbitrary code from
        # an untrusted file; the user only needs to know the file is not usable.
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt, truncated or another kind of file)"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a checkpoint of this project (no state dict)")
    found_package = state.get("package")
    if package is not None and found_package is not None and found_package != package:
        raise CheckpointError(
            f"{path} is {_article(found_package)} {found_package} checkpoint, "
            f"not {_article(package)} {package} one"
        )
    found_kind = state.get("kind")
    if kind is not None and found_kind is not None and found_kind != kind:
        raise CheckpointError(
            f"{path} is {_article(found_kind)} {found_kind} checkpoint, not {_article(kind)} "
            f"{kind} one"
        )
    return state


def load_model_weights(model: nn.Module, state: dict[str, Any], prefer_ema: bool = True) -> str:
    """Load the EMA weights (or the raw ones) of a Trainer checkpoint into `model`.

    Returns which were loaded: "ema" or "model".
    """
    which = "ema" if prefer_ema and state.get("ema") is not None else "model"
    model.load_state_dict(state[which])
    return which
