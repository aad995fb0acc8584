"""The layout of DESIGN.md, member independence, the README and the CI configuration."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from workspace_paths import ROOT, member_dirs, project_table


def _import_names(module_root: Path) -> set[str]:
    """Top-level names of every absolute import in the .py files under `module_root`."""
    names: set[str] = set()
    for py in module_root.rglob("*.py"):
        tree = ast.parse(py.read_text(), filename=str(py))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def _import_name(member: Path) -> str:
    return project_table(member)["name"].replace("-", "_")


def test_layout_exists():
    for path in (
        "pyproject.toml",
        "uv.lock",
        "README.md",
        ".ci/run",
        ".github/workflows/ci.yml",
        "shared/pyproject.toml",
        "shared/src/sigshared/__init__.py",
        "shared/tests",
        "tests",
    ):
        assert (ROOT / path).exists(), path
    for module in ("schedules", "losses", "metrics", "plotting", "errors", "files", "cli"):
        assert (ROOT / "shared/src/sigshared" / f"{module}.py").is_file(), module
    assert (ROOT / "shared/src/sigshared/diffusion/__init__.py").is_file()
    for module in ("config", "checkpoint", "ema", "trainer", "distributed"):
        assert (ROOT / "shared/src/sigshared/training" / f"{module}.py").is_file(), module


def test_root_is_a_virtual_workspace_that_never_downloads_python():
    with open(ROOT / "pyproject.toml", "rb") as f:
        root = tomllib.load(f)
    assert root["tool"]["uv"]["package"] is False
    assert root["tool"]["uv"]["python-downloads"] == "never"
    assert set(root["tool"]["uv"]["workspace"]["members"]) == {"shared", "packages/*"}
    assert "--import-mode=importlib" in root["tool"]["pytest"]["ini_options"]["addopts"]


@pytest.mark.parametrize("member", member_dirs(), ids=lambda p: p.name)
def test_member_layout(member: Path):
    name = _import_name(member)
    assert (member / "src" / name / "__init__.py").is_file()
    assert (member / "tests").is_dir()
    assert (member / "benchmarks").is_dir()
    assert (member / "README.md").is_file()
    project = project_table(member)
    assert project.get("readme") == "README.md"
    assert "sigshared" in " ".join(project["dependencies"])
    assert project.get("scripts"), f"{member.name} declares no console scripts"


def test_no_member_imports_another_and_sigshared_imports_none():
    members = {_import_name(m): m for m in member_dirs()}
    for name, member in members.items():
        others = set(members) - {name}
        used = _import_names(member / "src") | _import_names(member / "tests")
        assert not used & others, f"{name} imports another member: {sorted(used & others)}"
    shared_used = _import_names(ROOT / "shared" / "src") | _import_names(ROOT / "shared" / "tests")
    assert not shared_used & set(members), sorted(shared_used & set(members))


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci/run").read_text()
    assert "set -euo pipefail" in ci
    assert "uv sync --all-packages --locked" in ci
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines()]
    test_command = "uv run pytest"
    assert test_command in commands
    assert test_command in [line.strip() for line in ci.splitlines()]


def test_readme_names_every_member():
    readme = (ROOT / "README.md").read_text()
    for member in member_dirs():
        assert f"`{_import_name(member)}`" in readme, member.name


def test_workflow_has_a_job_per_package_a_workspace_job_and_lint():
    wf = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    jobs = wf["jobs"]
    assert {"workspace", "lint"} <= set(jobs)
    matrix = jobs["package"]["strategy"]["matrix"]["include"]
    by_name = {entry["package"]: entry["path"] for entry in matrix}
    assert by_name.get("sigshared") == "shared"
    for member in member_dirs():
        dist = project_table(member)["name"]
        assert by_name.get(dist) == f"packages/{member.name}", f"no CI job for {dist}"
    steps = " ".join(step.get("run", "") for step in jobs["package"]["steps"])
    assert "uv sync --package ${{ matrix.package }}" in steps


def test_workflow_validates_against_the_github_schema():
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    proc = subprocess.run(
        [
            exe,
            "--builtin-schema",
            "vendor.github-workflows",
            str(ROOT / ".github/workflows/ci.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


SKELETON = ("config.py", "model.py", "data.py", "synthetic.py", "objective.py", "checkpoint.py")


def _applications() -> list[Path]:
    """Each member's source package, or, for spectro_diffusion, each of its applications."""
    apps = []
    for member in member_dirs():
        src = member / "src" / _import_name(member)
        subs = [p.parent for p in src.glob("*/config.py")]
        apps.extend(sorted(subs) if subs and not (src / "config.py").exists() else [src])
    return apps


@pytest.mark.parametrize("app", _applications(), ids=lambda p: p.name)
def test_every_application_has_the_skeleton(app: Path):
    missing = [name for name in SKELETON if not (app / name).is_file()]
    assert not missing, f"{app} lacks {missing}"
    assert (app / "cli" / "__init__.py").is_file(), f"{app} has no cli/ package"
    scripts = {m.stem for m in (app / "cli").glob("*.py")} - {"__init__"}
    assert scripts, f"{app}/cli holds no console-script module"


@pytest.mark.parametrize("app", _applications(), ids=lambda p: p.name)
def test_library_modules_never_import_cli(app: Path):
    for py in app.rglob("*.py"):
        if "cli" in py.relative_to(app).parts:
            continue
        tree = ast.parse(py.read_text(), filename=str(py))
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.ImportFrom):
                mods = [("." * node.level) + (node.module or "")]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            for mod in mods:
                assert ".cli" not in f".{mod}" or mod.startswith("sigshared"), f"{py} imports {mod}"


def test_console_scripts_point_into_cli():
    for member in member_dirs():
        for name, target in project_table(member)["scripts"].items():
            module = target.split(":")[0]
            assert ".cli." in module, f"{name} -> {target} is not a cli/ module"


def test_readme_code_fences_are_closed():
    for readme in [ROOT / "README.md", ROOT / "shared" / "README.md"] + [
        m / "README.md" for m in member_dirs()
    ]:
        fences = [ln for ln in readme.read_text().splitlines() if ln.lstrip().startswith("```")]
        assert len(fences) % 2 == 0, f"{readme} has an unclosed code fence"
