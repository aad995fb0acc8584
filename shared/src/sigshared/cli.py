"""Command-line plumbing: user errors that exit 2 with one line, shared flags, file checks."""

from __future__ import annotations

import argparse
import functools
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from sigshared.errors import UserError


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
