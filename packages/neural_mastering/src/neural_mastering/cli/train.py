"""`mastering-train`: train a mastering model through sigshared's Trainer.

Data: built-in synthetic songs (default), `--tracks DIR` (finished tracks, self-supervised
de-mastering) or `--pairs DIR` (unmastered/ + mastered/ with matching names). Writes the run
folder (config.yaml, metrics.csv, checkpoints/last.pt and best.pt, plots/loss.png,
report.json with the validation set scored against the two baselines). `--resume CKPT`
continues that run in its own folder.
"""

from __future__ import annotations

import argparse
import json

from neural_mastering.config import PHASES, load
from neural_mastering.evaluation import format_scores
from neural_mastering.training import train
from sigshared.cli import add_common_arguments, cli_entry, require_file
from sigshared.training import (
    apply_common_arguments,
    run_folder,
    seed_everything,
    select_device,
)

# Seconds per optimizer step of the demo config, measured on the 2-core CPU (1200 steps in
# 514 s, one thread, including validation); only the demo's estimate is printed from it.
DEMO_SECONDS_PER_STEP = 514 / 1200


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mastering-train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser, default_config="demo")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--pairs", metavar="DIR", help="folder with unmastered/ and mastered/")
    source.add_argument("--tracks", metavar="DIR", help="folder of finished (mastered) tracks")
    parser.add_argument("--phase", choices=PHASES, help="model phase (default: the config's)")
    parser.add_argument(
        "--resume", metavar="CKPT", help="continue a run from its last.pt, in its own folder"
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    overrides = list(args.overrides)
    if args.pairs:
        overrides += ["data.source=pairs", f"data.path={json.dumps(args.pairs)}"]
    if args.tracks:
        overrides += ["data.source=tracks", f"data.path={json.dumps(args.tracks)}"]
    if args.phase:
        overrides.append(f"model.phase={args.phase}")
    cfg = load(args.config, overrides)
    apply_common_arguments(cfg.trainer, args)
    resume = require_file(args.resume, "checkpoint to resume") if args.resume else None
    steps = cfg.trainer.max_steps
    if args.config == "demo" and steps:
        minutes = steps * DEMO_SECONDS_PER_STEP / 60
        print(f"training {steps} steps (about {minutes:.0f} minutes on a 2-core CPU)")
    elif steps:
        print(f"training at most {steps} steps (time not measured for this config)")
    else:
        print(f"training {cfg.trainer.max_epochs} epochs (time not measured for this config)")
    seed_everything(cfg.trainer.seed)
    device = select_device(args.device)
    with run_folder(
        "neural_mastering", args.out, resume=resume, overwrite=args.overwrite
    ) as run_dir:
        report = train(cfg, run_dir, device, resume)
    if report:
        print(json.dumps({k: v for k, v in report.items() if k != "validation_scores"}, indent=2))
        print(format_scores(report["validation_scores"]))


if __name__ == "__main__":
    main()
