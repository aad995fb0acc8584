"""Training runs of the emotion application: the diffusion generator and the classifier.

Both go through the sigshared Trainer (AdamW, checkpoints stamped with package and kind,
exact resume, EMA for the generator). The CLIs create the run folder and print; these
functions do the work and return the run report.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sigshared.errors import CheckpointError, DataError
from sigshared.training import (
    Trainer,
    TrainerConfig,
    config_to_dict,
    load_checkpoint,
    save_config,
    warmup_cosine,
)
from spectro_diffusion.emotion.audio import spectrograms_to_wavs
from spectro_diffusion.emotion.checkpoint import (
    CLASSIFIER_KIND,
    GENERATOR_KIND,
    PACKAGE,
    TrainedGenerator,
    load_trained_classifier,
)
from spectro_diffusion.emotion.config import EmotionConfig, load_emotion_config
from spectro_diffusion.emotion.data import PreparedData, data_summary
from spectro_diffusion.emotion.evaluation import confusion_matrix, predict
from spectro_diffusion.emotion.generation import sample_spectrograms
from spectro_diffusion.emotion.model import build_classifier
from spectro_diffusion.emotion.objective import (
    build_diffusion,
    classifier_loss_step,
    diffusion_loss_step,
)
from spectro_diffusion.emotion.plots import confusion_figure, spectrogram_sheet


def step_budget(cfg: EmotionConfig, train_size: int) -> int:
    """Optimizer steps the run will take at most (the length of the LR schedule)."""
    per_epoch = math.ceil(train_size / cfg.trainer.batch_size / cfg.trainer.grad_accum_steps)
    by_epochs = per_epoch * cfg.trainer.max_epochs
    return min(by_epochs, cfg.trainer.max_steps) if cfg.trainer.max_steps else by_epochs


def resume_state(path: str | Path, overrides=()) -> tuple[EmotionConfig, dict[str, Any]]:
    """The config (with `overrides`) and the "extra" record of a generator checkpoint."""
    state = load_checkpoint(path, package=PACKAGE, kind=GENERATOR_KIND)
    extra = state.get("extra") or {}
    if "config" not in extra or "classes" not in extra:
        raise CheckpointError(f"{path} is not a spectro-train checkpoint; cannot resume from it")
    return load_emotion_config(extra["config"], overrides), extra


def _sample_sheet(gen: TrainedGenerator, run_dir: Path, seed: int) -> dict:
    """One sample per class: plots/samples.png and samples/<emotion>.wav."""
    s = gen.config.sample
    labels = torch.arange(len(gen.classes))
    images = (
        sample_spectrograms(
            gen,
            labels,
            len(labels),
            num_inference_steps=s.num_inference_steps,
            guidance_scale=s.guidance_scale,
            sampler=s.sampler,
            eta=s.eta,
            seed=seed,
        )[:, 0]
        .cpu()
        .numpy()
    )
    mel = gen.config.data.mel
    sheet = run_dir / "plots" / "samples.png"
    titles = [f"{c} (generated)" for c in gen.classes]
    spectrogram_sheet(images, titles, mel, sheet, gen.db_max, gen.top_db)
    records = spectrograms_to_wavs(
        images,
        list(gen.classes),
        run_dir / "samples",
        mel,
        gen.db_max,
        gen.top_db,
        s.griffin_lim_iters,
    )
    return {
        "sheet": str(sheet),
        "wavs_written": sum(r["file"] is not None for r in records),
        "mean_spectral_convergence": float(np.mean([r["spectral_convergence"] for r in records])),
    }


def train_generator(
    cfg: EmotionConfig,
    data: PreparedData,
    run_dir: Path,
    device: torch.device,
    resume_from: str | Path | None = None,
) -> dict[str, Any]:
    """Train the conditional diffusion model on `data`'s train split (val for best.pt), then
    sample one sheet per emotion; writes config.yaml, checkpoints/, report.json into run_dir."""
    save_config(cfg, run_dir / "config.yaml")
    diffusion = build_diffusion(cfg, len(data.classes))
    optim = torch.optim.AdamW(
        diffusion.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
    )
    total = step_budget(cfg, len(data.splits["train"]))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, warmup_cosine(cfg.optim.warmup_steps, total, cfg.optim.min_lr_ratio)
    )
    extra = {
        "config": config_to_dict(cfg),
        "classes": data.classes,
        "db_max": data.db_max,
        "top_db": data.top_db,
        "corpus": data.corpus,
        "data_root": data.root,
    }
    trainer = Trainer(
        diffusion,
        diffusion_loss_step,
        optim,
        cfg.trainer,
        run_dir,
        scheduler=sched,
        device=device,
        extra_state=extra,
        checkpoint_meta={"package": PACKAGE, "kind": GENERATOR_KIND},
    )
    val = data.splits["val"] if len(data.splits["val"]) else None
    result = trainer.fit(data.splits["train"], val, resume_from=resume_from)
    gen = TrainedGenerator(
        trainer.eval_model.eval(),
        data.classes,
        data.db_max,
        data.top_db,
        cfg,
        "ema" if trainer.ema is not None else "model",
        data.corpus,
        data.root,
    )
    samples = _sample_sheet(gen, run_dir, cfg.trainer.seed)
    train_losses = [r["train_loss"] for r in result.history if "train_loss" in r]
    report = {
        "steps": result.steps,
        "epochs": result.epochs,
        "stop_reason": result.stop_reason,
        "first_epoch_train_loss": train_losses[0] if train_losses else None,
        "last_epoch_train_loss": train_losses[-1] if train_losses else None,
        "best_val_loss": result.best_metric,
        "parameters": sum(p.numel() for p in diffusion.denoiser.parameters()),
        "checkpoint": str(result.best_checkpoint or result.last_checkpoint),
        "data": data_summary(data),
        "samples": samples,
    }
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    return report


def classifier_trainer_config(cfg: EmotionConfig) -> TrainerConfig:
    """The Trainer settings of the classifier: its own batch and step budget, best by val_acc."""
    c = cfg.classifier
    return TrainerConfig(
        batch_size=c.batch_size,
        max_epochs=10**6,
        max_steps=c.max_steps,
        ema_decay=None,
        monitor="val_acc",
        monitor_mode="max",
        validate_every_epochs=2,
        progress=cfg.trainer.progress,
        seed=cfg.trainer.seed,
    )


def train_classifier(
    cfg: EmotionConfig, data: PreparedData, run_dir: Path, device: torch.device
) -> dict[str, Any]:
    """Train the classifier on the train split (best.pt by val accuracy), score the test
    speakers: accuracy, unweighted accuracy, confusion matrix (plots/confusion.png)."""
    test = data.splits["test"]
    if len(test) == 0:
        raise DataError("the test split is empty; add speakers or raise data.test_fraction")
    save_config(cfg, run_dir / "config.yaml")
    n = len(data.classes)
    net = build_classifier(cfg.classifier, n)
    optim = torch.optim.AdamW(
        net.parameters(), lr=cfg.classifier.lr, weight_decay=cfg.classifier.weight_decay
    )
    extra = {
        "config": config_to_dict(cfg),
        "classes": data.classes,
        "db_max": data.db_max,
        "top_db": data.top_db,
    }
    trainer = Trainer(
        net,
        classifier_loss_step,
        optim,
        classifier_trainer_config(cfg),
        run_dir,
        device=device,
        extra_state=extra,
        checkpoint_meta={"package": PACKAGE, "kind": CLASSIFIER_KIND},
    )
    val = data.splits["val"] if len(data.splits["val"]) else None
    result = trainer.fit(data.splits["train"], val)
    best = result.best_checkpoint or result.last_checkpoint
    clf = load_trained_classifier(best, device)
    pred, _ = predict(clf.net, test.images)
    matrix = confusion_matrix(test.labels, pred, n)
    acc = float((pred == test.labels).float().mean())
    confusion_figure(
        matrix,
        data.classes,
        run_dir / "plots" / "confusion.png",
        f"test accuracy {acc:.1%} (chance {1 / n:.1%})",
    )
    report = {
        "steps": result.steps,
        "best_val_acc": result.best_metric,
        "test_accuracy": acc,
        "test_clips": len(test),
        "chance": 1 / n,
        "classes": data.classes,
        "confusion_matrix": matrix.tolist(),
        "checkpoint": str(best),
        "data": data_summary(data),
    }
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    return report
