"""Command-line plumbing: user errors that exit 2 with one line, shared flags, checked numeric
flags and output paths.

Every console script of the workspace is a `main` wrapped in `cli_entry`. Numeric flags use
`finite_float` / `bounded_int` as their argparse `type`, so NaN, Inf and out-of-range values are
refused by argparse itself (exit 2, naming the flag and the valid range) before any work starts.
Output paths go through `check_output_path` before any work, and are then written with
`sigshared.files.atomic_output`.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from sigshared.errors import OutputError, UserError


def cli_entry(main: Callable[..., int | None]) -> Callable[..., int]:
    """Wrap a console-script function: UserError -> stderr line + exit 2, crash -> exit 1."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        prog = Path(sys.argv[0]).name
        try:
            code = main(*args, **kwargs)
        except UserError as err:
            print(f"{prog}: error: {err}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            sys.exit(130)
        except Exception:
            traceback.print_exc()
            print(
                f"{prog}: internal error (the traceback above); please report it", file=sys.stderr
            )
            sys.exit(1)
        sys.exit(0 if code is None else int(code))

    return wrapper


def add_common_arguments(
    parser: argparse.ArgumentParser, default_config: str | None = "demo"
) -> None:
    """The flags every training / inference CLI shares (no --config / --set when None)."""
    if default_config is not None:
        parser.add_argument(
            "--config",
            default=default_config,
            help="config name shipped with the package or a YAML file path "
            f"(default: {default_config})",
        )
        parser.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="SECTION.KEY=VALUE",
            help="override one config value (YAML syntax), e.g. --set trainer.max_epochs=5; "
            "repeatable",
        )
    parser.add_argument(
        "--out",
        default=None,
        help="output folder (default: runs/<package>/<YYYYmmdd-HHMMSS>/)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda", "mps"],
        help="where to run: auto picks cuda, then mps, then cpu (default: auto)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed (default: the config's)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="allow replacing existing output files",
    )


def require_file(path: str | Path, what: str) -> Path:
    """`path` as a Path if it is an existing file, else a UserError naming `what`."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{what} not found: {p}")
    if not p.is_file():
        raise UserError(f"{what} is not a file: {p}")
    return p


def refuse_overwrite(path: str | Path, overwrite: bool) -> Path:
    """`path` as a Path, or a UserError if it exists and `overwrite` is not set."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise UserError(f"{p} already exists; choose another output or pass --overwrite")
    return p


def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return "finite"


def finite_float(
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> Callable[[str], float]:
    """An argparse `type=` that accepts finite floats within [lo, hi] (open ends if asked).

    NaN, Inf and values outside the range raise `argparse.ArgumentTypeError`, which argparse
    reports as one line naming the flag, then exits with code 2.
    """
    wanted = _range_text(lo, hi, lo_open, hi_open)

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        bad = not math.isfinite(value)
        if lo is not None:
            bad = bad or value < lo or (lo_open and value == lo)
        if hi is not None:
            bad = bad or value > hi or (hi_open and value == hi)
        if bad:
            raise argparse.ArgumentTypeError(f"expected a finite number {wanted}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def bounded_int(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An argparse `type=` that accepts integers within [lo, hi]; see `finite_float`."""
    wanted = _range_text(lo, hi, False, False).replace("finite", "any")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"expected an integer {wanted}, got {text}")
        return value

    parse.__name__ = "integer"
    return parse


def check_output_path(
    path: str | Path,
    *,
    suffixes: Sequence[str] | None = None,
    overwrite: bool = False,
    what: str = "output",
) -> Path:
    """`path` as a Path once it is known to be writable; creates nothing.

    Refused with `OutputError`: an extension not in `suffixes` (compared case-insensitively;
    None accepts any), an existing file without `overwrite`, an existing folder, and a parent
    folder that cannot be created or written. Call it before any work, so a mistake costs
    nothing.
    """
    p = Path(path)
    if suffixes is not None and p.suffix.lower() not in {s.lower() for s in suffixes}:
        known = ", ".join(suffixes)
        raise OutputError(
            f"{what} {p}: unknown format {p.suffix or '(no extension)'!r}; use {known}"
        )
    if p.is_dir():
        raise OutputError(f"{what} {p} is a folder; give a file name")
    if p.exists() and not overwrite:
        raise OutputError(f"{what} {p} already exists; choose another name or pass --overwrite")
    parent = p.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{what} {p}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {p}: the folder {parent} is not writable")
    return p
