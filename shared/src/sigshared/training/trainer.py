"""The one training loop of the workspace.

Members supply a model, `loss_step(model, batch) -> dict[str, Tensor]` (with a "loss" entry to
minimise; every other entry is logged), an optimizer, an optional per-step LR scheduler and
callbacks. The Trainer owns the device, AMP (CUDA only), gradient accumulation, clipping, EMA,
the non-finite-loss guard, checkpoints (last / best, atomic), exact resume, early stopping,
the progress bar, the CSV metrics log (optional TensorBoard) and DDP under torchrun.

Exact resume: the data order of epoch e is a function of (seed, e) alone, the checkpoint
records how many batches of the current epoch were consumed, and validation and callbacks run
with isolated RNG, so N steps straight and N/2 + resume + N/2 give the same weights on CPU.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from tqdm.auto import tqdm

from sigshared.errors import CheckpointError, ConfigError, DivergenceError, UserError
from sigshared.training.checkpoint import load_checkpoint, save_checkpoint
from sigshared.training.distributed import (
    DistributedContext,
    all_reduce_sum,
    barrier,
    init_distributed,
    shutdown,
)
from sigshared.training.ema import EMA
from sigshared.training.runtime import get_rng_state, isolated_rng, select_device, set_rng_state

LossStep = Callable[[nn.Module, Any], dict[str, torch.Tensor]]


@dataclass
class TrainerConfig:
    """Settings of the training loop; members embed it as the `trainer` section of a config."""

    batch_size: int = 32
    max_epochs: int = 100
    max_steps: int | None = None
    max_minutes: float | None = None
    grad_accum_steps: int = 1
    grad_clip: float | None = 1.0
    amp: bool = True
    amp_dtype: str = "bfloat16"
    ema_decay: float | None = 0.999
    ema_warmup: bool = True
    validate_every_epochs: int = 1
    validate_with_ema: bool = True
    checkpoint_every_epochs: int = 1
    checkpoint_every_steps: int | None = None
    early_stopping_patience: int | None = None
    monitor: str = "val_loss"
    monitor_mode: str = "min"
    max_nonfinite_steps: int = 5
    num_workers: int = 0
    pin_memory: bool = True
    shuffle: bool = True
    drop_last: bool = False
    tensorboard: bool = False
    progress: bool = True
    seed: int = 42

    def __post_init__(self) -> None:
        at_least_one = {
            "grad_accum_steps": self.grad_accum_steps,
            "batch_size": self.batch_size,
            "max_epochs": self.max_epochs,
            "max_steps": self.max_steps,
            "validate_every_epochs": self.validate_every_epochs,
            "checkpoint_every_epochs": self.checkpoint_every_epochs,
            "checkpoint_every_steps": self.checkpoint_every_steps,
            "early_stopping_patience": self.early_stopping_patience,
            "max_nonfinite_steps": self.max_nonfinite_steps,
        }
        for name, value in at_least_one.items():
            if value is not None and value < 1:
                raise ConfigError(f"trainer.{name} must be an integer >= 1, got {value}")
        for name, value in {"max_minutes": self.max_minutes, "grad_clip": self.grad_clip}.items():
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"trainer.{name} must be finite and > 0, or null; got {value}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"trainer.ema_decay must be in (0, 1) or null, got {self.ema_decay}")
        if self.num_workers < 0:
            raise ConfigError(f"trainer.num_workers must be >= 0, got {self.num_workers}")
        if self.monitor_mode not in ("min", "max"):
            raise ConfigError(
                f"trainer.monitor_mode must be 'min' or 'max', got {self.monitor_mode!r}"
            )
        if self.amp_dtype not in ("bfloat16", "float16"):
            raise ConfigError(
                f"trainer.amp_dtype must be 'bfloat16' or 'float16', got {self.amp_dtype!r}"
            )


def apply_common_arguments(config: TrainerConfig, args: Any) -> None:
    """Apply the `--seed` and `--quiet` flags of `sigshared.cli.add_common_arguments` to a
    trainer config: a given seed replaces the config's, `--quiet` turns the progress bar off."""
    if getattr(args, "seed", None) is not None:
        config.seed = args.seed
    if getattr(args, "quiet", False):
        config.progress = False


