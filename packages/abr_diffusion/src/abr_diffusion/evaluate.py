"""`abr-eval`: evaluate a trained checkpoint on the held-out test split.

Both modes of the design document (reconstruction at random t; DDIM generation), with MSE, L1,
Pearson, SNR, multi-resolution STFT distance, DTW and wave I / III / V latency errors; the table
is printed beside the document's and written as evaluation.csv / evaluation.json with plots.
The test split is rebuilt from the checkpoint's config (same data, same patient split seed);
`--data` evaluates on the test split of another table instead.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from abr_diffusion.checkpoint import load_trained
from abr_diffusion.data import ABRDataset
from abr_diffusion.evaluation import evaluate
from abr_diffusion.report import load_data, write_evaluation
from sigshared.cli import add_common_arguments, cli_entry, require_file
from sigshared.errors import UserError
from sigshared.training import create_run_dir, seed_everything, select_device


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="abr-eval",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  abr-eval --checkpoint runs/abr_diffusion/<run>/checkpoints/best.pt",
    )
    parser.add_argument("--checkpoint", required=True, help="checkpoint written by abr-train")
    parser.add_argument(
        "--data",
        default=None,
        help="recordings table (CSV, Parquet or NPZ) whose test split to use "
        "(default: the data the checkpoint was trained on)",
    )
    parser.add_argument(
        "--max-signals",
        type=int,
        default=None,
        help="evaluate at most this many test recordings "
        "(default: the checkpoint's eval.max_signals)",
    )
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps (default: 60)")
    parser.add_argument("--eta", type=float, default=None, help="DDIM eta (default 0)")
    parser.add_argument(
        "--guidance", type=float, default=None, help="guidance scale (default: checkpoint's)"
    )
    parser.add_argument("--no-plots", action="store_true", help="write the tables only")
    add_common_arguments(parser, default_config=None)
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    device = select_device(args.device)
    trained = load_trained(require_file(args.checkpoint, "checkpoint"), device)
    cfg = trained.config
    if args.data:
        cfg.data.path = str(require_file(args.data, "data file"))
    seed = cfg.trainer.seed if args.seed is None else args.seed
    seed_everything(seed)
    n_max = cfg.eval.max_signals if args.max_signals is None else args.max_signals
    if n_max < 1:
        raise UserError(f"--max-signals must be >= 1, got {n_max}")
    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps must be >= 1, got {args.steps}")
    splits = load_data(cfg)
    test_ds = ABRDataset(splits.data.subset(splits.test), trained.scaler)
    out = create_run_dir("abr_diffusion_eval", args.out, overwrite=args.overwrite)
    n = min(n_max, len(test_ds))
    index = np.random.default_rng(seed).permutation(len(test_ds))[:n]
    print(
        f"abr-eval: {n} of {len(test_ds)} test recordings ({cfg.data.path or 'synthetic'}), "
        f"{trained.weights} weights, device {device}"
    )
    results = evaluate(
        trained,
        test_ds,
        index,
        cfg.eval.batch_size,
        seed,
        args.steps,
        args.eta,
        args.guidance,
        progress=not args.quiet,
    )
    summary = write_evaluation(results, test_ds, index, out, plots=not args.no_plots)
    settings = {
        "checkpoint": str(args.checkpoint),
        "data": cfg.data.path or "synthetic",
        "steps": args.steps or cfg.diffusion.sample_steps,
        "eta": cfg.diffusion.eta if args.eta is None else args.eta,
        "guidance": cfg.diffusion.guidance if args.guidance is None else args.guidance,
        "seed": seed,
    }
    (out / "report.json").write_text(json.dumps({"settings": settings, **summary}, indent=2))
    print(f"abr-eval: evaluation.csv, evaluation.json, report.json and plots in {out}")


if __name__ == "__main__":
    main()
