"""`ecg-prepare`: ECG records (raw PhysioNet WFDB folders, CSV, NPY) or the synthetic
generator -> a dataset folder.

Channel selection, rates, missing samples, the layout and prepare.json are those of
`spectro_diffusion.ecg.records` and `spectro_diffusion.ecg.prepare`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sigshared.cli import bounded_int, cli_entry, finite_float
from sigshared.files import output_dir
from spectro_diffusion.ecg.config import PrepareConfig
from spectro_diffusion.ecg.prepare import prepare_dataset
from spectro_diffusion.ecg.records import read_records
from spectro_diffusion.ecg.synthetic import build_synthetic


def _parser() -> argparse.ArgumentParser:
    d = PrepareConfig()
    positive = finite_float(0, lo_open=True)
    p = argparse.ArgumentParser(
        prog="ecg-prepare",
        description="Build the ECG diffusion dataset (images, freq_embeddings, inits/amp_init, "
        "inits/emb_init; train/val by record) from WFDB / CSV / NPY records or the built-in "
        "synthetic ECG generator.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--records", help="folder of WFDB records (*.hea) or CSV / NPY files")
    src.add_argument("--synthetic", action="store_true", help="use the built-in synthetic ECG")
    p.add_argument("--out", required=True, help="dataset folder to create")
    p.add_argument(
        "--input-fs",
        type=positive,
        help='sampling rate in Hz of CSV / NPY files without a sidecar <file>.json {"fs": HZ}',
    )
    p.add_argument(
        "--channels",
        nargs="+",
        default=d.channels,
        metavar="NAME",
        help="channels to use: ecg (every ECG lead by name: MLII, V1-V6, I, II, III, aVR, aVL, "
        "aVF, MCL1, ECG ...), all, or channel names, e.g. --channels ecg PLETH (default: ecg)",
    )
    p.add_argument(
        "--val-records",
        nargs="+",
        default=[],
        metavar="RECORD",
        help="record names for validation (default: a seeded --val-fraction of the records)",
    )
    p.add_argument(
        "--max-gap-seconds",
        type=finite_float(0),
        default=d.max_gap_seconds,
        help="runs of missing samples up to this long are interpolated; windows over longer "
        f"runs are left out ({d.max_gap_seconds:g})",
    )
    p.add_argument("--fs", type=positive, default=d.fs, help=f"target rate in Hz ({d.fs:g})")
    p.add_argument(
        "--window-seconds",
        type=positive,
        default=d.window_seconds,
        help=f"window length, rounded to a multiple of the image width ({d.window_seconds:g})",
    )
    p.add_argument("--hop-seconds", type=positive, help="window hop (default: the window length)")
    p.add_argument(
        "--image-height", type=bounded_int(1), default=d.image_height, help="frequency rows"
    )
    p.add_argument("--image-width", type=bounded_int(1), default=d.image_width, help="time columns")
    p.add_argument(
        "--fmin", type=positive, default=d.fmin, help=f"lowest frequency ({d.fmin:g} Hz)"
    )
    p.add_argument("--fmax", type=positive, default=d.fmax, help=f"highest frequency ({d.fmax:g})")
    p.add_argument(
        "--coarse-grid", type=bounded_int(1), default=d.coarse_grid, help="emb_init blocks"
    )
    p.add_argument(
        "--variants", type=bounded_int(1), default=d.variants, help="time-shifted copies z{k}"
    )
    p.add_argument(
        "--val-fraction",
        type=finite_float(0, 1, hi_open=True),
        default=d.val_fraction,
        help=f"fraction of records for validation ({d.val_fraction:g})",
    )
    p.add_argument(
        "--num-records", type=bounded_int(1), default=d.synthetic_records, help="synthetic"
    )
    p.add_argument("--seconds", type=positive, default=d.synthetic_seconds, help="synthetic length")
    p.add_argument("--seed", type=int, default=d.seed, help="split and synthetic seed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true", help="allow a non-empty --out")
    return p


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    cfg = PrepareConfig(
        fs=args.fs,
        window_seconds=args.window_seconds,
        hop_seconds=args.hop_seconds,
        image_height=args.image_height,
        image_width=args.image_width,
        fmin=args.fmin,
        fmax=args.fmax,
        coarse_grid=args.coarse_grid,
        variants=args.variants,
        val_fraction=args.val_fraction,
        val_records=args.val_records,
        channels=args.channels,
        max_gap_seconds=args.max_gap_seconds,
        synthetic_records=args.num_records,
        synthetic_seconds=args.seconds,
        seed=args.seed,
    )
    records = None if args.synthetic else read_records(Path(args.records), args.input_fs)
    with output_dir(args.out, overwrite=args.overwrite) as out:
        if records is None:
            counts = build_synthetic(out, cfg, progress=not args.quiet)
        else:
            counts = prepare_dataset(records, out, cfg, progress=not args.quiet)
    print(
        f"wrote {counts['train']} train and {counts['val']} val windows to {out} "
        f"(images {cfg.image_height}x{cfg.image_width}, {cfg.window_samples} samples at "
        f"{cfg.fs:g} Hz)"
    )


if __name__ == "__main__":
    main()
