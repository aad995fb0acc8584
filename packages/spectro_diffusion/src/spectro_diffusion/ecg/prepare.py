"""`ecg-prepare`: ECG records -> the dataset layout the model trains on.

Sources: a folder of WFDB records (`*.hea` + signal files, MIT-BIH style, read with `wfdb`),
CSV files (one numeric column per lead, header row) or NPY files ((samples,) or
(samples, leads)), or the built-in synthetic generator (`--synthetic`). CSV and NPY carry no
sampling rate, so they need `--input-fs`. Every record is resampled to `fs`
(`scipy.signal.resample_poly`) and cut per lead into windows of `window_seconds` (rounded to
a multiple of the image width) every `hop_seconds`; variant z{k} of k = 0..variants-1 starts
its windows k * hop / variants samples later (time-shifted copies). Each window becomes the
four arrays defined in `spectro_diffusion.ecg.features`, saved as

    OUT/images/{split}/{stem}.npy             (H, W)  log power Morlet scalogram
    OUT/freq_embeddings/{split}/{stem}.npy    (H,)    log time-averaged power per row
    OUT/inits/amp_init/{split}/{stem}.npy     (W,)    z-scored waveform resampled to W
    OUT/inits/emb_init/{split}/{stem}.npy     (H, W)  coarse (grid x grid) image

with stem `{record}_lead{k}_z{variant}_w{index:03d}`, plus `OUT/prepare.json` (settings and
frequency axis). The train / val split is by record (no record in both); a single record is
split in time instead (its last windows go to val).
"""

from __future__ import annotations

import argparse
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly
from tqdm.auto import tqdm

from sigshared.cli import cli_entry
from sigshared.errors import UserError
from spectro_diffusion.ecg.config import PrepareConfig
from spectro_diffusion.ecg.data import FOLDERS
from spectro_diffusion.ecg.features import morlet_frequencies, window_arrays
from spectro_diffusion.ecg.synthetic import synthetic_records


def read_wfdb_folder(folder: Path) -> dict[str, tuple[np.ndarray, float]]:
    """{record: ((leads, samples) physical units, fs)} for every `*.hea` in `folder`."""
    import wfdb

    records = {}
    for header in sorted(folder.glob("*.hea")):
        try:
            rec = wfdb.rdrecord(str(header.with_suffix("")))
        except Exception as err:
            raise UserError(f"cannot read WFDB record {header.with_suffix('')}: {err}") from None
        if rec.p_signal is None:
            raise UserError(f"WFDB record {header.stem} holds no physical signal")
        records[header.stem] = (np.asarray(rec.p_signal, dtype=np.float64).T, float(rec.fs))
    return records


def read_table_folder(folder: Path, input_fs: float | None) -> dict[str, tuple[np.ndarray, float]]:
    """{record: ((leads, samples), input_fs)} for every `*.csv` / `*.npy` in `folder`."""
    import pandas as pd

    files = sorted([*folder.glob("*.csv"), *folder.glob("*.npy")])
    if files and input_fs is None:
        raise UserError(
            f"{files[0].name}: CSV / NPY files carry no sampling rate; pass --input-fs HZ"
        )
    records = {}
    for path in files:
        try:
            if path.suffix == ".csv":
                frame = pd.read_csv(path)
                signal = frame.select_dtypes("number").to_numpy(dtype=np.float64)
            else:
                signal = np.load(path, allow_pickle=False).astype(np.float64)
        except Exception as err:
            raise UserError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
        if signal.ndim == 1:
            signal = signal[:, None]
        if signal.ndim != 2 or signal.size == 0:
            raise UserError(
                f"{path}: expected (samples,) or (samples, leads), got shape {signal.shape}"
            )
        records[path.stem] = (signal.T, float(input_fs))
    return records


def check_finite(name: str, signal: np.ndarray) -> None:
    """UserError naming the record, lead and sample of the first NaN / Inf."""
    bad = ~np.isfinite(signal)
    if bad.any():
        lead, sample = np.argwhere(bad)[0]
        raise UserError(
            f"record {name}: {int(bad.sum())} NaN/Inf values (first at lead {lead}, sample "
            f"{sample}); clean or interpolate the record first"
        )


def resample(signal: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """(leads, samples) at fs_in -> (leads, samples') at fs_out, polyphase anti-aliased."""
    if fs_in == fs_out:
        return signal
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=-1)


def window_starts(n: int, window: int, hop: int, variant: int, variants: int) -> list[int]:
    """Start samples of the windows of one variant (shifted by variant * hop / variants)."""
    offset = (variant * hop) // variants
    return list(range(offset, n - window + 1, hop))


def split_records(names: list[str], val_fraction: float, seed: int) -> dict[str, str]:
    """{record: "train" | "val"}: a seeded record-level split (at least one val record when
    there are two or more records and val_fraction > 0)."""
    order = np.random.default_rng(seed).permutation(sorted(names))
    n_val = 0
    if len(names) >= 2 and val_fraction > 0:
        n_val = min(len(names) - 1, max(1, round(val_fraction * len(names))))
    return {str(r): ("val" if i < n_val else "train") for i, r in enumerate(order)}


