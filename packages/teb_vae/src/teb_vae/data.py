"""Reading CTG recordings, cutting windows, caching features, and the training dataset.

Formats (all at 4 Hz; FHR in bpm, UP in the recording's units):
- WFDB records as in the CTU-UHB intrapartum CTG database: `NAME.hea` + `NAME.dat`, with an
  FHR channel and a UC (or UP / TOCO) channel, read with the `wfdb` package;
- CSV with columns `fhr` and `up` (read with pandas);
- NPZ with arrays `fhr` and `up`.
A folder is read as every such file in it (sorted by name).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from sigshared.errors import DataError
from sigshared.files import atomic_output
from teb_vae.config import FeatureConfig, RunConfig
from teb_vae.features import FeatureExtractor
from teb_vae.features.preprocess import FS, clean_ctg, normalize_fhr, normalize_up
from teb_vae.synthetic import synthetic_ctg

UP_NAMES = ("uc", "up", "toco")
CACHE_VERSION = 1


@dataclass
class Recording:
    name: str
    fhr: np.ndarray
    up: np.ndarray


def _check_fs(fs: float, path: Path) -> None:
    if abs(fs - FS) > 1e-6:
        raise DataError(f"{path}: sampling rate is {fs} Hz; this model needs {FS:g} Hz CTG")


def read_wfdb(path: Path) -> Recording:
    """A WFDB record (path to .hea / .dat or the stem) -> Recording."""
    import wfdb

    stem = path.with_suffix("") if path.suffix in (".hea", ".dat") else path
    if not stem.with_suffix(".hea").is_file():
        raise DataError(f"WFDB header not found: {stem.with_suffix('.hea')}")
    try:
        rec = wfdb.rdrecord(str(stem))
    except Exception as err:  # wfdb raises assorted types on corrupt files
        raise DataError(f"cannot read WFDB record {stem}: {str(err).splitlines()[0]}") from None
    _check_fs(float(rec.fs), stem)
    names = [s.lower() for s in rec.sig_name]
    if "fhr" not in names or not any(n in names for n in UP_NAMES):
        raise DataError(
            f"WFDB record {stem} has channels {rec.sig_name}; expected FHR and UC (or UP / TOCO)"
        )
    up_idx = next(names.index(n) for n in UP_NAMES if n in names)
    sig = rec.p_signal
    return Recording(stem.name, sig[:, names.index("fhr")], sig[:, up_idx])


def read_table(path: Path) -> Recording:
    """A CSV (columns fhr, up) or NPZ (arrays fhr, up) file -> Recording."""
    if path.suffix == ".csv":
        import pandas as pd

        try:
            frame = pd.read_csv(path)
        except Exception as err:
            raise DataError(f"cannot read CSV {path}: {str(err).splitlines()[0]}") from None
        cols = {c.lower().strip(): c for c in frame.columns}
        if "fhr" not in cols or "up" not in cols:
            raise DataError(
                f"{path} has columns {list(frame.columns)}; expected 'fhr' and 'up' columns"
            )
        fhr = pd.to_numeric(frame[cols["fhr"]], errors="coerce").to_numpy(float)
        up = pd.to_numeric(frame[cols["up"]], errors="coerce").to_numpy(float)
    else:
        try:
            with np.load(path) as data:
                if "fhr" not in data or "up" not in data:
                    raise DataError(f"{path} holds {list(data.keys())}; expected 'fhr' and 'up'")
                fhr, up = np.asarray(data["fhr"], float), np.asarray(data["up"], float)
        except (OSError, ValueError) as err:
            raise DataError(f"cannot read NPZ {path}: {str(err).splitlines()[0]}") from None
        if fhr.ndim != 1 or fhr.shape != up.shape:
            raise DataError(
                f"{path}: expected 1-D 'fhr' and 'up' of equal length, got {fhr.shape}, {up.shape}"
            )
    return Recording(path.stem, fhr, up)


def read_recording(path: str | Path) -> Recording:
    """One recording from a WFDB record, CSV or NPZ file (see the module docstring)."""
    path = Path(path)
    if path.suffix in (".csv", ".npz"):
        if not path.is_file():
            raise DataError(f"input file not found: {path}")
        return read_table(path)
    return read_wfdb(path)


def list_recordings(path: str | Path) -> list[Path]:
    """The recordings in a folder (WFDB headers, CSV, NPZ), or the one file given."""
    path = Path(path)
    if path.is_dir():
        found = sorted(
            p for p in path.iterdir() if p.suffix in (".hea", ".csv", ".npz") and p.is_file()
        )
        if not found:
            raise DataError(f"no .hea, .csv or .npz recordings in folder {path}")
        return found
    if path.exists() or path.with_suffix(".hea").exists():
        return [path]
    raise DataError(f"data path not found: {path}")


@dataclass
class Windows:
    """Normalised windows: fhr, up (M, W) float32; valid (M, W) bool; the record of each."""

    fhr: np.ndarray
    up: np.ndarray
    valid: np.ndarray
    source: list[str]
    skipped: int = 0


def cut_windows(rec: Recording, window: int, stride: int, max_missing: float) -> Windows:
    """Clean and normalise a recording and cut it into windows; windows with a larger share
    of long FHR gaps than `max_missing` are skipped and counted."""
    c = clean_ctg(rec.fhr, rec.up)
    fhr, up, valid, names = [], [], [], []
    skipped = 0
    for start in range(0, len(c.fhr) - window + 1, stride):
        v = c.valid[start : start + window]
        if 1.0 - v.mean() > max_missing:
            skipped += 1
            continue
        fhr.append(normalize_fhr(c.fhr[start : start + window]))
        up.append(normalize_up(c.up[start : start + window]))
        valid.append(v)
        names.append(f"{rec.name}@{start}")
    shape = (0, window)
    return Windows(
        np.asarray(fhr, np.float32).reshape(-1, window) if fhr else np.zeros(shape, np.float32),
        np.asarray(up, np.float32).reshape(-1, window) if up else np.zeros(shape, np.float32),
        np.asarray(valid, bool).reshape(-1, window) if valid else np.zeros(shape, bool),
        names,
        skipped,
    )


def concat_windows(parts: list[Windows], window: int) -> Windows:
    if not parts:
        z = np.zeros((0, window), np.float32)
        return Windows(z, z.copy(), z.astype(bool), [], 0)
    return Windows(
        np.concatenate([p.fhr for p in parts]),
        np.concatenate([p.up for p in parts]),
        np.concatenate([p.valid for p in parts]),
        [s for p in parts for s in p.source],
        sum(p.skipped for p in parts),
    )


def synthetic_windows(
    n_records: int, minutes: float, seed: int, window: int, stride: int, max_missing: float
) -> Windows:
    """Windows cut from `n_records` synthetic recordings with seeds seed, seed+1, ..."""
    parts = []
    for i in range(n_records):
        sig = synthetic_ctg(minutes, seed + i)
        rec = Recording(f"synthetic-{seed + i}", sig["fhr"], sig["up"])
        parts.append(cut_windows(rec, window, stride, max_missing))
    return concat_windows(parts, window)


def feature_cache_key(fhr: np.ndarray, up: np.ndarray, cfg: FeatureConfig) -> str:
    """sha256 over the signal bytes and the feature config: any change gives a new key."""
    h = hashlib.sha256()
    h.update(json.dumps({"v": CACHE_VERSION, **asdict(cfg)}, sort_keys=True).encode())
    for a in (fhr, up):
        arr = np.ascontiguousarray(a, dtype=np.float32)
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:32]


def compute_features(
    w: Windows,
    cfg: FeatureConfig,
    cache_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    batch: int = 32,
) -> dict[str, np.ndarray]:
    """{"y_st", "y_ph", "x_ph"}: (M, C, W / T) float32 features of the windows, read from
    `cache_dir/<key>.npz` when present (key = `feature_cache_key`), else computed and saved."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"features-{feature_cache_key(w.fhr, w.up, cfg)}.npz"
        if path.is_file():
            with np.load(path) as data:
                return {k: data[k] for k in ("y_st", "y_ph", "x_ph")}
    ext = FeatureExtractor(cfg, device)
    out: dict[str, list[np.ndarray]] = {"y_st": [], "y_ph": [], "x_ph": []}
    for i in range(0, len(w.fhr), batch):
        f = ext(torch.from_numpy(w.fhr[i : i + batch]), torch.from_numpy(w.up[i : i + batch]))
        for k in out:
            out[k].append(f[k].cpu().numpy())
    steps, chans = ext.steps, {"y_st": ext.st_channels, "y_ph": ext.ph_channels}
    chans["x_ph"] = ext.ph_channels
    feats = {
        k: np.concatenate(v) if v else np.zeros((0, chans[k], steps), np.float32)
        for k, v in out.items()
    }
    if path is not None:
        # a per-process temporary name: two commands sharing the cache never collide
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **feats)
    return feats


