"""`spectro-train`: train the emotion-conditional mel-spectrogram diffusion U-Net.

Data from --data (EmoDB or RAVDESS folder) or the built-in synthetic EmoDB-style corpus;
speaker-independent splits; eps-prediction on a linear schedule through the sigshared Trainer
(AdamW, warm-up + cosine LR, grad clipping, EMA, early stopping, checkpoints, resume). At the
end it samples one sheet of spectrograms per emotion with DDIM and writes them as WAVs.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from sigshared.cli import add_common_arguments, cli_entry, require_file
from sigshared.errors import UserError
from sigshared.training import (
    Trainer,
    config_to_dict,
    create_run_dir,
    load_checkpoint,
    save_config,
    seed_everything,
    select_device,
    warmup_cosine,
)
from spectro_diffusion.emotion.audio import spectrograms_to_wavs
from spectro_diffusion.emotion.config import EmotionConfig, apply_cli_arguments, load_emotion_config
from spectro_diffusion.emotion.data import data_summary, prepare_data
from spectro_diffusion.emotion.diffusion import Generator, make_loss_step, make_schedule
from spectro_diffusion.emotion.model import build_model
from spectro_diffusion.emotion.plots import spectrogram_sheet

PACKAGE = "spectro_diffusion"


def step_budget(cfg: EmotionConfig, train_size: int) -> int:
    """Optimizer steps the run will take at most (for the LR schedule's length)."""
    per_epoch = math.ceil(train_size / cfg.trainer.batch_size / cfg.trainer.grad_accum_steps)
    by_epochs = per_epoch * cfg.trainer.max_epochs
    return min(by_epochs, cfg.trainer.max_steps) if cfg.trainer.max_steps else by_epochs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spectro-train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser, default_config="demo")
    parser.add_argument(
        "--data",
        default=None,
        help="folder of EmoDB WAVs or RAVDESS Actor_XX folders (default: the synthetic corpus)",
    )
    parser.add_argument(
        "--corpus",
        default=None,
        choices=["emodb", "ravdess", "auto"],
        help="file-name convention of --data (default: the config's, auto = detect)",
    )
    parser.add_argument(
        "--resume",
        default=None,
        metavar="CKPT",
        help="continue a run from its checkpoints/last.pt (writes into that run's folder)",
    )
    return parser


def sample_sheet(gen: Generator, run_dir: Path, seed: int) -> dict:
    """One DDIM sample per class: plots/samples.png and samples/<emotion>.wav."""
    s = gen.config.sample
    labels = torch.arange(len(gen.classes))
    images = gen.sample(labels, len(labels), "ddim", s.steps, s.eta, s.guidance, seed)
    images = images[:, 0].cpu().numpy()
    mel = gen.config.data.mel
    spectrogram_sheet(
        images,
        [f"{c} (generated)" for c in gen.classes],
        mel,
        run_dir / "plots" / "samples.png",
        gen.db_max,
        gen.top_db,
    )
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
        "sheet": str(run_dir / "plots" / "samples.png"),
        "wavs_written": sum(r["file"] is not None for r in records),
        "mean_spectral_convergence": float(np.mean([r["spectral_convergence"] for r in records])),
    }


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.config == "demo" and not args.resume:
        print(
            "spectro-train: demo config (synthetic EmoDB-style corpus, 32x32 log-mels, a small "
            "U-Net, about 10 minutes on a 2-core CPU); for the full 128x128 model run "
            "`spectro-train --config default --data DIR`"
        )
    resume_state = None
    if args.resume:
        ckpt = require_file(args.resume, "checkpoint to resume")
        resume_state = load_checkpoint(ckpt)
        extra = resume_state.get("extra") or {}
        if extra.get("kind") != "emotion-diffusion":
            raise UserError(f"{ckpt} is not a spectro-train checkpoint; cannot resume from it")
        cfg = load_emotion_config(extra["config"], args.overrides)
    else:
        cfg = load_emotion_config(args.config, args.overrides)
    apply_cli_arguments(cfg, args)
    seed_everything(cfg.trainer.seed)
    device = select_device(args.device)

    if resume_state is not None:
        run_dir = Path(args.out) if args.out else Path(args.resume).resolve().parent.parent
        run_dir.mkdir(parents=True, exist_ok=True)
        extra = resume_state["extra"]
        data = prepare_data(cfg.data, cfg.trainer.progress, extra["classes"], extra["db_max"])
    else:
        run_dir = create_run_dir(PACKAGE, args.out, overwrite=args.overwrite)
        data = prepare_data(cfg.data, cfg.trainer.progress)
    print(f"run folder: {run_dir}")
    summary = data_summary(data)
    print(
        f"data: {data.corpus} at {data.root}; classes {', '.join(data.classes)}; "
        + ", ".join(
            f"{k} {v['clips']} clips / {len(v['speakers'])} speakers"
            for k, v in summary["splits"].items()
        )
    )
    save_config(cfg, run_dir / "config.yaml")

    model = build_model(cfg.model, len(data.classes))
    schedule = make_schedule(cfg.diffusion)
    optim = torch.optim.AdamW(
        model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
    )
    total = step_budget(cfg, len(data.splits["train"]))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, warmup_cosine(cfg.optim.warmup_steps, total, cfg.optim.min_lr_ratio)
    )
    extra_state = {
        "kind": "emotion-diffusion",
        "config": config_to_dict(cfg),
        "classes": data.classes,
        "db_max": data.db_max,
        "top_db": data.top_db,
        "corpus": data.corpus,
        "data_root": data.root,
    }
    trainer = Trainer(
        model,
        make_loss_step(schedule, cfg.diffusion),
        optim,
        cfg.trainer,
        run_dir,
        scheduler=sched,
        device=device,
        extra_state=extra_state,
    )
    val = data.splits["val"] if len(data.splits["val"]) else None
    result = trainer.fit(data.splits["train"], val, resume_from=args.resume)

    gen = Generator(
        trainer.eval_model.eval(),
        schedule,
        data.classes,
        data.db_max,
        data.top_db,
        cfg,
        "ema" if trainer.ema is not None else "model",
    )
    samples = sample_sheet(gen, run_dir, cfg.trainer.seed)
    train_losses = [r["train_loss"] for r in result.history if "train_loss" in r]
    report = {
        "config": args.config if not args.resume else "resumed",
        "steps": result.steps,
        "epochs": result.epochs,
        "stop_reason": result.stop_reason,
        "first_epoch_train_loss": train_losses[0] if train_losses else None,
        "last_epoch_train_loss": train_losses[-1] if train_losses else None,
        "best_val_loss": result.best_metric,
        "parameters": sum(p.numel() for p in model.parameters()),
        "checkpoint": str(result.best_checkpoint or result.last_checkpoint),
        "data": summary,
        "samples": samples,
    }
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "data"}, indent=2))
    print(
        f"next: spectro-generate --checkpoint {run_dir / 'checkpoints' / 'last.pt'} "
        "--emotion anger --num-samples 4"
    )


if __name__ == "__main__":
    main()
