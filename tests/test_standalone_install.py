"""Each member installs on its own with only `sigshared` beside it, and its scripts answer --help.

The versions come from the workspace lock (`uv export`), so the install reuses uv's cache and
is the same set of wheels the workspace tests ran against. Other members are not installed:
an import of another member would fail here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from workspace_paths import ROOT, member_dirs, project_table

UV = shutil.which("uv")
MEMBERS = member_dirs()


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=900, **kwargs)


@pytest.mark.skipif(UV is None, reason="uv is not on PATH")
@pytest.mark.skipif(not MEMBERS, reason="no member package exists yet")
@pytest.mark.parametrize("member", MEMBERS, ids=lambda p: p.name)
def test_member_installs_alone_and_scripts_answer_help(member: Path, tmp_path: Path):
    project = project_table(member)
    requirements = tmp_path / "requirements.txt"
    export = _run(
        [
            UV,
            "export",
            "--frozen",
            "--no-dev",
            "--no-hashes",
            "--no-emit-workspace",
            "--package",
            project["name"],
            "-o",
            str(requirements),
        ],
        cwd=ROOT,
    )
    assert export.returncode == 0, export.stderr
    venv = tmp_path / "venv"
    made = _run([UV, "venv", "--python", sys.executable, str(venv)])
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    install = _run(
        [
            UV,
            "pip",
            "install",
            "--python",
            str(python),
            "-r",
            str(requirements),
            str(ROOT / "shared"),
            str(member),
        ],
        cwd=tmp_path,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    others = [project_table(m)["name"] for m in MEMBERS if m != member]
    listed = _run([UV, "pip", "list", "--python", str(python)]).stdout
    for other in others:
        assert other not in listed, f"{other} was installed beside {project['name']}"
    for script in project["scripts"]:
        proc = _run([str(venv / "bin" / script), "--help"], cwd=tmp_path)
        assert proc.returncode == 0, f"{script} --help failed:\n{proc.stderr[-2000:]}"
        assert "usage:" in proc.stdout
