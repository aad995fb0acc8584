"""Writing outputs so that a failure leaves nothing behind and no two processes collide.

`atomic_output` writes a file under a temporary sibling name and renames it into place only
when the body succeeded; `output_dir` does the same for a folder of outputs (it is removed again
if the command fails and the folder was created by it). `unique_temp_path` names temporary files
per process and per call, so two commands sharing a cache never write the same temporary file.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from sigshared.errors import OutputError

_counter = itertools.count()


def unique_temp_path(path: str | Path) -> Path:
    """A hidden sibling of `path` unique to this process and call: `.<name>.<pid>-<n>.tmp`.

    The suffix of `path` is kept before `.tmp` is appended, so libraries that choose a format
    from the extension can be told it explicitly; the name is never the final one.
    """
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}-{next(_counter)}.tmp")


def _created_parents(folder: Path) -> list[Path]:
    """The folders, deepest first, that `folder.mkdir(parents=True)` would create."""
    missing = []
    p = folder
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    return missing


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` when the body succeeds.

    On an exception the temporary file is deleted, and so are the parent folders this call
    created, so a failed command leaves nothing behind. The rename is atomic on one file system:
    readers see the old file or the complete new one, never a partial one.
    """
    final = Path(path)
    created = _created_parents(final.parent)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the folder {final.parent}: {err.strerror}") from None
    tmp = unique_temp_path(final)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file for {final}")
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


@contextlib.contextmanager
def output_dir(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Create the output folder `path` for the body; remove it again if the body fails.

    A folder that exists and holds files is refused unless `overwrite` (its files may then be
    replaced, one by one, by the body). Only a folder created by this call is ever removed.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"output folder {folder} is a file; choose another output folder")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise OutputError(
            f"output folder {folder} is not empty; choose another folder or allow overwriting"
        )
    created = _created_parents(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the output folder {folder}: {err.strerror}") from None
    try:
        yield folder
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
            for parent in created[1:]:
                with contextlib.suppress(OSError):
                    parent.rmdir()
        raise
