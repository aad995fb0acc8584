import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from sigshared.errors import DivergenceError
from sigshared.training import (
    EMA,
    Callback,
    Trainer,
    TrainerConfig,
    apply_common_arguments,
    load_checkpoint,
    save_checkpoint,
    warmup_cosine,
)


def _data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(n, 1, generator=g)
    return TensorDataset(x, y)


def _noisy_loss(model, batch):
    x, y = batch
    # Random noise in the loss makes resume depend on the RNG being restored exactly.
    pred = model(x + 0.01 * torch.randn_like(x))
    return {"loss": ((pred - y) ** 2).mean(), "mae": (pred - y).abs().mean()}


def _trainer(run_dir, **cfg):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.7)
    defaults = dict(batch_size=8, max_epochs=100, ema_decay=0.9, progress=False, seed=3)
    defaults.update(cfg)
    return Trainer(
        model,
        _noisy_loss,
        opt,
        TrainerConfig(**defaults),
        run_dir,
        scheduler=sched,
        device="cpu",
        extra_state={"norm": {"mean": torch.zeros(4)}},
    )


def test_checkpoint_round_trip_and_atomicity(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    state = {"w": torch.arange(5.0), "meta": {"step": 3, "name": "x"}}
    save_checkpoint(state, path)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["w"], state["w"]) and loaded["meta"] == state["meta"]

    def broken_save(obj, f):
        f.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"w": torch.zeros(5)}, path)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["w"], state["w"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]


def test_fit_writes_run_folder_and_learns(tmp_path):
    tr = _trainer(tmp_path, max_epochs=15)
    result = tr.fit(_data(), _data(16, seed=1))
    assert result.stop_reason == "max_epochs" and result.epochs == 15
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert len(rows) == 15 and {"train_loss", "val_loss", "val_mae", "lr"} <= set(rows[0])
    assert float(rows[-1]["val_loss"]) < 0.5 * float(rows[0]["val_loss"])
    ck = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert ck["step"] == 75 and ck["extra"]["norm"]["mean"].shape == (4,)
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert best["best_metric"] == pytest.approx(min(float(r["val_loss"]) for r in rows))


@pytest.mark.parametrize("accum", [1, 2])
def test_resume_equals_straight_run(tmp_path, accum):
    straight = _trainer(tmp_path / "a", max_steps=14, grad_accum_steps=accum)
    straight.fit(_data(), _data(16, 1))
    half = _trainer(tmp_path / "b", max_steps=7, grad_accum_steps=accum)
    half.fit(_data(), _data(16, 1))
    resumed = _trainer(tmp_path / "b", max_steps=14, grad_accum_steps=accum)
    resumed.fit(_data(), _data(16, 1), resume_from=tmp_path / "b" / "checkpoints" / "last.pt")
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(straight.ema.state_dict().values(), resumed.ema.state_dict().values()):
        assert torch.equal(a, b)
    assert straight.step == resumed.step == 14


def _cosine_trainer(run_dir, total):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(2, total, 0.1))
    cfg = TrainerConfig(batch_size=8, max_steps=20, progress=False, seed=3)
    return Trainer(model, _noisy_loss, opt, cfg, run_dir, scheduler=sched, device="cpu")


def test_resume_with_a_restretched_schedule_says_so_and_follows_it(tmp_path, capsys):
    first = _cosine_trainer(tmp_path, total=12)
    first.config.max_steps = 10
    first.fit(_data())
    ckpt = tmp_path / "checkpoints" / "last.pt"
    capsys.readouterr()

    same = _cosine_trainer(tmp_path, total=12)
    same.load(ckpt)
    assert "schedule differs" not in capsys.readouterr().err
    assert same.optimizer.param_groups[0]["lr"] == pytest.approx(
        1e-2 * warmup_cosine(2, 12, 0.1)(10)
    )

    longer = _cosine_trainer(tmp_path, total=100)
    longer.load(ckpt)
    assert "schedule differs" in capsys.readouterr().err
    # the first resumed step already runs on the new schedule, not the decayed old one
    assert longer.optimizer.param_groups[0]["lr"] == pytest.approx(
        1e-2 * warmup_cosine(2, 100, 0.1)(10)
    )
    assert longer.optimizer.param_groups[0]["lr"] > 5 * same.optimizer.param_groups[0]["lr"]


