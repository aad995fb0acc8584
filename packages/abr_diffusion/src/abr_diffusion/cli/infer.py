"""`abr-infer`: generate ABRs for given static parameters, or denoise recorded ABRs.

generate: samples for each condition (flags, broadcast against each other, or a CSV of
    static parameters), written in µV.
denoise:  each recording (a table like the training data) is noised to step --t and brought
    back by the model (--num-inference-steps 0: the one-step x0 estimate), written in µV.
"""

from __future__ import annotations

import argparse

import numpy as np

from abr_diffusion.checkpoint import TrainedModel, load_trained
from abr_diffusion.config import SAMPLERS
from abr_diffusion.data import ColumnNames, load_table, read_conditions
from abr_diffusion.evaluation import SamplingOptions
from abr_diffusion.inference import (
    check_conditions,
    denoise,
    generate,
    write_denoised,
    write_generated,
)
from sigshared.cli import (
    add_common_arguments,
    bounded_int,
    cli_entry,
    finite_float,
    require_file,
)
from sigshared.errors import UserError
from sigshared.training import run_folder, seed_everything, select_device

OUTPUT_NAME = "abr_diffusion_infer"
FLAGS = (("age", "years"), ("intensity", "dB nHL"), ("rate", "clicks/s"), ("fmp", "FMP ratio"))


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--checkpoint", required=True, help="checkpoint written by abr-train (best.pt or last.pt)"
    )
    add_common_arguments(common, default_config=None)
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
        "  abr-infer generate --checkpoint run/checkpoints/best.pt --intensity 30 50 70 90\n"
        "  abr-infer denoise --checkpoint run/checkpoints/best.pt --input recordings.csv --t 200",
    )
    sub = parser.add_subparsers(dest="mode", required=True, metavar="{generate,denoise}")
    gen = sub.add_parser(
        "generate", parents=[common], help="sample new recordings for static parameters"
    )
    for name, unit in FLAGS:
        gen.add_argument(
            f"--{name}",
            type=finite_float(),
            nargs="+",
            default=None,
            help=f"{name} in {unit}, one value or one per condition "
            "(default: the training-set mean)",
        )
    gen.add_argument(
        "--static-csv",
        default=None,
        help="CSV with one condition per row, columns named as in training "
        "(default age, intensity, rate, fmp); replaces the four flags",
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
        "--input", required=True, help="recordings table (CSV, Parquet or NPZ, as for training)"
    )
    den.add_argument(
        "--t",
        type=bounded_int(0),
        default=200,
        help="diffusion step the recordings are noised to, 0 .. num_train_timesteps - 1 "
        "(default 200)",
    )
    return parser


def _conditions(args: argparse.Namespace, trained: TrainedModel) -> np.ndarray:
    """(N, S) raw static rows from --static-csv or the broadcast flags."""
    names = trained.config.data.static_columns
    if args.static_csv:
        rows = read_conditions(require_file(args.static_csv, "static-parameter CSV"), names)
    else:
        values = [getattr(args, name) for name, _ in FLAGS]
        lengths = {len(v) for v in values if v is not None and len(v) > 1}
        if len(lengths) > 1:
            raise UserError(
                f"static flags with several values must have the same count, got {sorted(lengths)}"
            )
        n = lengths.pop() if lengths else 1
        cols = [
            np.full(n, trained.scaler.mean[j]) if v is None else np.resize(np.array(v), n)
            for j, v in enumerate(values)
        ]
        rows = np.stack(cols, axis=1)
    return check_conditions(rows, names)


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
        d = trained.config.diffusion
        steps = args.num_inference_steps
        if steps is not None and steps > d.num_train_timesteps:
            raise UserError(
                f"--num-inference-steps must lie in 0 .. {d.num_train_timesteps}, got {steps}"
            )
        names = list(trained.config.data.static_columns)
        if args.mode == "generate":
            conditions = _conditions(args, trained)
            sampling = SamplingOptions(steps, args.guidance_scale, args.sampler, args.eta)
            result = generate(trained, conditions, args.num_samples, seed, sampling)
            write_generated(result, names, out)
            done = f"{len(result.signals_uv)} generated signals"
        else:
            if args.t >= d.num_train_timesteps:
                raise UserError(f"--t must lie in 0 .. {d.num_train_timesteps - 1}, got {args.t}")
            m = trained.config.data
            columns = ColumnNames(m.patient_column, names, m.signal_column)
            data = load_table(
                args.input, columns, trained.config.model.seq_len, require_patient=False
            )
            result = denoise(trained, data, args.t, steps, seed)
            write_denoised(result, names, args.t, out)
            done = f"{len(result.denoised_uv)} denoised signals"
    print(f"abr-infer: {done} -> {out}")


if __name__ == "__main__":
    main()
