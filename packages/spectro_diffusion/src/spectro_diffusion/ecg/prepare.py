"""Records -> the dataset layout the model trains on.

For every record the channels of `channels` are kept (ECG leads by default, see
`records.select_channels`); each kept channel is repaired (short runs of missing samples
interpolated, long ones marked, `records.repair_gaps`), resampled from its own native rate to
`fs` and cut into windows of `window_seconds` (rounded to a multiple of the image width) every
`hop_seconds`; a window that overlaps a long run of missing samples is left out. Variant z{k}
of k = 0..variants-1 starts its windows k * hop / variants samples later (time-shifted
copies). Each window becomes the four arrays defined in `spectro_diffusion.ecg.features`:

    OUT/images/{split}/{stem}.npy             (H, W)  log power Morlet scalogram
    OUT/freq_embeddings/{split}/{stem}.npy    (H,)    log time-averaged power per row
    OUT/inits/amp_init/{split}/{stem}.npy     (W,)    z-scored waveform resampled to W
    OUT/inits/emb_init/{split}/{stem}.npy     (H, W)  coarse (grid x grid) image

with stem `{record}_{lead}_z{variant}_w{index:03d}` (lead: the channel name, characters other
than letters, digits, "." and "-" replaced by "-"; "ch{k}" for an unnamed channel k), plus
`OUT/prepare.json`: the settings, the frequency axis, and per record its split, source file,
the channels left out, and per lead its native rate, windows written and dropped and its
missing samples. The train / val split is by record (no record in both): the records named in
`val_records`, else a seeded `val_fraction` of them; a single record is split in time instead
(its last windows go to val).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from sigshared.errors import DataError
from spectro_diffusion.ecg.config import PrepareConfig
from spectro_diffusion.ecg.data import FOLDERS
from spectro_diffusion.ecg.features import morlet_frequencies, window_arrays
from spectro_diffusion.ecg.records import (
    GapReport,
    Record,
    repair_gaps,
    resample,
    resample_mask,
    select_channels,
)


def window_starts(n: int, window: int, hop: int, variant: int, variants: int) -> list[int]:
    """Start samples of the windows of one variant (shifted by variant * hop / variants)."""
    offset = (variant * hop) // variants
    return list(range(offset, n - window + 1, hop))


def split_records(
    names: list[str], val_fraction: float, seed: int, val_records: list[str] | None = None
) -> dict[str, str]:
    """{record: "train" | "val"}: the records in `val_records` go to val when it is given,
    else a seeded `val_fraction` of them (at least one when there are two or more records and
    val_fraction > 0)."""
    if val_records:
        unknown = sorted(set(val_records) - set(names))
        if unknown:
            raise DataError(
                f"validation record {unknown[0]!r} is not among the records "
                f"({', '.join(sorted(names))})"
            )
        if set(names) <= set(val_records):
            raise DataError("every record is a validation record; leave one for training")
        return {n: "val" if n in val_records else "train" for n in names}
    order = np.random.default_rng(seed).permutation(sorted(names))
    n_val = 0
    if len(names) >= 2 and val_fraction > 0:
        n_val = min(len(names) - 1, max(1, round(val_fraction * len(names))))
    return {str(r): ("val" if i < n_val else "train") for i, r in enumerate(order)}


def lead_names(channels: list[str]) -> list[str]:
    """File-name-safe, unique lead names for a record's channel names."""
    names: list[str] = []
    for k, name in enumerate(channels):
        base = re.sub(r"[^A-Za-z0-9.\-]", "-", name) or f"ch{k}"
        names.append(base if base not in names else f"{base}-{k}")
    return names


def prepare_dataset(
    records: list[Record], out: Path, cfg: PrepareConfig, progress: bool = True
) -> dict[str, int]:
    """Write the dataset layout into the (existing, empty) folder `out`; returns the number
    of windows per split."""
    if not records:
        raise DataError("no records found (no *.hea, *.csv or *.npy files)")
    names = [r.name for r in records]
    if len(set(names)) < len(names):
        twice = sorted(n for n in set(names) if names.count(n) > 1)
        raise DataError(f"two files hold a record named {twice[0]!r}; rename one")
    # Select first: a record with no selected channel fails before anything is written.
    selected = {r.name: select_channels(r, cfg.channels) for r in records}
    freqs = morlet_frequencies(cfg.fmin, cfg.fmax, cfg.image_height)
    window, hop = cfg.window_samples, cfg.hop_samples
    splits = split_records(names, cfg.val_fraction, cfg.seed, cfg.val_records)
    single = len(records) == 1 and not cfg.val_records
    for folder in FOLDERS.values():
        for split in ("train", "val"):
            (out / folder / split).mkdir(parents=True, exist_ok=True)
    counts = {"train": 0, "val": 0}
    record_meta = {}
    total = GapReport()
    dropped_total = 0
    for rec in tqdm(records, desc="records", disable=not progress):
        kept, left_out = selected[rec.name]
        leads = {}
        for lead, ch in zip(lead_names([c.name for c in kept]), kept):
            filled, long_mask, gaps = repair_gaps(ch.signal, ch.fs, cfg.max_gap_seconds)
            x = resample(filled, ch.fs, cfg.fs)
            bad = np.r_[0, np.cumsum(resample_mask(long_mask, ch.fs, cfg.fs, x.size))]
            written = dropped = 0
            for v in range(cfg.variants):
                starts = window_starts(x.size, window, hop, v, cfg.variants)
                n_val = round(cfg.val_fraction * len(starts)) if single else 0
                for i, s in enumerate(starts):
                    if bad[s + window] > bad[s]:
                        dropped += 1
                        continue
                    if single:
                        split = "val" if i >= len(starts) - n_val else "train"
                    else:
                        split = splits[rec.name]
                    stem = f"{rec.name}_{lead}_z{v}_w{i:03d}"
                    arrays = window_arrays(
                        x[s : s + window], cfg.fs, freqs, cfg.image_width, cfg.coarse_grid
                    )
                    for array_name, folder in FOLDERS.items():
                        np.save(out / folder / split / f"{stem}.npy", arrays[array_name])
                    counts[split] += 1
                    written += 1
            leads[lead] = {
                "channel": ch.name,
                "fs": ch.fs,
                "windows": written,
                "windows_dropped": dropped,
                **asdict(gaps),
            }
            for key, value in asdict(gaps).items():
                setattr(total, key, getattr(total, key) + value)
            dropped_total += dropped
        record_meta[rec.name] = {
            "source": rec.source.name,
            "split": "train+val (time split)" if single else splits[rec.name],
            "leads": leads,
            "channels_left_out": left_out,
        }
    if counts["train"] == 0:
        raise DataError(
            f"no training windows: records are shorter than one window ({window} samples at "
            f"{cfg.fs:g} Hz) or every window holds a long run of missing samples"
        )
    meta = {
        "fs": cfg.fs,
        "window_samples": window,
        "hop_samples": hop,
        "variants": cfg.variants,
        "channels": cfg.channels,
        "max_gap_seconds": cfg.max_gap_seconds,
        "frequencies_hz": freqs.tolist(),
        "image_shape": [cfg.image_height, cfg.image_width],
        "coarse_grid": cfg.coarse_grid,
        "records": record_meta,
        "windows": counts,
        "missing_samples": {**asdict(total), "windows_dropped": dropped_total},
    }
    (out / "prepare.json").write_text(json.dumps(meta, indent=2))
    return counts
