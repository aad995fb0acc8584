"""`ecg-train`: train the conditional ECG diffusion model (see `spectro_diffusion.ecg.training`)."""

from __future__ import annotations

import argparse
import json
import sys

from sigshared.cli import add_common_arguments, cli_entry, require_file
from sigshared.training import apply_common_arguments, run_folder, seed_everything, select_device
from spectro_diffusion.ecg.config import load_ecg_config
from spectro_diffusion.ecg.training import train

PACKAGE = "spectro_diffusion_ecg"
# `ecg-train` with no arguments (demo config, 600 steps, synthetic data built first) took
# 11.5 minutes of CPU time on the project's 2-core CPU (OMP_NUM_THREADS=1, one thread): the wall
# time when the machine is otherwise idle. With 7 other jobs on the 2 cores it took 43 minutes.
DEMO_MINUTES = 12


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ecg-train",
        description="Train the conditional ECG diffusion model (images + freq_embeddings from "
        "amp_init + emb_init). With no arguments: the demo config on the built-in synthetic "
        f"dataset, about {DEMO_MINUTES} minutes on a 2-core CPU.",
    )
    add_common_arguments(p, default_config="demo")
    p.add_argument(
        "--resume",
        help="checkpoint (last.pt) to continue from; by default in the run folder that holds it",
    )
    return p


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    cfg = load_ecg_config(args.config, args.overrides)
    apply_common_arguments(cfg.trainer, args)
    steps = cfg.trainer.max_steps
    what = f"{steps} steps" if steps is not None else f"up to {cfg.trainer.max_epochs} epochs"
    estimate = (
        f" (about {DEMO_MINUTES} minutes on an idle 2-core CPU)"
        if args.config == "demo" and not args.overrides
        else ""
    )
    print(f"ecg-train: training {what}{estimate}, config {args.config}", flush=True)
    seed_everything(cfg.trainer.seed)
    device = select_device(args.device)
    resume = require_file(args.resume, "checkpoint to resume") if args.resume else None
    with run_folder(PACKAGE, args.out, resume=resume, overwrite=args.overwrite) as run_dir:
        report = train(cfg, run_dir, device, resume, log=log)
    print(json.dumps(report, indent=2))
    print(
        f"checkpoint: {report['checkpoint']}; try: ecg-infer --checkpoint "
        f"{report['checkpoint']} --compare --visualize"
    )


if __name__ == "__main__":
    main()
