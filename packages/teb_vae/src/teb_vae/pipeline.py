"""From a data path (or the synthetic generator) to feature datasets, shared by the CLIs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sigshared.errors import UserError
from teb_vae.config import RunConfig
from teb_vae.data import (
    CTGWindowDataset,
    FeatureStats,
    Windows,
    compute_features,
    concat_windows,
    cut_windows,
    list_recordings,
    read_recording,
    synthetic_windows,
)


def load_windows(cfg: RunConfig, data: str | None, seed: int) -> tuple[Windows, Windows, str]:
    """Train and validation windows and a one-line description of where they came from."""
    w, d = cfg.features.window, cfg.data
    if data is None:
        train = synthetic_windows(
            d.synthetic_train_records, d.synthetic_minutes, seed, w, d.stride, d.max_missing
        )
        val = synthetic_windows(
            d.synthetic_val_records, d.synthetic_minutes, seed + 10_000, w, d.stride, d.max_missing
        )
        return train, val, f"synthetic CTG: {len(train.fhr)} train / {len(val.fhr)} val windows"
    paths = list_recordings(data)
    recs = [read_recording(p) for p in paths]
    short = [r.name for r in recs if len(r.fhr) < w]
    if len(short) == len(recs):
        raise UserError(f"every recording in {data} is shorter than {w / 240:g} minutes")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(recs))
    n_val = max(1, round(d.val_fraction * len(recs))) if len(recs) > 1 else 0
    parts = [cut_windows(r, w, d.stride, d.max_missing) for r in recs]
    val = concat_windows([parts[i] for i in order[:n_val]], w)
    train = concat_windows([parts[i] for i in order[n_val:]], w)
    if len(train.fhr) == 0:
        raise UserError(
            f"no usable {w}-sample windows in {data} ({train.skipped} skipped for missing FHR)"
        )
    if len(val.fhr) == 0:
        val = train
    return (
        train,
        val,
        (
            f"{len(recs)} recordings from {data}: "
            f"{len(train.fhr)} train / {len(val.fhr)} val windows"
            f", {train.skipped + val.skipped} skipped for missing FHR"
        ),
    )


def build_datasets(cfg: RunConfig, train: Windows, val: Windows, device) -> tuple:
    cache = Path(cfg.data.cache_dir) if cfg.data.cache_dir else None
    f_train = compute_features(train, cfg.features, cache, device)
    f_val = compute_features(val, cfg.features, cache, device)
    stats = FeatureStats.fit(f_train)
    return CTGWindowDataset(train, f_train, stats), CTGWindowDataset(val, f_val, stats), stats