def test_nan_loss_skipped_then_stops(tmp_path, capsys):
    calls = {"n": 0}

    def flaky(model, batch):
        calls["n"] += 1
        out = _noisy_loss(model, batch)
        if calls["n"] == 2:
            out["loss"] = out["loss"] * float("nan")
        return out

    tr = _trainer(tmp_path, max_steps=4)
    tr.loss_step = flaky
    tr.fit(_data())
    assert tr.step == 4 and tr.skipped_steps == 1
    assert "non-finite loss at step 1" in capsys.readouterr().err

    def always_nan(model, batch):
        return {"loss": model(batch[0]).sum() * float("nan")}

    tr2 = _trainer(tmp_path / "nan", max_steps=50, max_nonfinite_steps=3)
    tr2.loss_step = always_nan
    with pytest.raises(DivergenceError, match="3 consecutive steps.*no checkpoint was written"):
        tr2.fit(_data())
    assert not (tmp_path / "nan" / "checkpoints" / "last.pt").exists()


def test_early_stopping_and_callbacks(tmp_path):
    seen = []

    class Recorder(Callback):
        def on_validation_end(self, trainer, metrics):
            seen.append(metrics["val_loss"])
            torch.rand(100)  # callbacks must not shift the training RNG

    def constant(model, batch):
        return {"loss": (model(batch[0]) * 0).sum() + 1.0}

    tr = _trainer(tmp_path, early_stopping_patience=2, max_epochs=50)
    tr.loss_step = constant
    tr.callbacks = [Recorder()]
    result = tr.fit(_data(), _data(8, 1))
    assert result.stop_reason == "early_stopping" and result.epochs == 3 and len(seen) == 3


def test_ema_closed_form():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = EMA(model, decay=0.9, warmup=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)
    ema.update(model)
    assert ema.module.weight.item() == pytest.approx(1 - 0.9**2)


def test_ema_averages_float_buffers_and_copies_counters():
    model = torch.nn.BatchNorm1d(1)
    ema = EMA(model, decay=0.5, warmup=False)
    with torch.no_grad():
        model.running_mean.fill_(2.0)
        model.num_batches_tracked.fill_(7)
    ema.update(model)
    ema.update(model)
    assert ema.module.running_mean.item() == pytest.approx(2.0 * (1 - 0.5**2))
    assert ema.module.running_var.item() == pytest.approx(1.0)
    assert int(ema.module.num_batches_tracked) == 7


DDP_SCRIPT = """
import sys, torch
from torch import nn
from torch.utils.data import TensorDataset
from sigshared.training import Trainer, TrainerConfig
torch.manual_seed(0)
x = torch.randn(64, 4); y = x.sum(1, keepdim=True)
model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
def loss_step(m, b):
    return {"loss": ((m(b[0]) - b[1]) ** 2).mean()}
tr = Trainer(model, loss_step, opt, TrainerConfig(batch_size=8, max_epochs=2, progress=False),
             sys.argv[1], device="cpu")
assert tr.dist.world_size == 2
tr.fit(TensorDataset(x, y), TensorDataset(x[:16], y[:16]))
with open(f"{sys.argv[1]}.rank{tr.dist.rank}", "w") as fh:
    fh.write(f"rank {tr.dist.rank} steps {tr.step} w {model.weight.detach().sum().item()!r}")
"""


def test_ddp_gloo_two_processes(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Each rank writes its own file: interleaved stdout from two processes is not parseable.
    lines = [(tmp_path / f"run.rank{r}").read_text() for r in (0, 1)]
    # 64 samples / 2 ranks / batch 8 = 4 steps per epoch; weights identical on both ranks.
    assert lines[0].split()[3] == "8" and lines[0].split()[5] == lines[1].split()[5]
    ckpts = sorted(p.name for p in Path(tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts == ["best.pt", "last.pt"]


def test_warmup_cosine_closed_form():
    f = warmup_cosine(warmup=4, total=14, min_ratio=0.1)
    assert [f(s) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert f(9) == pytest.approx(0.1 + 0.9 * 0.5)  # halfway through the cosine
    assert f(14) == pytest.approx(0.1) and f(100) == pytest.approx(0.1)
    no_warmup = warmup_cosine(0, 10)
    assert no_warmup(0) == pytest.approx(1.0) and no_warmup(10) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="min_ratio"):
        warmup_cosine(0, 10, min_ratio=2.0)


def test_apply_common_arguments_seed_and_quiet():
    import argparse

    cfg = TrainerConfig(seed=42, progress=True)
    apply_common_arguments(cfg, argparse.Namespace(seed=None, quiet=False))
    assert cfg.seed == 42 and cfg.progress is True
    apply_common_arguments(cfg, argparse.Namespace(seed=7, quiet=True))
    assert cfg.seed == 7 and cfg.progress is False
