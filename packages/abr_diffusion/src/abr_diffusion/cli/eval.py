"""`abr-eval`: evaluate a trained checkpoint on the held-out test split.

Both modes of the design document (reconstruction at random t; generation with the
checkpoint's sampler), with MSE, L1, Pearson, SNR, multi-resolution STFT distance, DTW and
wave I / III / V latency errors; the table is printed beside the document's and written as
evaluation.csv / evaluation.json / report.json with plots. The test split is rebuilt from the
checkpoint's config (same data, same patient split seed); `--data` evaluates on the test
split of another table instead.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from abr_diffusion.checkpoint import load_trained
from abr_diffusion.config import SAMPLERS, with_data_overrides
from abr_diffusion.data import ABRDataset, load_data
from abr_diffusion.evaluation import SamplingOptions, evaluate, write_evaluation
from sigshared.cli import (
    add_common_arguments,
    bounded_int,
    cli_entry,
    finite_float,
    require_file,
)
from sigshared.errors import UserError
from sigshared.training import run_folder, seed_everything, select_device


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
        help="recordings (a BioSigRZ export, a table, or a glob of files) whose test split "
        "to use (default: the data the checkpoint was trained on)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="data.KEY=VALUE",
        help="how to read the data, as in training (e.g. data.format=biosig, "
        "data.split_by=row); repeatable",
    )
    parser.add_argument(
        "--max-signals",
        type=bounded_int(1),
        default=None,
        help="evaluate at most this many test recordings "
        "(default: the checkpoint's eval.max_signals)",
    )
    parser.add_argument(
        "--num-inference-steps",
        type=bounded_int(1),
        default=None,
        help="sampler steps (default: the checkpoint's diffusion.num_inference_steps, 60)",
    )
    parser.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default=None,
        help="sampler (default: the checkpoint's diffusion.sampler, ddim)",
    )
    parser.add_argument(
        "--eta", type=finite_float(0.0), default=None, help="DDIM eta (default: checkpoint's, 0)"
    )
    parser.add_argument(
        "--guidance-scale",
        type=finite_float(0.0),
        default=None,
        help="classifier-free guidance scale, 1 = conditional model only "
        "(default: the checkpoint's diffusion.guidance_scale)",
    )
    parser.add_argument("--no-plots", action="store_true", help="write the tables only")
    add_common_arguments(parser, default_config=None)
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    device = select_device(args.device)
    # The output folder is checked and created first; a failure below removes it again.
    with run_folder("abr_diffusion_eval", args.out, overwrite=args.overwrite) as out:
        trained = load_trained(require_file(args.checkpoint, "checkpoint"), device)
        trained.config = cfg = with_data_overrides(trained.config, args.overrides)
        steps = args.num_inference_steps
        if steps is not None and steps > cfg.diffusion.num_train_timesteps:
            raise UserError(
                f"--num-inference-steps must lie in 1 .. {cfg.diffusion.num_train_timesteps}, "
                f"got {steps}"
            )
        if args.data:
            cfg.data.path = args.data
        seed = cfg.trainer.seed if args.seed is None else args.seed
        seed_everything(seed)
        n_max = cfg.eval.max_signals if args.max_signals is None else args.max_signals
        splits = load_data(cfg)
        test_ds = ABRDataset(splits.data.subset(splits.test), trained.encoder)
        n = min(n_max, len(test_ds))
        index = np.random.default_rng(seed).permutation(len(test_ds))[:n]
        print(
            f"abr-eval: {n} of {len(test_ds)} test recordings ({cfg.data.path or 'synthetic'}), "
            f"{trained.weights} weights, device {device}"
        )
        sampling = SamplingOptions(steps, args.guidance_scale, args.sampler, args.eta)
        results = evaluate(
            trained, test_ds, index, cfg.eval.batch_size, seed, sampling, progress=not args.quiet
        )
        summary = write_evaluation(results, test_ds, index, out, plots=not args.no_plots)
        settings = {
            "checkpoint": str(args.checkpoint),
            "data": cfg.data.path or "synthetic",
            **sampling.resolved(cfg.diffusion),
            "seed": seed,
        }
        report = {"settings": settings, **summary}
        (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"abr-eval: evaluation.csv, evaluation.json, report.json and plots in {out}")


if __name__ == "__main__":
    main()
