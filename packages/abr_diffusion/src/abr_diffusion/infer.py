"""`abr-infer`: generate ABRs for given static parameters, or denoise recorded ABRs.

generate: DDIM samples for each condition (flags, broadcast against each other, or a CSV of
    static parameters); written in µV (the checkpoint's amplitude model gives each sample the
    offset and scale a recording with those parameters has on average).
denoise:  each recording (a table like the training data) is z-scored, noised to step --t and
    brought back by the model: DDIM from t (--steps > 0) or the one-step x0 estimate
    (--steps 0); written in µV with the recording's own offset and scale.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from abr_diffusion.checkpoint import TrainedModel, load_trained
from abr_diffusion.data import ColumnNames, load_table, zscore_signals
from abr_diffusion.peaks import peak_latencies
from abr_diffusion.plots import plot_best_worst, plot_signals
from abr_diffusion.report import to_uv
from sigshared.cli import add_common_arguments, cli_entry, require_file
from sigshared.diffusion import q_sample
from sigshared.errors import UserError
from sigshared.training import create_run_dir, seed_everything, select_device

FLAG_NAMES = ("age", "intensity", "rate", "fmp")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--checkpoint", required=True, help="checkpoint written by abr-train (best.pt or last.pt)"
    )
    add_common_arguments(common, default_config=None)
    common.add_argument(
        "--steps", type=int, default=None, help="DDIM steps (default: the checkpoint's, 60)"
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
    for name, unit in zip(FLAG_NAMES, ("years", "dB nHL", "clicks/s", "FMP ratio")):
        gen.add_argument(
            f"--{name}",
            type=float,
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
    gen.add_argument("--num-samples", type=int, default=1, help="samples per condition (default 1)")
    gen.add_argument("--eta", type=float, default=None, help="DDIM eta (default 0: deterministic)")
    gen.add_argument(
        "--guidance",
        type=float,
        default=None,
        help="classifier-free guidance scale w (1 = conditional model only; default: checkpoint's)",
    )
    den = sub.add_parser(
        "denoise", parents=[common], help="reconstruct recordings from a chosen noise level"
    )
    den.add_argument(
        "--input", required=True, help="recordings table (CSV, Parquet or NPZ, as for training)"
    )
    den.add_argument(
        "--t",
        type=int,
        default=200,
        help="diffusion step the recordings are noised to, 0..999 (default 200)",
    )
    return parser


def _conditions(args: argparse.Namespace, trained: TrainedModel) -> np.ndarray:
    """(N, 4) raw static rows from --static-csv or the broadcast flags."""
    names = trained.config.data.static_columns
    if args.static_csv:
        path = require_file(args.static_csv, "static-parameter CSV")
        try:
            frame = pd.read_csv(path)
        except (ValueError, OSError) as err:
            raise UserError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise UserError(
                f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(frame.columns)}"
            )
        rows = frame[names].to_numpy(dtype=np.float64)
    else:
        values = [getattr(args, n) for n in FLAG_NAMES]
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
    if not np.isfinite(rows).all():
        bad = np.flatnonzero(~np.isfinite(rows).all(1))[:5].tolist()
        raise UserError(f"static parameters hold NaN/Inf in rows {bad}; fix the input")
    return rows.astype(np.float32)


def _signal_frame(static: np.ndarray, names: list[str], signals_uv: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(static, columns=names)
    sig = pd.DataFrame(signals_uv, columns=[f"s{i}" for i in range(signals_uv.shape[1])])
    return pd.concat([frame, sig], axis=1)


def run_generate(args: argparse.Namespace, trained: TrainedModel, out: Path) -> None:
    if args.num_samples < 1:
        raise UserError(f"--num-samples must be >= 1, got {args.num_samples}")
    cond = np.repeat(_conditions(args, trained), args.num_samples, axis=0)
    z = torch.from_numpy(trained.scaler.transform(cond)).to(trained.device)
    gen = torch.Generator().manual_seed(args.seed if args.seed is not None else 0)
    seq_len = trained.config.model.seq_len
    x_T = torch.randn((len(cond), 1, seq_len), generator=gen).to(trained.device)
    try:
        samples = trained.diffusion.generate(
            trained.net,
            z,
            args.steps,
            args.eta,
            args.guidance,
            generator=gen,
            x_T=x_T,
            seq_len=seq_len,
        )
    except ValueError as err:
        raise UserError(str(err)) from None
    out_z = samples[:, 0].cpu().numpy()
    mean, std = trained.amplitude.predict(z.cpu().numpy())
    uv = to_uv(out_z, mean, std)
    names = trained.config.data.static_columns
    frame = _signal_frame(cond, names, uv)
    frame.insert(
        len(names), "sample", np.tile(np.arange(args.num_samples), len(cond) // args.num_samples)
    )
    lat = peak_latencies(uv)
    for j, wave in enumerate(("I", "III", "V")):
        frame.insert(len(names) + 1 + j, f"wave_{wave}_ms", lat[:, j])
    frame.to_csv(out / "generated.csv", index=False)
    np.savez(out / "generated.npz", signals_uv=uv, signals_z=out_z, static=cond, latencies_ms=lat)
    k = min(len(uv), 12)
    labels = [", ".join(f"{n} {v:g}" for n, v in zip(names, row)) for row in cond[:k]]
    plot_signals(uv[:k], labels, "generated ABRs", out / "plots" / "generated.png")
    print(f"abr-infer: {len(uv)} generated signals -> {out}/generated.csv, generated.npz, plots/")


def run_denoise(args: argparse.Namespace, trained: TrainedModel, out: Path) -> None:
    num_t = trained.diffusion.schedule.num_timesteps
    if not 0 <= args.t < num_t:
        raise UserError(f"--t must lie in 0..{num_t - 1}, got {args.t}")
    d = trained.config.data
    names = ColumnNames(d.patient_column, list(d.static_columns), d.signal_column)
    data = load_table(args.input, names, trained.config.model.seq_len, require_patient=False)
    z, mean, std = zscore_signals(data.signals.astype(np.float64))
    x0 = torch.from_numpy(z.astype(np.float32))[:, None].to(trained.device)
    static = torch.from_numpy(trained.scaler.transform(data.static)).to(trained.device)
    gen = torch.Generator().manual_seed(args.seed if args.seed is not None else 0)
    noise = torch.randn(x0.shape, generator=gen).to(trained.device)
    t = torch.full((len(x0),), args.t, dtype=torch.long, device=trained.device)
    if args.steps == 0:
        rec = trained.diffusion.reconstruct(trained.net, x0, static, t, noise)
    else:
        x_t = q_sample(trained.diffusion.schedule, x0, t, noise)
        steps = args.steps or trained.config.diffusion.sample_steps
        if not 1 <= steps <= num_t:
            raise UserError(f"--steps must lie in 0..{num_t}, got {args.steps}")
        rec = trained.diffusion.generate(
            trained.net, static, steps, eta=0.0, x_T=x_t, t_start=args.t, seq_len=x0.shape[-1]
        )
    rec_uv = to_uv(rec[:, 0].cpu().numpy(), mean, std)
    frame = _signal_frame(data.static, list(d.static_columns), rec_uv)
    frame.insert(0, "patient_id", data.patient_id)
    frame.to_csv(out / "denoised.csv", index=False)
    np.savez(out / "denoised.npz", input_uv=data.signals, denoised_uv=rec_uv, static=data.static)
    mse = ((rec_uv - data.signals) / std[:, None]) ** 2
    plot_best_worst(
        data.signals,
        rec_uv,
        mse.mean(1),
        f"denoised from t={args.t}",
        out / "plots" / "denoised.png",
    )
    print(f"abr-infer: {len(rec_uv)} denoised signals -> {out}/denoised.csv, denoised.npz, plots/")


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.steps is not None and args.steps < 0:
        raise UserError(f"--steps must be >= 0, got {args.steps}")
    if args.mode == "generate" and args.steps == 0:
        raise UserError("--steps must be >= 1 for generate")
    if args.seed is not None:
        seed_everything(args.seed)
    device = select_device(args.device)
    trained = load_trained(require_file(args.checkpoint, "checkpoint"), device)
    out = create_run_dir("abr_diffusion_infer", args.out, overwrite=args.overwrite)
    if args.mode == "generate":
        run_generate(args, trained, out)
    else:
        run_denoise(args, trained, out)


if __name__ == "__main__":
    main()
