"""The hardened command layer: checked numeric flags, output paths, atomic outputs, run
folders, config files, checkpoint identity, divergence and best.pt."""

import argparse
import os

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from sigshared.cli import bounded_int, check_output_path, finite_float
from sigshared.errors import CheckpointError, ConfigError, DivergenceError, OutputError
from sigshared.files import atomic_output, output_dir, unique_temp_path
from sigshared.training import Trainer, TrainerConfig, load_checkpoint, load_config, run_folder


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="x")
    p.add_argument("--gain", type=finite_float(-10, 10))
    p.add_argument("--rate", type=finite_float(0, None, lo_open=True))
    p.add_argument("--n", type=bounded_int(1, 5))
    return p


@pytest.mark.parametrize(
    "argv",
    [
        ["--gain", "nan"],
        ["--gain", "inf"],
        ["--gain", "-inf"],
        ["--gain", "11"],
        ["--gain", "abc"],
        ["--rate", "0"],
        ["--rate", "-1e-9"],
        ["--n", "0"],
        ["--n", "6"],
        ["--n", "2.5"],
    ],
)
def test_numeric_flags_refuse_bad_values_with_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert argv[0] in err


def test_numeric_flags_accept_the_range_ends():
    args = _parser().parse_args(["--gain", "-10", "--rate", "1e-9", "--n", "5"])
    assert (args.gain, args.rate, args.n) == (-10.0, 1e-9, 5)


def test_check_output_path(tmp_path):
    ok = check_output_path(tmp_path / "new" / "deeper" / "out.wav", suffixes=(".wav", ".flac"))
    assert ok.name == "out.wav" and not (tmp_path / "new").exists()  # creates nothing
    with pytest.raises(OutputError, match="unknown format '.mp4'"):
        check_output_path(tmp_path / "out.mp4", suffixes=(".wav",))
    existing = tmp_path / "taken.wav"
    existing.write_bytes(b"x")
    with pytest.raises(OutputError, match="already exists"):
        check_output_path(existing, suffixes=(".WAV",))
    assert check_output_path(existing, overwrite=True) == existing
    with pytest.raises(OutputError, match="is a folder"):
        check_output_path(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output_path(blocker / "out.wav")


def test_check_output_path_unwritable(tmp_path, monkeypatch):
    # Tests may run as root, who can write anywhere: ask os.access the way a normal user would.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(OutputError, match="is not writable"):
        check_output_path(tmp_path / "sub" / "out.wav")


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "a" / "b" / "out.csv"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert not (tmp_path / "a").exists()
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp.name != target.name
        tmp.write_text("whole")
    assert target.read_text() == "whole"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.csv"]


def test_unique_temp_paths_differ():
    names = {unique_temp_path("/x/cache.npy") for _ in range(50)}
    assert len(names) == 50
    assert all(n.name.startswith(".cache.npy.") and n.suffix == ".tmp" for n in names)


def test_output_dir(tmp_path):
    with pytest.raises(ValueError):
        with output_dir(tmp_path / "o") as d:
            (d / "part.png").write_bytes(b"x")
            raise ValueError("fail")
    assert not (tmp_path / "o").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "mine.txt").write_text("user data")
    with pytest.raises(OutputError, match="not empty"):
        with output_dir(kept):
            pass
    with pytest.raises(ValueError):
        with output_dir(kept, overwrite=True):
            raise ValueError("fail")
    assert (kept / "mine.txt").read_text() == "user data"  # never removes what it did not make


def _run(path, name="last.pt"):
    (path / "checkpoints").mkdir(parents=True)
    torch.save({"x": 1}, path / "checkpoints" / name)
    (path / "config.yaml").write_text("a: 1\n")


