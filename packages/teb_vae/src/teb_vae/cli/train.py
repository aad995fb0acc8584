"""`teb-train`: train the TEB-VAE on CTG windows (synthetic by default) through the shared
Trainer, then evaluate the forecasts against persistence and last-2-minutes-mean baselines.

The run folder (default runs/teb_vae/<YYYYmmdd-HHMMSS>/, or --out) gets config.yaml,
metrics.csv, checkpoints/{last,best}.pt, plots/ and report.json. --resume CKPT continues in the
folder that holds CKPT.
"""

from __future__ import annotations

import argparse
import json
import sys

from sigshared.cli import add_common_arguments, cli_entry
from sigshared.training import apply_common_arguments, run_folder, select_device
from teb_vae.config import load_run_config
from teb_vae.data import read_records_file
from teb_vae.training import train_run

# Measured with `uv run teb-train` (demo config, 1020 steps): 183 s on the idle 2-core CPU,
# 38 min 17 s (26 % of a core) on the same CPU shared with seven other jobs.
DEMO_ESTIMATE = "about 3 minutes on an idle 2-core CPU; 38 minutes measured beside seven other jobs"


def _plan(steps: int | None, epochs: int, demo: bool) -> str:
    what = f"training {steps} steps" if steps else f"training up to {epochs} epochs"
    return f"teb-train: {what}" + (f" ({DEMO_ESTIMATE})" if demo else "")


@cli_entry
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="teb-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_arguments(parser, default_config="demo")
    parser.add_argument(
        "--data",
        default=None,
        help="folder or file of CTG recordings (WFDB .hea/.dat, CSV or NPZ with "
        "fhr/up); default: the built-in synthetic generator",
    )
    parser.add_argument(
        "--records",
        default=None,
        metavar="FILE",
        help="with --data DIR: the records to train on, as a list of names (one per line) or "
        "a YAML split file with train / val / test lists (test records are never trained on)",
    )
    parser.add_argument(
        "--resume",
        default=None,
        metavar="CKPT",
        help="continue training from a checkpoint (checkpoints/last.pt), in its own run "
        "folder unless --out is given",
    )
    args = parser.parse_args(argv)
    cfg = load_run_config(args.config, args.overrides)
    if args.records is not None and args.data is None:
        parser.error("--records needs --data DIR (the folder that holds the records)")
    records = read_records_file(args.records) if args.records else None
    apply_common_arguments(cfg.trainer, args)
    demo = args.config == "demo" and not args.overrides
    print(_plan(cfg.trainer.max_steps, cfg.trainer.max_epochs, demo), flush=True)
    device = select_device(args.device)
    with run_folder("teb_vae", args.out, resume=args.resume, overwrite=args.overwrite) as run_dir:
        report = train_run(cfg, run_dir, args.data, args.resume, records, device)
    print(json.dumps(report["evaluation"], indent=2))
    print(f"wrote {run_dir}/report.json, checkpoints/ and plots/", file=sys.stderr)


if __name__ == "__main__":
    main()
