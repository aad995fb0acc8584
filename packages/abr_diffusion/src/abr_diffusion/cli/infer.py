"""`abr-infer`: generate ABRs for given conditions, or denoise recorded ABRs.

generate: samples for each condition row (--condition values, broadcast against each other,
    or a CSV of conditions), written in µV on the model's grid.
denoise:  each recording (read as in training, resampled to the model's grid) is noised to
    step --t (--no-added-noise: taken as the step --t state itself) and brought back by the
    model (--num-inference-steps 0: the one-step x0 estimate), written in µV.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from abr_diffusion.checkpoint import TrainedModel, load_trained
from abr_diffusion.config import SAMPLERS, with_data_overrides
from abr_diffusion.data import read_conditions, read_recordings
from abr_diffusion.evaluation import SamplingOptions
from abr_diffusion.inference import denoise, generate, write_denoised, write_generated
from sigshared.cli import add_common_arguments, bounded_int, cli_entry, finite_float, require_file
from sigshared.errors import UserError
from sigshared.training import run_folder, seed_everything, select_device

OUTPUT_NAME = "abr_diffusion_infer"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--checkpoint", required=True, help="checkpoint written by abr-train (best.pt or last.pt)"
    )
    add_common_arguments(common, default_config=None)
    common.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="data.KEY=VALUE",
        help="how to read the input, as in training (e.g. data.format=biosig, "
        "data.patient_column=subject, data.source_sample_rate=24414.0625); repeatable",
    )
    common.add_argument(
        "--num-inference-steps",
        type=bounded_int(0),
        default=None,
        help="sampler steps (default: the checkpoint's diffusion.num_inference_steps, 60); "
        "denoise also takes 0: the one-step x0 estimate",
    )
    parser = argparse.ArgumentParser(
        prog="abr-infer",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  abr-infer generate --checkpoint best.pt --condition intensity=30,50,70,90\n"
        "  abr-infer denoise --checkpoint run/checkpoints/best.pt --input recordings.csv --t 200",
    )
    sub = parser.add_subparsers(dest="mode", required=True, metavar="{generate,denoise}")
    gen = sub.add_parser(
        "generate", parents=[common], help="sample new recordings for given conditions"
    )
    gen.add_argument(
        "--condition",
        action="append",
        default=[],
        metavar="NAME=V1[,V2,...]",
        help="a condition of the model (its data.conditions, e.g. intensity=90,70,50 or "
        "stimulus=click) with one value or one per condition row; repeatable; a condition "
        "left out takes the training median (numeric) or most frequent value (categorical)",
    )
    gen.add_argument(
        "--conditions-csv",
        default=None,
        help="CSV with one condition row per line, a column per condition; replaces --condition",
    )
    gen.add_argument(
        "--num-samples", type=bounded_int(1), default=1, help="samples per condition (default 1)"
    )
    gen.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default=None,
        help="sampler (default: the checkpoint's diffusion.sampler, ddim)",
    )
    gen.add_argument(
        "--eta",
        type=finite_float(0.0),
        default=None,
        help="DDIM eta, 0 = deterministic (default: the checkpoint's, 0)",
    )
    gen.add_argument(
        "--guidance-scale",
        type=finite_float(0.0),
        default=None,
        help="classifier-free guidance scale (1 = conditional model only; default: the "
        "checkpoint's diffusion.guidance_scale)",
    )
    den = sub.add_parser(
        "denoise", parents=[common], help="reconstruct recordings from a chosen noise level"
    )
    den.add_argument(
        "--input",
        required=True,
        help="recordings: a BioSigRZ CSV export or a table (CSV, Parquet, NPZ), or a glob of "
        "files, read as in training (see --set)",
    )
    den.add_argument(
        "--t",
        type=bounded_int(0),
        default=200,
        help="diffusion step the recordings are noised to, 0 .. num_train_timesteps - 1 "
        "(default 200)",
    )
    den.add_argument(
        "--no-added-noise",
        action="store_true",
        help="take each recording as the step --t state itself (its own noise as the "
        "diffusion noise) instead of adding noise to it; pick --t so that 1 - alpha_bar_t is "
        "about the noise's share of the recording's variance",
    )
    return parser


def _conditions(args: argparse.Namespace, trained: TrainedModel) -> pd.DataFrame:
    """Raw condition rows from --conditions-csv or the broadcast --condition values."""
    encoder = trained.encoder
    if args.conditions_csv:
        return read_conditions(require_file(args.conditions_csv, "conditions CSV"), encoder.columns)
    given: dict[str, list[str]] = {}
    for text in args.condition:
        name, _, values = text.partition("=")
        name = name.strip()
        if name not in encoder.columns or not values:
            raise UserError(
                f"--condition {text!r}: expected NAME=V1[,V2,...] with NAME one of "
                f"{', '.join(encoder.columns)}"
            )
        given[name] = [v.strip() for v in values.split(",")]
    lengths = {len(v) for v in given.values() if len(v) > 1}
    if len(lengths) > 1:
        raise UserError(
            f"--condition values must have the same count when several, got {sorted(lengths)}"
        )
    n = lengths.pop() if lengths else 1
    frame = pd.DataFrame(
        {
            name: np.resize(np.array(given.get(name, [default]), dtype=object), n)
            for name, default in zip(encoder.columns, encoder.default)
        }
    )
    for name, cats in zip(encoder.columns, encoder.categories):
        if cats is None:
            # Non-numbers become NaN, which the encoder reports by condition and row.
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
    return frame


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.mode == "generate" and args.num_inference_steps == 0:
        raise UserError("--num-inference-steps must be >= 1 for generate (0 is for denoise)")
    seed = 0 if args.seed is None else args.seed
    seed_everything(seed)
    device = select_device(args.device)
    # The output folder is checked and created first; a failure below removes it again.
    with run_folder(OUTPUT_NAME, args.out, overwrite=args.overwrite) as out:
        trained = load_trained(require_file(args.checkpoint, "checkpoint"), device)
        trained.config = cfg = with_data_overrides(trained.config, args.overrides)
        d = cfg.diffusion
        steps = args.num_inference_steps
        if steps is not None and steps > d.num_train_timesteps:
            raise UserError(
                f"--num-inference-steps must lie in 0 .. {d.num_train_timesteps}, got {steps}"
            )
        if args.mode == "generate":
            conditions = _conditions(args, trained)
            sampling = SamplingOptions(steps, args.guidance_scale, args.sampler, args.eta)
            result = generate(trained, conditions, args.num_samples, seed, sampling)
            write_generated(result, cfg.peaks.windows, out)
            done = f"{len(result.signals_uv)} generated signals"
        else:
            if args.t >= d.num_train_timesteps:
                raise UserError(f"--t must lie in 0 .. {d.num_train_timesteps - 1}, got {args.t}")
            data = read_recordings(args.input, cfg.data, require_patient=False)
            result = denoise(trained, data, args.t, steps, seed, not args.no_added_noise)
            write_denoised(result, args.t, out)
            done = f"{len(result.denoised_uv)} denoised signals"
    print(f"abr-infer: {done} -> {out}")


if __name__ == "__main__":
    main()