def test_run_folder_resumes_in_place_and_protects_other_runs(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    _run(a)
    _run(b)
    with run_folder("pkg", resume=a / "checkpoints" / "last.pt") as d:
        assert d == a.resolve()
    with run_folder("pkg", a, resume=a / "checkpoints" / "last.pt") as d:
        assert d == a
    with pytest.raises(OutputError, match="holds another run"):
        with run_folder("pkg", b, resume=a / "checkpoints" / "last.pt"):
            pass
    assert (b / "checkpoints" / "last.pt").exists()
    with pytest.raises(OutputError, match="holds another run"):
        with run_folder("pkg", b):
            pass
    with run_folder("pkg", b, overwrite=True) as d:
        assert d == b


def test_run_folder_removed_on_failure_unless_it_holds_a_checkpoint(tmp_path):
    with pytest.raises(KeyError):
        with run_folder("pkg", root=tmp_path / "runs") as d:
            (d / "config.yaml").write_text("a: 1\n")
            raise KeyError("x")
    assert not any((tmp_path / "runs" / "pkg").iterdir())
    with pytest.raises(KeyError):
        with run_folder("pkg", tmp_path / "c") as d:
            _run(d)
            raise KeyError("x")
    assert (tmp_path / "c" / "checkpoints" / "last.pt").exists()


def test_config_files_empty_binary_or_not_a_mapping_refused(tmp_path):
    cases = {"empty.yaml": b"", "blank.yaml": b"\n# only a comment\n", "list.yaml": b"- 1\n- 2\n"}
    cases["binary.yaml"] = bytes(range(256))
    cases["latin.yaml"] = "a: \xe9t\xe9\n".encode("latin-1")
    messages = {
        "empty.yaml": "is empty",
        "blank.yaml": "is empty",
        "list.yaml": "must be a mapping",
        "binary.yaml": "is binary",
        "latin.yaml": "not UTF-8",
    }
    for name, raw in cases.items():
        path = tmp_path / name
        path.write_bytes(raw)
        with pytest.raises(ConfigError, match=messages[name]):
            load_config(TrainerConfig, path)


@pytest.mark.parametrize(
    "key,value",
    [
        ("max_steps", 0),
        ("max_steps", -3),
        ("max_epochs", 0),
        ("batch_size", 0),
        ("max_minutes", float("nan")),
        ("max_minutes", 0.0),
        ("grad_clip", float("inf")),
        ("ema_decay", 1.0),
    ],
)
def test_trainer_config_refuses_impossible_values(key, value):
    with pytest.raises(ConfigError, match=f"trainer.{key}"):
        TrainerConfig(**{key: value})


def test_checkpoint_identity(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"package": "abr_diffusion", "kind": "generator", "model": {}}, foreign)
    with pytest.raises(CheckpointError, match="is an abr_diffusion checkpoint, not a teb_vae one"):
        load_checkpoint(foreign, package="teb_vae")
    with pytest.raises(CheckpointError, match="is a generator checkpoint, not a classifier one"):
        load_checkpoint(foreign, package="abr_diffusion", kind="classifier")
    assert load_checkpoint(foreign, package="abr_diffusion", kind="generator")["model"] == {}
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(foreign.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a readable checkpoint") as exc:
        load_checkpoint(corrupt)
    assert "weights_only" not in str(exc.value)


def _trainer(run_dir, lr=1e-2, **cfg):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    config = TrainerConfig(batch_size=8, progress=False, ema_decay=None, **cfg)

    def loss_step(net, batch):
        return {"loss": ((net(batch[0]) - batch[1]) ** 2).mean()}

    return Trainer(
        model,
        loss_step,
        opt,
        config,
        run_dir,
        device="cpu",
        checkpoint_meta={"package": "pkg", "kind": "toy"},
    )


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=g)
    return TensorDataset(x, x.sum(1, keepdim=True) * 100)


def test_trainer_stamps_checkpoints_and_always_writes_best(tmp_path):
    result = _trainer(tmp_path / "r", max_steps=3, monitor="val_missing").fit(_data())
    best = tmp_path / "r" / "checkpoints" / "best.pt"
    assert result.best_checkpoint == best and best.exists()
    state = load_checkpoint(best, package="pkg", kind="toy")
    assert (state["package"], state["kind"], state["step"]) == ("pkg", "toy", 3)
    other = _trainer(tmp_path / "r2", max_steps=3)
    other.checkpoint_meta = {"package": "pkg", "kind": "other"}
    with pytest.raises(CheckpointError, match="is a toy checkpoint, not an other one"):
        other.fit(_data(), resume_from=best)


def test_divergence_names_the_last_finite_checkpoint(tmp_path):
    tr = _trainer(
        tmp_path / "d",
        lr=1e6,
        max_epochs=50,
        max_nonfinite_steps=2,
        checkpoint_every_steps=1,
        grad_clip=None,
    )
    with pytest.raises(DivergenceError, match="training diverged") as exc:
        tr.fit(_data())
    message = str(exc.value)
    last = (tmp_path / "d" / "checkpoints" / "last.pt").resolve()
    assert ("no checkpoint was written" in message) != (str(last) in message)
    if str(last) in message:
        assert torch.isfinite(load_checkpoint(last)["model"]["weight"]).all()
