import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from sigshared.cli import cli_entry, refuse_overwrite, require_file
from sigshared.errors import UserError
from sigshared.training import ConfigError, TrainerConfig, load_config, save_config
from sigshared.training.runtime import run_folder


@dataclass
class ModelCfg:
    width: int = 8
    dropout: float = 0.1
    kernels: tuple[int, ...] = (3, 7)
    name: str | None = None


@dataclass
class Cfg:
    model: ModelCfg = field(default_factory=ModelCfg)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    lr: float = 1e-4


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  width: 16\n  kernels: [3, 5, 9]\nlr: 1e-3\n")
    cfg = load_config(Cfg, path, ["model.dropout=0.5", "trainer.max_epochs=3", "lr=2e-4"])
    assert cfg.model.width == 16 and cfg.model.kernels == (3, 5, 9)
    assert cfg.model.dropout == 0.5 and cfg.trainer.max_epochs == 3 and cfg.lr == 2e-4
    out = save_config(cfg, tmp_path / "resolved.yaml")
    assert load_config(Cfg, out) == cfg


def test_unknown_key_names_it_and_lists_valid(tmp_path):
    with pytest.raises(ConfigError, match=r"'model.widht'.*valid keys.*width, dropout, kernels"):
        load_config(Cfg, None, ["model.widht=3"])
    with pytest.raises(ConfigError, match="expected an integer"):
        load_config(Cfg, None, ["model.width=abc"])
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Cfg, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Cfg, bad)
    assert issubclass(ConfigError, UserError)


def test_cli_entry_exit_codes(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(
        "import sys\nfrom sigshared.cli import UserError, cli_entry\n"
        "@cli_entry\ndef main():\n"
        "    if sys.argv[1] == 'user': raise UserError('input.csv not found: fix the path')\n"
        "    if sys.argv[1] == 'bug': raise RuntimeError('boom')\n"
        "main()\n"
    )
    ok = subprocess.run([sys.executable, script, "ok"], capture_output=True, text=True)
    assert ok.returncode == 0
    user = subprocess.run([sys.executable, script, "user"], capture_output=True, text=True)
    assert user.returncode == 2
    assert user.stderr.strip().endswith("error: input.csv not found: fix the path")
    assert "Traceback" not in user.stderr and len(user.stderr.strip().splitlines()) == 1
    bug = subprocess.run([sys.executable, script, "bug"], capture_output=True, text=True)
    assert bug.returncode == 1 and "RuntimeError: boom" in bug.stderr
    assert callable(cli_entry)


def test_file_guards(tmp_path):
    with pytest.raises(UserError, match="data file not found"):
        require_file(tmp_path / "x.csv", "data file")
    f = tmp_path / "out.wav"
    f.write_text("mine")
    with pytest.raises(UserError, match="--overwrite"):
        refuse_overwrite(f, overwrite=False)
    assert refuse_overwrite(f, overwrite=True) == f
    with run_folder("pkg", tmp_path / "run") as run:
        (run / "keep.txt").write_text("x")
    with pytest.raises(UserError, match="not empty"):
        with run_folder("pkg", run):
            pass
    assert (run / "keep.txt").read_text() == "x"
    with run_folder("pkg", root=tmp_path / "runs") as auto:
        assert auto.parent == tmp_path / "runs" / "pkg"
