"""`abr-train`: train the ABR transformer (v-prediction diffusion) and evaluate it.

With no arguments it runs the `demo` config: synthetic recordings and a small model, a fixed
number of steps (about 10 minutes on a 2-core CPU). `--config default` is the design
document's 6.56 M-parameter model and training settings (meant for real data on a GPU). The
run folder gets config.yaml, metrics.csv, checkpoints/{last,best}.pt, report.json,
evaluation.{csv,json} and plots/. `--resume CKPT` continues a run in its own folder.
"""

from __future__ import annotations

import argparse

from abr_diffusion.checkpoint import KIND, PACKAGE
from abr_diffusion.config import ABRConfig, load
from abr_diffusion.training import prepare, train
from sigshared.cli import add_common_arguments, cli_entry, require_file
from sigshared.errors import CheckpointError
from sigshared.training import (
    apply_common_arguments,
    load_checkpoint,
    run_folder,
    select_device,
)

# Measured: the demo config's 2000 steps plus its evaluation took 9.4 minutes on the idle
# 2-core CPU (README, "Results"); 0.28 s per step in all.
DEMO_SECONDS_PER_STEP = 0.28


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="abr-train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  abr-train\n  abr-train --config default --data abr.parquet\n"
        "  abr-train --set trainer.max_steps=200 --out runs/quick\n"
        "  abr-train --resume runs/quick/checkpoints/last.pt --set trainer.max_steps=400",
    )
    add_common_arguments(parser)
    parser.add_argument(
        "--data",
        default=None,
        help="recordings: a BioSigRZ CSV export, a table (CSV, Parquet or NPZ; see README), "
        "or a glob of files such as 'mouse/*.csv'; default: the config's data.path, or the "
        "built-in synthetic generator when that is empty",
    )
    parser.add_argument(
        "--resume",
        default=None,
        metavar="CKPT",
        help="continue a run from its checkpoints/last.pt, in its own folder (its config is "
        "reused; --set overrides apply on top, e.g. a larger trainer.max_steps); with --out, "
        "into that folder, which must be new or empty unless --overwrite",
    )
    return parser


def resolve_config(args: argparse.Namespace) -> ABRConfig:
    if args.resume:
        state = load_checkpoint(
            require_file(args.resume, "checkpoint to resume"), package=PACKAGE, kind=KIND
        )
        stored = (state.get("extra") or {}).get("config")
        if stored is None:
            raise CheckpointError(f"{args.resume} holds no config; it was not written by abr-train")
        cfg = load(stored, args.overrides)
    else:
        cfg = load(args.config, args.overrides)
    if args.data:
        cfg.data.path = args.data
    apply_common_arguments(cfg.trainer, args)
    return cfg


def first_line(args: argparse.Namespace, steps: int) -> str:
    """The number of steps, with the measured time estimate for the demo config."""
    line = f"abr-train: training {steps} steps"
    if args.config == "demo" and not args.resume:
        minutes = steps * DEMO_SECONDS_PER_STEP / 60
        when = f"about {minutes:.0f} minutes" if minutes >= 1 else "under a minute"
        line += (
            f" ({when} on a 2-core CPU; the DEMO config: synthetic data, small model; the "
            "design document's full model: --config default)"
        )
    return line


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    cfg = resolve_config(args)
    device = select_device(args.device)
    label = f"resumed from {args.resume}" if args.resume else str(args.config)
    # The run folder is checked and created before any work; a failure removes it again
    # (unless it holds a checkpoint).
    with run_folder(PACKAGE, args.out, resume=args.resume, overwrite=args.overwrite) as run_dir:
        prepared = prepare(cfg)
        print(first_line(args, prepared.planned_steps), flush=True)
        train(prepared, run_dir, device, resume=args.resume, label=label)
    print(f"abr-train: report, evaluation and plots in {run_dir}")


if __name__ == "__main__":
    main()
