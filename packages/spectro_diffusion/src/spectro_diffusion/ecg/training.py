"""Training of the conditional ECG diffusion model through `sigshared`'s Trainer.

`train` reads the dataset (`dataset.path`; when it is null the synthetic dataset of the
`prepare` settings is built once, see `synthetic.ensure_synthetic`), reports its pairing and
defects, infers the array shapes, computes normalisation statistics on the training split,
trains with AdamW and a warm-up + cosine learning-rate schedule (EMA, AMP on CUDA, gradient
accumulation, checkpoints, best.pt and resume come from the Trainer), then samples the
validation examples and writes report.json (metrics against ground truth and against the
emb_init baseline) and plots/ into the run folder.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch

from sigshared.errors import CheckpointError
from sigshared.files import atomic_output
from sigshared.plotting import plot_metrics_csv
from sigshared.training import (
    Trainer,
    config_to_dict,
    load_checkpoint,
    save_config,
    warmup_cosine,
)
from spectro_diffusion.ecg.checkpoint import CHECKPOINT_META
from spectro_diffusion.ecg.config import EcgConfig
from spectro_diffusion.ecg.data import CONDITIONS, FOLDERS, ArraySpec, load_datasets
from spectro_diffusion.ecg.evaluation import check_sampling, evaluate
from spectro_diffusion.ecg.objective import check_consistency_applies, loss_step, make_diffusion
from spectro_diffusion.ecg.synthetic import ensure_synthetic


def total_steps(cfg: EcgConfig, train_examples: int) -> int:
    """Optimizer steps the run will take: trainer.max_steps, else max_epochs full epochs."""
    tc = cfg.trainer
    per_epoch = math.ceil(math.ceil(train_examples / tc.batch_size) / tc.grad_accum_steps)
    return tc.max_steps if tc.max_steps is not None else tc.max_epochs * per_epoch


def axes_1d(cfg: EcgConfig) -> dict[str, str]:
    """{array name: the image axis a 1-D version of it runs along} (see ModelConfig)."""
    m = cfg.model
    return {n: m.condition_1d_axis if n in CONDITIONS else m.output_1d_axis for n in FOLDERS}


def train(
    cfg: EcgConfig,
    run_dir: Path,
    device: torch.device,
    resume: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Train (or resume from `resume`) into `run_dir`; returns the report also written to
    run_dir/report.json."""
    check_sampling(cfg.inference, cfg.diffusion)
    saved = None
    if resume is not None:
        extra = load_checkpoint(resume, **CHECKPOINT_META).get("extra", {})
        if "specs" not in extra or "stats" not in extra:
            raise CheckpointError(f"{resume} lacks the shapes and statistics of an ECG model")
        specs = {n: ArraySpec.from_dict(d) for n, d in extra["specs"].items()}
        saved = (specs, extra["stats"])
    if cfg.dataset.path is None:
        cfg.dataset.path = str(ensure_synthetic(cfg.prepare, log=log).resolve())
    data = load_datasets(cfg.dataset, axes_1d(cfg), saved, log=log)
    specs, stats = data.specs, data.stats
    check_consistency_applies(
        specs["images"], specs["freq_embeddings"], cfg.training.consistency_weight
    )
    save_config(cfg, run_dir / "config.yaml")
    diffusion = make_diffusion(cfg, specs, stats)
    n_params = sum(p.numel() for p in diffusion.parameters())
    n_val = len(data.val) if data.val else 0
    log(
        f"run folder {run_dir}; {len(data.train)} train / {n_val} val examples; "
        f"shapes {', '.join(f'{n} {s.file_shape}' for n, s in specs.items())}; "
        f"{n_params / 1e6:.2f} M parameters; device {device}"
    )
    t = cfg.training
    optimizer = torch.optim.AdamW(
        diffusion.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay, betas=t.adam_betas
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(t.warmup_steps, total_steps(cfg, len(data.train)), t.min_lr_ratio)
    )
    extra = {
        "config": config_to_dict(cfg),
        "specs": {n: s.to_dict() for n, s in specs.items()},
        "stats": stats,
        "data": data.summary,
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
    result = trainer.fit(data.train, data.val, resume_from=resume)
    report = {
        "steps": result.steps,
        "epochs": result.epochs,
        "stop_reason": result.stop_reason,
        "train_minutes": round((time.monotonic() - started) / 60, 2),
        "best_val_loss": result.best_metric,
        "parameters": n_params,
        "train_examples": len(data.train),
        "val_examples": n_val,
        "checkpoint": str(result.best_checkpoint or result.last_checkpoint),
    }
    if result.history:
        report["last_epoch"] = result.history[-1]
    if data.val is not None:
        report.update(evaluate(trainer.eval_model, cfg, data.val, stats, specs, run_dir / "plots"))
    plot_metrics_csv(
        run_dir / "metrics.csv",
        run_dir / "plots" / "losses.png",
        [
            (k, k)
            for k in ("train_loss", "val_loss", "train_consistency_loss", "val_consistency_loss")
        ],
    )
    with atomic_output(run_dir / "report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    return report
