"""`abr-train`: train the ABR transformer (v-prediction diffusion) and evaluate it.

With no arguments it runs the `demo` config: synthetic recordings and a small model, about
10 minutes on a 2-core CPU. `--config default` is the design document's 6.56 M-parameter model
and training settings (meant for real data on a GPU). The run folder gets config.yaml,
metrics.csv, checkpoints/{last,best}.pt, report.json, evaluation.{csv,json} and plots/.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from abr_diffusion.checkpoint import TrainedModel, build_model
from abr_diffusion.config import ABRConfig, load
from abr_diffusion.data import ABRDataset
from abr_diffusion.diffusion import VDiffusion
from abr_diffusion.evaluation import evaluate
from abr_diffusion.model import count_parameters
from abr_diffusion.report import fit_normalisers, load_data, plot_intensity_series, write_evaluation
from sigshared.cli import add_common_arguments, cli_entry, require_file
from sigshared.errors import UserError
from sigshared.plotting import plot_metrics_csv
from sigshared.training import (
    Trainer,
    apply_common_arguments,
    config_to_dict,
    create_run_dir,
    load_checkpoint,
    save_config,
    seed_everything,
    select_device,
)

DEMO_BANNER = (
    "abr-train: running the DEMO config (synthetic data, small model, about 10 minutes on a "
    "2-core CPU); for the design document's full 6.56 M-parameter model use --config default"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="abr-train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  abr-train\n  abr-train --config default --data abr.parquet\n"
        "  abr-train --set trainer.max_steps=200 --out runs/quick",
    )
    add_common_arguments(parser)
    parser.add_argument(
        "--data",
        default=None,
        help="recordings table (CSV, Parquet or NPZ; see README); default: the config's "
        "data.path, or the built-in synthetic generator when that is empty",
    )
    parser.add_argument(
        "--resume",
        default=None,
        metavar="CKPT",
        help="continue a run from its checkpoints/last.pt (its config is reused; --set "
        "overrides apply on top, e.g. a larger trainer.max_steps)",
    )
    return parser


def resolve_config(args: argparse.Namespace) -> ABRConfig:
    if args.resume:
        state = load_checkpoint(require_file(args.resume, "checkpoint to resume"))
        stored = (state.get("extra") or {}).get("config")
        if stored is None:
            raise UserError(f"{args.resume} is not an abr-train checkpoint; cannot resume")
        cfg = load(stored, args.overrides)
    else:
        cfg = load(args.config, args.overrides)
    if args.data:
        cfg.data.path = str(require_file(args.data, "data file"))
    apply_common_arguments(cfg.trainer, args)
    return cfg


def run_dir_for(args: argparse.Namespace) -> Path:
    if args.resume and args.out is None:
        # checkpoints/last.pt lives in the run folder it continues.
        return Path(args.resume).resolve().parent.parent
    if args.resume:
        return create_run_dir("abr_diffusion", args.out, overwrite=True)
    return create_run_dir("abr_diffusion", args.out, overwrite=args.overwrite)


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.config == "demo" and not args.resume:
        print(DEMO_BANNER, flush=True)
    cfg = resolve_config(args)
    seed_everything(cfg.trainer.seed)
    device = select_device(args.device)
    splits = load_data(cfg)
    scaler, amplitude = fit_normalisers(splits)
    train_ds = ABRDataset(splits.data.subset(splits.train), scaler)
    val_ds = ABRDataset(splits.data.subset(splits.val), scaler)
    test_ds = ABRDataset(splits.data.subset(splits.test), scaler)
    run_dir = run_dir_for(args)
    save_config(cfg, run_dir / "config.yaml")
    net = build_model(cfg)
    diffusion = VDiffusion(cfg.diffusion).to(device)
    print(
        f"abr-train: {count_parameters(net):,} parameters; {len(train_ds)} / {len(val_ds)} / "
        f"{len(test_ds)} train / val / test recordings from "
        f"{len(np.unique(splits.data.patient_id))} patients ({cfg.data.path or 'synthetic'}); "
        f"device {device}; run folder {run_dir}",
        flush=True,
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
        "static_scaler": scaler.to_dict(),
        "amplitude_model": amplitude.to_dict(),
    }
    trainer = Trainer(
        net,
        diffusion.loss_step,
        optimizer,
        cfg.trainer,
        run_dir,
        scheduler=scheduler,
        device=device,
        extra_state=extra,
    )
    started = time.monotonic()
    fit = trainer.fit(train_ds, val_ds, resume_from=args.resume)
    train_minutes = (time.monotonic() - started) / 60
    print(
        f"abr-train: stopped after {fit.steps} steps ({fit.stop_reason}), {train_minutes:.1f} min"
    )

    trained = TrainedModel(
        trainer.eval_model.eval(), diffusion, cfg, scaler, amplitude, "ema", device
    )
    n_eval = min(cfg.eval.max_signals, len(test_ds))
    index = np.random.default_rng(cfg.trainer.seed).permutation(len(test_ds))[:n_eval]
    results = evaluate(
        trained,
        test_ds,
        index,
        cfg.eval.batch_size,
        cfg.trainer.seed,
        progress=cfg.trainer.progress,
    )
    summary = write_evaluation(results, test_ds, index, run_dir, cfg.eval.plots)
    series = None
    if cfg.eval.plots:
        plot_metrics_csv(
            run_dir / "metrics.csv",
            run_dir / "plots" / "loss.png",
            [("train_loss", "train"), ("val_loss", "validation (EMA)")],
            ylabel="loss (v-MSE + w * STFT)",
            figsize=(7, 3.2),
        )
        series = plot_intensity_series(
            trained, splits.data.static[splits.train], run_dir / "plots" / "intensity_series.png"
        )
    report = {
        "config": args.config if not args.resume else f"resumed from {args.resume}",
        "parameters": count_parameters(net),
        "steps": fit.steps,
        "epochs": fit.epochs,
        "stop_reason": fit.stop_reason,
        "train_minutes": train_minutes,
        "best_val_loss": fit.best_metric,
        "data": cfg.data.path or "synthetic",
        "recordings": {"train": len(train_ds), "val": len(val_ds), "test": len(test_ds)},
        "evaluated_test_recordings": int(n_eval),
        "evaluation": summary,
        "intensity_series": series,
    }
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    print(f"abr-train: report, evaluation and plots in {run_dir}")


if __name__ == "__main__":
    main()
