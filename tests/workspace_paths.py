"""Shared helpers of the workspace tests: where things are and what the members are."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def member_dirs() -> list[Path]:
    """Every member under packages/ (a folder with a pyproject.toml)."""
    return sorted(p.parent for p in (ROOT / "packages").glob("*/pyproject.toml"))


def project_table(member: Path) -> dict:
    with open(member / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]
