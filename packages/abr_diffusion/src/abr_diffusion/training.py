"""One training run: data set-up, the Trainer, the test-split evaluation and the report.

`prepare(cfg)` loads and splits the data and fits the normalisers (so that bad data fails
before a run folder exists); `train(prepared, run_dir, ...)` trains, evaluates and writes
config.yaml, metrics.csv, checkpoints/{last,best}.pt, report.json, evaluation.{csv,json} and
plots/ into `run_dir`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from abr_diffusion.checkpoint import CHECKPOINT_META, TrainedModel
from abr_diffusion.config import ABRConfig
from abr_diffusion.data import (
    ABRDataset,
    AmplitudeModel,
    ConditionEncoder,
    Splits,
    fit_normalisers,
    load_data,
)
from abr_diffusion.evaluation import evaluate, level_series, write_evaluation
from abr_diffusion.model import build_model, count_parameters
from abr_diffusion.objective import build_diffusion, loss_step
from sigshared.plotting import plot_metrics_csv
from sigshared.training import Trainer, config_to_dict, save_config, seed_everything


@dataclass
class Prepared:
    """A config with its data: splits, normalisers and the three datasets."""

    cfg: ABRConfig
    splits: Splits
    encoder: ConditionEncoder
    amplitude: AmplitudeModel
    train: ABRDataset
    val: ABRDataset
    test: ABRDataset

    @property
    def planned_steps(self) -> int:
        """Optimizer steps the run will take (max_steps or max_epochs, whichever ends first;
        a max_minutes cap may end it sooner)."""
        t = self.cfg.trainer
        per_epoch = math.ceil(len(self.train) / t.batch_size / t.grad_accum_steps)
        by_epochs = t.max_epochs * per_epoch
        return by_epochs if t.max_steps is None else min(t.max_steps, by_epochs)


def prepare(cfg: ABRConfig) -> Prepared:
    """Load and split the data of `cfg` and fit the normalisers on the training split."""
    seed_everything(cfg.trainer.seed)
    splits = load_data(cfg)
    encoder, amplitude = fit_normalisers(splits, cfg.data)

    def dataset(index: np.ndarray) -> ABRDataset:
        return ABRDataset(splits.data.subset(index), encoder)

    return Prepared(
        cfg,
        splits,
        encoder,
        amplitude,
        dataset(splits.train),
        dataset(splits.val),
        dataset(splits.test),
    )


def train(
    prepared: Prepared,
    run_dir: Path,
    device: torch.device,
    *,
    resume: str | Path | None = None,
    label: str = "",
    log=print,
) -> dict[str, object]:
    """Train, evaluate on the test split, write the run folder; returns the report."""
    cfg = prepared.cfg
    save_config(cfg, run_dir / "config.yaml")
    net = build_model(cfg.model, cfg.data.seq_len, prepared.encoder.width)
    diffusion = build_diffusion(net, cfg.diffusion)
    n_patients = len(np.unique(prepared.splits.data.patient_id))
    log(
        f"abr-train: {count_parameters(net):,} parameters; {len(prepared.train)} / "
        f"{len(prepared.val)} / {len(prepared.test)} train / val / test recordings from "
        f"{n_patients} subjects ({cfg.data.path or 'synthetic'}); {cfg.data.seq_len} samples "
        f"at {cfg.data.sample_rate:g} Hz; device {device}; "
        f"run folder {run_dir}"
    )
    o = cfg.optim
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        optimizer, T_0=o.restart_period, T_mult=o.restart_mult, eta_min=o.min_lr
    )
    extra = {
        "config": config_to_dict(cfg),
        "condition_encoder": prepared.encoder.to_dict(),
        "amplitude_model": prepared.amplitude.to_dict(),
    }
    trainer = Trainer(
        diffusion,
        loss_step,
        optimizer,
        cfg.trainer,
        run_dir,
        scheduler=scheduler,
        device=device,
        extra_state=extra,
        checkpoint_meta=CHECKPOINT_META,
    )
    started = time.monotonic()
    fit = trainer.fit(prepared.train, prepared.val, resume_from=resume)
    train_minutes = (time.monotonic() - started) / 60
    log(f"abr-train: stopped after {fit.steps} steps ({fit.stop_reason}), {train_minutes:.1f} min")

    trained = TrainedModel(
        trainer.eval_model.eval(), cfg, prepared.encoder, prepared.amplitude, "ema", device
    )
    test = prepared.test
    n_eval = min(cfg.eval.max_signals, len(test))
    index = np.random.default_rng(cfg.trainer.seed).permutation(len(test))[:n_eval]
    results = evaluate(
        trained, test, index, cfg.eval.batch_size, cfg.trainer.seed, progress=cfg.trainer.progress
    )
    summary = write_evaluation(results, test, index, run_dir, cfg.eval.plots)
    train_conditions = prepared.splits.data.conditions.iloc[prepared.splits.train]
    series_plot = run_dir / "plots" / "level_series.png" if cfg.eval.plots else None
    series = level_series(trained, train_conditions, series_plot)
    if cfg.eval.plots:
        plot_metrics_csv(
            run_dir / "metrics.csv",
            run_dir / "plots" / "loss.png",
            [("train_loss", "train"), ("val_loss", "validation (EMA)")],
            ylabel="loss (v-MSE + w * STFT)",
            figsize=(7, 3.2),
        )
    report = {
        "config": label,
        "parameters": count_parameters(net),
        "steps": fit.steps,
        "epochs": fit.epochs,
        "stop_reason": fit.stop_reason,
        "train_minutes": train_minutes,
        "best_val_loss": fit.best_metric,
        "data": cfg.data.path or "synthetic",
        "recordings": {"train": len(prepared.train), "val": len(prepared.val), "test": len(test)},
        "evaluated_test_recordings": int(n_eval),
        "evaluation": summary,
        "level_series": series,
    }
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    return report
