"""Records -> the dataset layout the model trains on.

Every record is resampled to `fs` (`records.resample`) and cut per lead into windows of
`window_seconds` (rounded to a multiple of the image width) every `hop_seconds`; variant z{k}
of k = 0..variants-1 starts its windows k * hop / variants samples later (time-shifted
copies). Each window becomes the four arrays defined in `spectro_diffusion.ecg.features`,
saved as

    OUT/images/{split}/{stem}.npy             (H, W)  log power Morlet scalogram
    OUT/freq_embeddings/{split}/{stem}.npy    (H,)    log time-averaged power per row
    OUT/inits/amp_init/{split}/{stem}.npy     (W,)    z-scored waveform resampled to W
    OUT/inits/emb_init/{split}/{stem}.npy     (H, W)  coarse (grid x grid) image

with stem `{record}_lead{k}_z{variant}_w{index:03d}`, plus `OUT/prepare.json` (settings and
frequency axis). The train / val split is by record (no record in both); a single record is
split in time instead (its last windows go to val).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from sigshared.errors import DataError
from spectro_diffusion.ecg.config import PrepareConfig
from spectro_diffusion.ecg.data import FOLDERS
from spectro_diffusion.ecg.features import morlet_frequencies, window_arrays
from spectro_diffusion.ecg.records import Record, check_finite, resample


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
    records: dict[str, Record],
    out: Path,
    cfg: PrepareConfig,
    leads: list[int] | None = None,
    progress: bool = True,
) -> dict[str, int]:
    """Write the dataset layout into the (existing, empty) folder `out`; returns the number
    of windows per split."""
    if not records:
        raise DataError("no records found (no *.hea, *.csv or *.npy files)")
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
            if not 0 <= k < x.shape[0]:
                raise DataError(f"record {name} has {x.shape[0]} leads; lead {k} does not exist")
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
        raise DataError(
            f"no training windows: records are shorter than one window ({window} samples at "
            f"{cfg.fs:g} Hz); use a shorter window_seconds"
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
