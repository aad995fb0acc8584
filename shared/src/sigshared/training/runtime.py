"""Seeds, RNG state capture, device selection and run folders."""

from __future__ import annotations

import contextlib
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sigshared.errors import OutputError, UserError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (all devices) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def get_rng_state() -> dict[str, Any]:
    """All global RNG states, in types the weights-only unpickler accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(v) for v in x) if isinstance(x, list | tuple) else x


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `get_rng_state` captured."""
    random.setstate(_as_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def isolated_rng(seed: int) -> Iterator[None]:
    """Run a block with every global RNG seeded to `seed`, then restore the previous states.

    Validation and callbacks run inside it, so they are reproducible and never shift the
    random stream of training.
    """
    saved = get_rng_state()
    seed_everything(seed)
    try:
        yield
    finally:
        set_rng_state(saved)


def select_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda, else mps, else cpu; an explicit device that is absent is a UserError."""
    if name not in DEVICE_CHOICES:
        raise UserError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    has_mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but CUDA is not available; use --device cpu")
    if name == "mps" and not has_mps:
        raise UserError("--device mps was asked for but MPS is not available; use --device cpu")
    return torch.device(name)


RUN_MARKERS = ("config.yaml", "metrics.csv", "checkpoints")


def _holds_run(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).exists() for name in RUN_MARKERS)


def _resumed_run_dir(resume: Path) -> Path:
    """The run folder of a checkpoint written by the Trainer: <run>/checkpoints/<name>.pt."""
    resume = resume.resolve()
    return resume.parent.parent if resume.parent.name == "checkpoints" else resume.parent


@contextlib.contextmanager
def run_folder(
    package: str,
    out: str | Path | None = None,
    *,
    resume: str | Path | None = None,
    overwrite: bool = False,
    root: str | Path = "runs",
) -> Iterator[Path]:
    """The run folder of a training command, created for the body and cleaned up on failure.

    - With `resume` and no `out`, training continues in place: the folder that holds the
      resumed checkpoint.
    - Otherwise `out`, or `root/<package>/<YYYYmmdd-HHMMSS>/` (suffixed if taken).
    - A folder that holds another run (config.yaml, metrics.csv or checkpoints/) is refused
      unless `overwrite`; resuming into the resumed run's own folder is always allowed.
    - If the body raises and this call created the folder, the folder is removed again unless
      it holds a checkpoint (which the error message may point to).
    """
    resumed = _resumed_run_dir(Path(resume)) if resume is not None else None
    if out is None and resumed is not None:
        path = resumed
    elif out is not None:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise OutputError(f"output folder {path} is a file; choose another output folder")
        same = resumed is not None and path.exists() and path.resolve() == resumed
        if not same and not overwrite:
            if _holds_run(path):
                raise OutputError(
                    f"output folder {path} holds another run; choose another folder or allow "
                    "overwriting it"
                )
            if path.is_dir() and any(path.iterdir()):
                raise OutputError(
                    f"output folder {path} is not empty; choose another folder or allow "
                    "overwriting it"
                )
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(root) / package / stamp
        n = 1
        while path.exists():
            path = Path(root) / package / f"{stamp}-{n}"
            n += 1
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the run folder {path}: {err.strerror}") from None
    try:
        yield path
    except BaseException:
        has_checkpoint = any((path / "checkpoints").glob("*.pt"))
        if created and not has_checkpoint:
            shutil.rmtree(path, ignore_errors=True)
        raise