@dataclass
class FeatureStats:
    """Per-channel mean and std of each feature tensor, to standardise model inputs."""

    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]

    @classmethod
    def fit(cls, feats: dict[str, np.ndarray]) -> FeatureStats:
        mean = {k: v.mean(axis=(0, 2)) for k, v in feats.items()}
        std = {k: v.std(axis=(0, 2)) + 1e-4 for k, v in feats.items()}
        return cls(mean, std)

    def apply(self, feats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            k: ((v - self.mean[k][:, None]) / self.std[k][:, None]).astype(np.float32)
            for k, v in feats.items()
        }

    def to_state(self) -> dict[str, dict[str, list[float]]]:
        return {
            "mean": {k: v.tolist() for k, v in self.mean.items()},
            "std": {k: v.tolist() for k, v in self.std.items()},
        }

    @classmethod
    def from_state(cls, state: dict) -> FeatureStats:
        conv = {s: {k: np.asarray(v, np.float32) for k, v in state[s].items()} for s in state}
        return cls(conv["mean"], conv["std"])


class CTGWindowDataset(Dataset):
    """Item i -> {"y_st", "y_ph", "x_ph": (C, S) standardised; "y_raw", "up_raw", "valid": (W,)}."""

    def __init__(self, w: Windows, feats: dict[str, np.ndarray], stats: FeatureStats) -> None:
        self.w = w
        self.feats = {k: torch.from_numpy(v) for k, v in stats.apply(feats).items()}
        self.fhr = torch.from_numpy(w.fhr)
        self.up = torch.from_numpy(w.up)
        self.valid = torch.from_numpy(w.valid)

    def __len__(self) -> int:
        return len(self.fhr)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {k: v[i] for k, v in self.feats.items()}
        item.update(y_raw=self.fhr[i], up_raw=self.up[i], valid=self.valid[i])
        return item


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
        raise DataError(f"every recording in {data} is shorter than {w / 240:g} minutes")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(recs))
    n_val = max(1, round(d.val_fraction * len(recs))) if len(recs) > 1 else 0
    parts = [cut_windows(r, w, d.stride, d.max_missing) for r in recs]
    val = concat_windows([parts[i] for i in order[:n_val]], w)
    train = concat_windows([parts[i] for i in order[n_val:]], w)
    if len(train.fhr) == 0:
        raise DataError(
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
