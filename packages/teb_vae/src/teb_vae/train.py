"""`teb-train`: train the TEB-VAE on CTG windows (synthetic by default) through the Trainer,
then evaluate the forecasts against persistence and last-2-minutes-mean baselines."""

from __future__ import annotations

import argparse
import json
import sys

import torch

from sigshared.cli import add_common_arguments, cli_entry
from sigshared.errors import UserError
from sigshared.training import (
    Trainer,
    apply_common_arguments,
    config_to_dict,
    create_run_dir,
    load_config,
    save_config,
    seed_everything,
    select_device,
)
from teb_vae.config import RunConfig
from teb_vae.evaluation import evaluate
from teb_vae.features import FeatureExtractor
from teb_vae.model import SeqVaeTeb
from teb_vae.pipeline import build_datasets, load_windows
from teb_vae.plotting import PlottingCallback

PACKAGE_CONFIGS = "teb_vae.configs"


def make_loss_step(cfg: RunConfig):
    """loss_step(model, batch): decodes `optim.train_decode_steps` random steps past the
    warm-up (all steps when 0) to bound decoder memory; the NLL is a mean, so unbiased."""
    k = cfg.optim.train_decode_steps
    warm, s = cfg.model.warmup_period, cfg.model.sequence_length

    def loss_step(model, batch):
        steps = None
        if k > 0 and s - warm > k:
            steps = warm + torch.randperm(s - warm, device=batch["y_raw"].device)[:k].sort()[0]
        core = model.module if hasattr(model, "module") else model
        out = model(batch["y_st"], batch["y_ph"], batch["x_ph"], steps=steps)
        losses = core.compute_loss(out, batch["y_raw"], valid=batch["valid"])
        return {k2: v for k2, v in losses.items() if k2 in ("loss", "raw_signal_loss", "kld_loss")}

    return loss_step


@cli_entry
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="teb-train", description=__doc__)
    add_common_arguments(parser, default_config="demo")
    parser.add_argument(
        "--data",
        default=None,
        help="folder or file of CTG recordings (WFDB .hea/.dat, CSV or NPZ with "
        "fhr/up); default: the built-in synthetic generator",
    )
    parser.add_argument(
        "--resume",
        default=None,
        metavar="CKPT",
        help="continue training from a checkpoint (checkpoints/last.pt)",
    )
    args = parser.parse_args(argv)
    cfg: RunConfig = load_config(RunConfig, args.config, args.overrides, package=PACKAGE_CONFIGS)
    if args.config == "demo":
        print(
            "teb-train: demo config (small model, synthetic CTG, about 5 minutes on a 2-core "
            "CPU); for the document's full model use --config default",
            flush=True,
        )
    apply_common_arguments(cfg.trainer, args)
    seed_everything(cfg.trainer.seed)
    device = select_device(args.device)
    ext = FeatureExtractor(cfg.features)
    if ext.st_channels != cfg.model.input_channels or ext.ph_channels != cfg.model.input_channels:
        raise UserError(
            f"features give {ext.st_channels} scattering / {ext.ph_channels} phase-harmonic "
            f"channels but model.input_channels is {cfg.model.input_channels}; make them agree"
        )
    if ext.steps != cfg.model.sequence_length:
        raise UserError(
            f"features give {ext.steps} steps but model.sequence_length is "
            f"{cfg.model.sequence_length}; make them agree"
        )
    run_dir = create_run_dir("teb_vae", args.out, overwrite=args.overwrite or bool(args.resume))
    train_w, val_w, where = load_windows(cfg, args.data, cfg.trainer.seed)
    print(f"data: {where}; run folder: {run_dir}", flush=True)
    train_ds, val_ds, stats = build_datasets(cfg, train_w, val_w, device)
    save_config(cfg, run_dir / "config.yaml")
    model = SeqVaeTeb(cfg.model)
    optim = torch.optim.AdamW(
        model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
    )
    trainer = Trainer(
        model,
        make_loss_step(cfg),
        optim,
        cfg.trainer,
        run_dir,
        callbacks=[PlottingCallback(val_ds, cfg.plot.every_epochs, cfg.plot.sample_index)],
        device=device,
        extra_state={"config": config_to_dict(cfg), "feature_stats": stats.to_state()},
    )
    result = trainer.fit(train_ds, val_ds, resume_from=args.resume)
    metrics = evaluate(trainer.eval_model, val_ds, trainer.device)
    report = {
        "config": args.config,
        "data": where,
        "steps": result.steps,
        "epochs": result.epochs,
        "stop_reason": result.stop_reason,
        "best_val_loss": result.best_metric,
        "evaluation": metrics,
    }
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report["evaluation"], indent=2))
    print(f"wrote {run_dir}/report.json, checkpoints/ and plots/", file=sys.stderr)


if __name__ == "__main__":
    main()