def prepare_dataset(
    records: dict[str, tuple[np.ndarray, float]],
    out: Path,
    cfg: PrepareConfig,
    leads: list[int] | None = None,
    progress: bool = True,
) -> dict[str, int]:
    """Write the dataset layout to `out`; returns the number of windows per split."""
    if not records:
        raise UserError("no records found; point --records at WFDB, CSV or NPY files")
    freqs = morlet_frequencies(cfg.fmin, cfg.fmax, cfg.image_height)
    window, hop = cfg.window_samples, cfg.hop_samples
    splits = split_records(list(records), cfg.val_fraction, cfg.seed)
    single = len(records) == 1
    for folder in FOLDERS.values():
        for split in ("train", "val"):
            (out / folder / split).mkdir(parents=True, exist_ok=True)
    counts = {"train": 0, "val": 0}
    for name, (signal, fs_in) in tqdm(records.items(), desc="records", disable=not progress):
        check_finite(name, signal)
        x = resample(signal, fs_in, cfg.fs)
        lead_ids = range(x.shape[0]) if leads is None else leads
        for k in lead_ids:
            if k >= x.shape[0]:
                raise UserError(f"record {name} has {x.shape[0]} leads; lead {k} does not exist")
            for v in range(cfg.variants):
                starts = window_starts(x.shape[1], window, hop, v, cfg.variants)
                n_val = round(cfg.val_fraction * len(starts)) if single else 0
                for i, s in enumerate(starts):
                    if single:
                        split = "val" if i >= len(starts) - n_val else "train"
                    else:
                        split = splits[name]
                    stem = f"{name}_lead{k}_z{v}_w{i:03d}"
                    arrays = window_arrays(
                        x[k, s : s + window], cfg.fs, freqs, cfg.image_width, cfg.coarse_grid
                    )
                    for array_name, folder in FOLDERS.items():
                        np.save(out / folder / split / f"{stem}.npy", arrays[array_name])
                    counts[split] += 1
    if counts["train"] == 0:
        raise UserError(
            f"no training windows: records are shorter than one window ({window} samples at "
            f"{cfg.fs:g} Hz); lower --window-seconds"
        )
    meta = {
        "fs": cfg.fs,
        "window_samples": window,
        "hop_samples": hop,
        "variants": cfg.variants,
        "frequencies_hz": freqs.tolist(),
        "image_shape": [cfg.image_height, cfg.image_width],
        "coarse_grid": cfg.coarse_grid,
        "records": splits if not single else {next(iter(records)): "train+val (time split)"},
        "windows": counts,
    }
    (out / "prepare.json").write_text(json.dumps(meta, indent=2))
    return counts


def build_synthetic(out: Path, cfg: PrepareConfig, progress: bool = True) -> dict[str, int]:
    """The synthetic dataset (see `spectro_diffusion.ecg.synthetic`) written to `out`."""
    records = synthetic_records(
        cfg.synthetic_records, cfg.synthetic_seconds, cfg.synthetic_fs, cfg.seed
    )
    return prepare_dataset(
        {k: (v, cfg.synthetic_fs) for k, v in records.items()}, out, cfg, progress=progress
    )


def _parser() -> argparse.ArgumentParser:
    d = PrepareConfig()
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
    p.add_argument("--input-fs", type=float, help="sampling rate of CSV / NPY files in Hz")
    p.add_argument("--leads", type=int, nargs="+", help="lead indices to use (default: all)")
    p.add_argument("--fs", type=float, default=d.fs, help=f"target rate in Hz ({d.fs:g})")
    p.add_argument(
        "--window-seconds",
        type=float,
        default=d.window_seconds,
        help=f"window length, rounded to a multiple of the image width ({d.window_seconds:g})",
    )
    p.add_argument("--hop-seconds", type=float, help="window hop (default: the window length)")
    p.add_argument("--image-height", type=int, default=d.image_height, help="frequency rows")
    p.add_argument("--image-width", type=int, default=d.image_width, help="time columns")
    p.add_argument("--fmin", type=float, default=d.fmin, help=f"lowest frequency ({d.fmin:g} Hz)")
    p.add_argument("--fmax", type=float, default=d.fmax, help=f"highest frequency ({d.fmax:g})")
    p.add_argument("--coarse-grid", type=int, default=d.coarse_grid, help="emb_init blocks")
    p.add_argument("--variants", type=int, default=d.variants, help="time-shifted copies z{k}")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction, help="val records")
    p.add_argument("--num-records", type=int, default=d.synthetic_records, help="synthetic")
    p.add_argument("--seconds", type=float, default=d.synthetic_seconds, help="synthetic length")
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
        synthetic_records=args.num_records,
        synthetic_seconds=args.seconds,
        seed=args.seed,
    )
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.overwrite:
        raise UserError(f"{out} exists and is not empty; choose another --out or --overwrite")
    if args.synthetic:
        counts = build_synthetic(out, cfg, progress=not args.quiet)
    else:
        folder = Path(args.records)
        if not folder.is_dir():
            raise UserError(f"--records folder not found: {folder}")
        records = read_wfdb_folder(folder) or read_table_folder(folder, args.input_fs)
        counts = prepare_dataset(records, out, cfg, args.leads, progress=not args.quiet)
    print(
        f"wrote {counts['train']} train and {counts['val']} val windows to {out} "
        f"(images {cfg.image_height}x{cfg.image_width}, {cfg.window_samples} samples at "
        f"{cfg.fs:g} Hz)"
    )


if __name__ == "__main__":
    main()