class Callback:
    """Hooks called on rank 0 only, with the global RNG isolated from training."""

    def on_step_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        """After each optimizer step; `logs` holds this step's loss entries."""

    def on_validation_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        """After each validation; `metrics` holds the epoch's train_* and val_* means."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """Once, after the last checkpoint is written."""


@dataclass
class FitResult:
    steps: int
    epochs: int
    stop_reason: str
    best_metric: float | None
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    history: list[dict[str, float]] = field(default_factory=list)


class _SkipSampler(Sampler[int]):
    """The indices of `sampler` after the first `skip` (to resume inside an epoch)."""

    def __init__(self, sampler: Sampler[int], skip: int) -> None:
        self.sampler, self.skip = sampler, skip

    def __iter__(self) -> Iterator[int]:
        it = iter(self.sampler)
        for _ in range(self.skip):
            next(it, None)
        yield from it

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)


def _to_device(batch: Any, device: torch.device, non_blocking: bool) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, dict):
        return {k: _to_device(v, device, non_blocking) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        moved = [_to_device(v, device, non_blocking) for v in batch]
        return type(batch)(moved) if isinstance(batch, list) else tuple(moved)
    return batch


def _batch_size(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, dict):
        return _batch_size(next(iter(batch.values())))
    if isinstance(batch, list | tuple):
        return _batch_size(batch[0])
    raise TypeError(f"cannot tell the batch size of a {type(batch).__name__}")


class Trainer:
    """See the module docstring. Files go to `run_dir` (rank 0 only):
    `checkpoints/last.pt`, `checkpoints/best.pt`, `metrics.csv`, `tensorboard/`.

    `extra_state` (e.g. the resolved config and normalisation statistics) is stored under the
    checkpoint's "extra" key so inference needs the checkpoint alone.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_step: LossStep,
        optimizer: torch.optim.Optimizer,
        config: TrainerConfig,
        run_dir: str | Path,
        scheduler: Any = None,
        callbacks: Sequence[Callback] = (),
        device: str | torch.device = "auto",
        extra_state: dict[str, Any] | None = None,
        collate_fn: Callable | None = None,
        checkpoint_meta: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.device = device if isinstance(device, torch.device) else select_device(device)
        self.dist: DistributedContext = init_distributed(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.model = model.to(self.device)
        self.loss_step = loss_step
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.callbacks = list(callbacks)
        self.run_dir = Path(run_dir)
        self.extra_state = extra_state or {}
        self.collate_fn = collate_fn
        self.checkpoint_meta = dict(checkpoint_meta or {})
        self.train_model: nn.Module = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DistributedDataParallel(self.model, device_ids=ids)
        self.ema = (
            EMA(self.model, config.ema_decay, config.ema_warmup) if config.ema_decay else None
        )
        self.amp_enabled = config.amp and self.device.type == "cuda"
        self.amp_dtype = getattr(torch, config.amp_dtype)
        use_scaler = self.amp_enabled and self.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best_metric: float | None = None
        self.bad_validations = 0
        self.nonfinite_in_row = 0
        self.skipped_steps = 0
        self.history: list[dict[str, float]] = []
        self._tb = None

    # ----------------------------------------------------------------------------- helpers
    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    @property
    def eval_model(self) -> nn.Module:
        """The weights used for validation and sampling: the EMA copy when there is one."""
        if self.ema is not None and self.config.validate_with_ema:
            return self.ema.module
        return self.model

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def log(self, message: str) -> None:
        if self.is_main:
            tqdm.write(message, file=sys.stderr)

    def _autocast(self):
        if self.amp_enabled:
            return torch.autocast("cuda", dtype=self.amp_dtype)
        return contextlib.nullcontext()

    def _sampler(self, dataset: Dataset, shuffle: bool, drop_last: bool) -> DistributedSampler:
        return DistributedSampler(
            dataset,
            num_replicas=self.dist.world_size,
            rank=self.dist.rank,
            shuffle=shuffle,
            seed=self.config.seed,
            drop_last=drop_last,
        )

    def _loader(self, dataset: Dataset, sampler: Sampler, epoch: int) -> DataLoader:
        generator = torch.Generator().manual_seed(self.config.seed + epoch)
        return DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            sampler=sampler,
            num_workers=self.config.num_workers,
            collate_fn=self.collate_fn,
            pin_memory=self.config.pin_memory and self.device.type == "cuda",
            drop_last=self.config.drop_last,
            generator=generator,
            persistent_workers=False,
        )

    # -------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": 1,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "ema_updates": self.ema.num_updates if self.ema is not None else 0,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "best_metric": self.best_metric,
            "bad_validations": self.bad_validations,
            "rng": get_rng_state(),
            "trainer_config": asdict(self.config),
            "extra": self.extra_state,
            **self.checkpoint_meta,
        }

    def save(self, name: str) -> Path | None:
        """Write checkpoints/<name>.pt on rank 0; refuses non-finite weights."""
        if not self.is_main:
            return None
        for pname, p in self.model.named_parameters():
            if not torch.isfinite(p).all():
                raise DivergenceError(
                    f"training diverged by step {self.step}: parameter {pname} holds NaN or Inf; "
                    f"{self._last_finite_text()}. Lower the learning rate or check the data."
                )
        return save_checkpoint(self.state_dict(), self.checkpoint_dir / f"{name}.pt")

    def load(self, path: str | Path) -> None:
        """Restore everything `state_dict` saved, to continue exactly where it stopped."""
        meta = self.checkpoint_meta
        state = load_checkpoint(
            path, map_location="cpu", package=meta.get("package"), kind=meta.get("kind")
        )
        if state.get("format") != 1 or "optimizer" not in state:
            raise CheckpointError(f"{path} is not a training checkpoint of this project")
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise CheckpointError(
                f"checkpoint {path} does not fit this model (was the config changed?): "
                f"{str(err).splitlines()[0]}"
            ) from None
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"], state.get("ema_updates", 0))
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
            self._follow_rebuilt_schedule(path)
        self.scaler.load_state_dict(state["scaler"])
        self.step = state["step"]
        self.epoch = state["epoch"]
        self.batch_in_epoch = state["batch_in_epoch"]
        self.best_metric = state["best_metric"]
        self.bad_validations = state["bad_validations"]
        set_rng_state(state["rng"])
        self.history = [r for r in self._read_metrics() if r.get("step", 0) <= self.step]

    def _follow_rebuilt_schedule(self, path: str | Path) -> None:
        """A LambdaLR's multiplier is rebuilt from this run's config, not restored: if it now
        gives another learning rate at the resumed step than the checkpoint's (for example
        `trainer.max_steps` changed, which re-stretches a cosine), say so and use the new one
        from the first resumed step, rather than switching silently one step later."""
        if not isinstance(self.scheduler, torch.optim.lr_scheduler.LambdaLR):
            return
        lambdas = self.scheduler.lr_lambdas
        at = self.scheduler.last_epoch
        groups = self.optimizer.param_groups
        rebuilt = [base * lam(at) for base, lam in zip(self.scheduler.base_lrs, lambdas)]
        if all(math.isclose(g["lr"], r, rel_tol=1e-6) for g, r in zip(groups, rebuilt)):
            return
        self.log(
            f"warning: the learning-rate schedule differs from the one {path} was trained "
            f"with: at step {at} it gave {groups[0]['lr']:.3g}, this run's gives "
            f"{rebuilt[0]:.3g} (was trainer.max_steps or the schedule changed?); continuing "
            "on this run's schedule"
        )
        for group, lr in zip(groups, rebuilt):
            group["lr"] = lr

    # ------------------------------------------------------------------------------ metrics
    def _read_metrics(self) -> list[dict[str, float]]:
        path = self.run_dir / "metrics.csv"
        if not path.is_file():
            return []
        with open(path, newline="") as f:
            return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]

    def _write_metrics(self) -> None:
        if not self.is_main or not self.history:
            return
        keys: list[str] = []
        for row in self.history:
            keys.extend(k for k in row if k not in keys)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.history)
        path = self.run_dir / "metrics.csv"
        tmp = path.with_name(".metrics.csv.tmp")
        tmp.write_text(buf.getvalue())
        os.replace(tmp, path)

    def _tb_log(self, values: dict[str, float], step: int) -> None:
        if self._tb is None:
            return
        for k, v in values.items():
            self._tb.add_scalar(k, v, step)

    # ---------------------------------------------------------------------------- the loop
    def _check_finite(self, value: torch.Tensor) -> bool:
        flag = torch.tensor([0.0 if torch.isfinite(value).all() else 1.0], device=self.device)
        return bool(all_reduce_sum(flag, self.dist).item() == 0)

    def _skip_nonfinite(self, what: str) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.nonfinite_in_row += 1
        self.skipped_steps += 1
        self.log(
            f"warning: non-finite {what} at step {self.step} (epoch {self.epoch}); step skipped "
            f"({self.nonfinite_in_row} in a row, limit {self.config.max_nonfinite_steps})"
        )
        if self.nonfinite_in_row >= self.config.max_nonfinite_steps:
            raise DivergenceError(
                f"training diverged: {self.nonfinite_in_row} consecutive steps had a non-finite "
                f"{what} (step {self.step}); {self._last_finite_text()}. Check the data for "
                "NaN/Inf, lower the learning rate or disable AMP."
            )

    def _last_finite_text(self) -> str:
        """Where the last finite weights are, for the divergence message (a real path or none)."""
        last = self.checkpoint_dir / "last.pt"
        if self.is_main and last.is_file():
            return f"the last finite checkpoint is {last.resolve()}"
        return "no checkpoint was written"

    def _optimizer_step(self) -> bool:
        """Unscale, clip, step; False (and nothing changed) when the gradient is non-finite."""
        self.scaler.unscale_(self.optimizer)
        params = [p for p in self.model.parameters() if p.grad is not None]
        if self.config.grad_clip:
            norm = torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        else:
            norm = (
                torch.norm(torch.stack([p.grad.detach().norm() for p in params]))
                if params
                else torch.zeros((), device=self.device)
            )
        if not self._check_finite(norm):
            self.scaler.update()
            self._skip_nonfinite("gradient")
            return False
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None:
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.nonfinite_in_row = 0
        return True

    @torch.no_grad()
    def validate(self, dataset: Dataset) -> dict[str, float]:
        """Mean of every loss_step entry over `dataset` with the eval weights, RNG isolated."""
        model = self.eval_model
        was_training = model.training
        model.eval()
        sampler = self._sampler(dataset, shuffle=False, drop_last=False)
        sums: dict[str, float] = {}
        count = 0
        with isolated_rng(self.config.seed + 7919):
            for batch in self._loader(dataset, sampler, 0):
                batch = _to_device(batch, self.device, non_blocking=False)
                with self._autocast():
                    out = self.loss_step(model, batch)
                n = _batch_size(batch)
                for k, v in out.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach().float()) * n
                count += n
        model.train(was_training)
        keys = sorted(sums)
        total = all_reduce_sum(
            torch.tensor(
                [sums[k] for k in keys] + [count], dtype=torch.float64, device=self.device
            ),
            self.dist,
        )
        return {f"val_{k}": float(total[i] / max(total[-1].item(), 1)) for i, k in enumerate(keys)}

    def _improved(self, value: float) -> bool:
        if self.best_metric is None or math.isnan(self.best_metric):
            return True
        if self.config.monitor_mode == "min":
            return value < self.best_metric
        return value > self.best_metric

    def _run_callbacks(self, hook: str, *args: Any) -> None:
        if not self.is_main:
            return
        with isolated_rng(self.config.seed + self.step):
            for cb in self.callbacks:
                getattr(cb, hook)(self, *args)

    def _end_of_epoch(
        self, train_means: dict[str, float], val_dataset: Dataset | None, lr: float
    ) -> bool:
        """Validate, log, checkpoint; True when early stopping says stop."""
        row: dict[str, float] = {"epoch": float(self.epoch), "step": float(self.step), "lr": lr}
        row.update({f"train_{k}": v for k, v in train_means.items()})
        validated = val_dataset is not None and self.epoch % self.config.validate_every_epochs == 0
        if validated:
            row.update(self.validate(val_dataset))
        self.history.append(row)
        self._write_metrics()
        self._tb_log({k: v for k, v in row.items() if k not in ("epoch", "step")}, self.step)
        if validated:
            self._run_callbacks("on_validation_end", row)
        stop = False
        monitor = self.config.monitor
        if monitor not in row and monitor.startswith("val_") and val_dataset is None:
            monitor = "train_" + monitor[4:]
        if monitor in row:
            value = row[monitor]
            if self._improved(value):
                self.best_metric = value
                self.bad_validations = 0
                self.save("best")
            else:
                self.bad_validations += 1
                patience = self.config.early_stopping_patience
                stop = patience is not None and self.bad_validations >= patience
        if self.epoch % self.config.checkpoint_every_epochs == 0 or stop:
            self.save("last")
        barrier(self.dist)
        return stop

    def fit(
        self,
        train_dataset: Dataset,
        val_dataset: Dataset | None = None,
        resume_from: str | Path | None = None,
    ) -> FitResult:
        """Train until max_epochs, max_steps, max_minutes or early stopping; returns a summary."""
        cfg = self.config
        if len(train_dataset) == 0:
            raise UserError("the training set is empty; check the data path and filters")
        if resume_from is not None:
            self.load(resume_from)
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if cfg.tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError:
                    raise UserError(
                        "trainer.tensorboard=true needs the tensorboard package: "
                        "pip install tensorboard"
                    ) from None
                self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))
        sampler = self._sampler(train_dataset, cfg.shuffle, cfg.drop_last)
        started = time.monotonic()
        stop_reason = ""
        self.train_model.train()
        try:
            while not stop_reason:
                if self.epoch >= cfg.max_epochs:
                    stop_reason = "max_epochs"
                    break
                sampler.set_epoch(self.epoch)
                skip = self.batch_in_epoch * cfg.batch_size
                loader = self._loader(train_dataset, _SkipSampler(sampler, skip), self.epoch)
                n_batches = len(loader)
                sums: dict[str, float] = {}
                n_logged = 0
                micro = 0
                bar = tqdm(
                    total=n_batches + self.batch_in_epoch,
                    initial=self.batch_in_epoch,
                    desc=f"epoch {self.epoch}",
                    leave=False,
                    file=sys.stderr,
                    disable=not (cfg.progress and self.is_main and sys.stderr.isatty()),
                )
                for i, batch in enumerate(loader):
                    last_micro = (micro + 1) % cfg.grad_accum_steps == 0 or i == n_batches - 1
                    batch = _to_device(batch, self.device, non_blocking=True)
                    sync = contextlib.nullcontext()
                    if self.dist.enabled and not last_micro:
                        sync = self.train_model.no_sync()
                    with sync:
                        with self._autocast():
                            out = self.loss_step(self.train_model, batch)
                        if "loss" not in out:
                            raise KeyError("loss_step must return a dict with a 'loss' entry")
                        loss = out["loss"]
                        if not self._check_finite(loss.detach()):
                            micro = 0
                            self.batch_in_epoch += 1
                            bar.update(1)
                            self._skip_nonfinite("loss")
                            continue
                        self.scaler.scale(loss / cfg.grad_accum_steps).backward()
                    micro += 1
                    logs = {k: float(v.detach().float()) for k, v in out.items()}
                    for k, v in logs.items():
                        sums[k] = sums.get(k, 0.0) + v
                    n_logged += 1
                    self.batch_in_epoch += 1
                    bar.update(1)
                    if not last_micro:
                        continue
                    micro = 0
                    if not self._optimizer_step():
                        continue
                    self.step += 1
                    bar.set_postfix(loss=f"{logs['loss']:.4g}", step=self.step)
                    self._tb_log({f"step/{k}": v for k, v in logs.items()}, self.step)
                    self._run_callbacks("on_step_end", logs)
                    if cfg.checkpoint_every_steps and self.step % cfg.checkpoint_every_steps == 0:
                        self.save("last")
                    if cfg.max_steps is not None and self.step >= cfg.max_steps:
                        stop_reason = "max_steps"
                    elif cfg.max_minutes is not None and self._time_up(started):
                        stop_reason = "max_minutes"
                    if stop_reason:
                        break
                bar.close()
                means = {k: v / max(n_logged, 1) for k, v in sums.items()}
                lr = float(self.optimizer.param_groups[0]["lr"])
                if not stop_reason:
                    self.epoch += 1
                    self.batch_in_epoch = 0
                if self._end_of_epoch(means, val_dataset, lr) and not stop_reason:
                    stop_reason = "early_stopping"
            self.save("last")
            self._ensure_best(val_dataset)
            self._run_callbacks("on_fit_end")
        finally:
            if self._tb is not None:
                self._tb.close()
            barrier(self.dist)
            shutdown(self.dist)
        ckpt = self.checkpoint_dir
        return FitResult(
            steps=self.step,
            epochs=self.epoch,
            stop_reason=stop_reason,
            best_metric=self.best_metric,
            last_checkpoint=ckpt / "last.pt" if self.is_main else None,
            best_checkpoint=(ckpt / "best.pt")
            if self.is_main and (ckpt / "best.pt").exists()
            else None,
            history=list(self.history),
        )

    def _ensure_best(self, val_dataset: Dataset | None) -> None:
        """Every run ends with checkpoints/best.pt: when no monitored value was ever logged,
        validate now (if there is a validation set) and save the current weights as best."""
        if (self.checkpoint_dir / "best.pt").exists() or not self.is_main:
            return
        if val_dataset is not None:
            metrics = self.validate(val_dataset)
            self.best_metric = metrics.get(self.config.monitor, self.best_metric)
        self.save("best")

    def _time_up(self, started: float) -> bool:
        up = (time.monotonic() - started) / 60.0 >= self.config.max_minutes
        flag = torch.tensor([1.0 if up else 0.0], device=self.device)
        return bool(all_reduce_sum(flag, self.dist).item() > 0)
