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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from sigshared.errors import DataError
from sigshared.files import atomic_output
from teb_vae.config import FeatureConfig, RunConfig
from teb_vae.features import FeatureExtractor
from teb_vae.features.preprocess import FS, Cleaned, clean_ctg, normalize_fhr, normalize_up
from teb_vae.quality import validity_channels
from teb_vae.synthetic import synthetic_ctg

UP_NAMES = ("uc", "up", "toco")
CACHE_VERSION = 2  # 2: causal finite filters at the output rate


@dataclass
class Recording:
    """One recording: FHR (bpm) and UP (N,) at 4 Hz, and what its header says (`meta`)."""

    name: str
    fhr: np.ndarray
    up: np.ndarray
    meta: dict[str, float] = field(default_factory=dict)

    @property
    def stage2_start(self) -> int | None:
        """First sample of the second stage of labour, when the header gives it."""
        value = self.meta.get("stage2_start")
        return None if value is None or value <= 0 else int(value)


# CTU-UHB header comment names -> meta keys (outcomes and the start of stage II, a sample index)
HEADER_FIELDS = {
    "pH": "ph",
    "BDecf": "bdecf",
    "pCO2": "pco2",
    "BE": "be",
    "Apgar1": "apgar1",
    "Apgar5": "apgar5",
    "Gest. weeks": "gest_weeks",
    "I.stage": "stage1_minutes",
    "II.stage": "stage2_minutes",
    "Pos. II.st.": "stage2_start",
}


def parse_header_comments(comments: list[str]) -> dict[str, float]:
    """CTU-UHB header comments ("pH           7.14") -> {"ph": 7.14, ...}; fields that are
    absent or not numbers are left out."""
    meta = {}
    for line in comments:
        text = line.lstrip("#").strip()
        for name, key in HEADER_FIELDS.items():
            if text.startswith(name) and text[len(name) :][:1] in (" ", "\t"):
                try:
                    meta[key] = float(text[len(name) :].strip())
                except ValueError:
                    pass
    return meta


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
    meta = parse_header_comments(list(rec.comments or []))
    return Recording(stem.name, sig[:, names.index("fhr")], sig[:, up_idx], meta)


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
    """Normalised windows: fhr, up (M, W) float32; valid, uc_valid (M, W) bool (measured FHR
    and UC, see teb_vae.quality); the record and start of each ("NAME@START")."""

    fhr: np.ndarray
    up: np.ndarray
    valid: np.ndarray
    uc_valid: np.ndarray
    source: list[str]
    skipped: int = 0


def cut_windows(rec: Recording, window: int, stride: int, max_missing: float) -> Windows:
    """Clean and normalise a recording and cut it into windows; windows with a larger share
    of long FHR gaps than `max_missing` are skipped and counted."""
    c = clean_ctg(rec.fhr, rec.up)
    starts = [
        s
        for s in range(0, len(c.fhr) - window + 1, stride)
        if 1.0 - c.valid[s : s + window].mean() <= max_missing
    ]
    total = len(range(0, len(c.fhr) - window + 1, stride))
    return windows_at(rec.name, c, starts, window, skipped=total - len(starts))


def windows_at(name: str, c: Cleaned, starts: list[int], window: int, skipped: int = 0) -> Windows:
    """The windows of a cleaned recording that start at `starts`, normalised."""

    def cut(x: np.ndarray, dtype) -> np.ndarray:
        return np.asarray([x[s : s + window] for s in starts], dtype).reshape(-1, window)

    return Windows(
        cut(normalize_fhr(c.fhr), np.float32),
        cut(normalize_up(c.up), np.float32),
        cut(c.valid, bool),
        cut(c.uc_valid, bool),
        [f"{name}@{s}" for s in starts],
        skipped,
    )


def concat_windows(parts: list[Windows], window: int) -> Windows:
    if not parts:
        z = np.zeros((0, window), np.float32)
        return Windows(z, z.copy(), z.astype(bool), z.astype(bool), [], 0)
    return Windows(
        np.concatenate([p.fhr for p in parts]),
        np.concatenate([p.up for p in parts]),
        np.concatenate([p.valid for p in parts]),
        np.concatenate([p.uc_valid for p in parts]),
        [s for p in parts for s in p.source],
        sum(p.skipped for p in parts),
    )


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
    """Item i -> {"y_st", "y_ph": (C, S) standardised; "x_ph": (C + 3, S), standardised UP
    features followed by the validity channels (`teb_vae.quality.validity_channels`; left out
    when `with_validity` is False); "y_raw", "up_raw", "valid": (W,)}."""

    def __init__(
        self,
        w: Windows,
        feats: dict[str, np.ndarray],
        stats: FeatureStats,
        with_validity: bool = True,
    ) -> None:
        self.w = w
        self.feats = {k: torch.from_numpy(v) for k, v in stats.apply(feats).items()}
        steps = feats["y_st"].shape[-1]
        decimation = w.fhr.shape[1] // steps if steps else 1
        validity = torch.from_numpy(validity_channels(w.valid, w.uc_valid, decimation, w.fhr))
        if with_validity:
            self.feats["x_ph"] = torch.cat([self.feats["x_ph"], validity], dim=1)
        self.fhr = torch.from_numpy(w.fhr)
        self.up = torch.from_numpy(w.up)
        self.valid = torch.from_numpy(w.valid)

    def __len__(self) -> int:
        return len(self.fhr)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {k: v[i] for k, v in self.feats.items()}
        item.update(y_raw=self.fhr[i], up_raw=self.up[i], valid=self.valid[i])
        return item


SPLITS = ("train", "val", "test")


def read_records_file(path: str | Path) -> dict[str, list[str]]:
    """A records file -> {"train": [...], "val": [...], "test": [...]} (absent parts left out).

    Two forms: a YAML mapping with any of the keys train / val / test, each a list of record
    names (a split file), or a plain list of record names, one per line (`#` starts a comment),
    which is read as {"train": names}.
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise DataError(f"records file not found: {p}")
    try:
        text = p.read_text()
    except UnicodeDecodeError:
        raise DataError(f"records file {p} is not text; give record names or a split") from None
    data = yaml.safe_load(text) if ":" in text else None
    if isinstance(data, dict):
        unknown = set(data) - set(SPLITS)
        if unknown:
            raise DataError(
                f"records file {p} has parts {sorted(unknown)}; valid parts: train, val, test"
            )
        split = {k: [str(n) for n in (data[k] or [])] for k in SPLITS if k in data}
    else:
        names = [line.split("#")[0].strip() for line in text.splitlines()]
        split = {"train": [n for n in names if n]}
    if not any(split.values()):
        raise DataError(f"records file {p} names no record")
    return split


def select_records(data: str | Path, names: list[str]) -> list[Path]:
    """The recordings of folder `data` named in `names` (by stem), in the order given."""
    found = {p.stem: p for p in list_recordings(data)}
    missing = [n for n in names if n not in found]
    if missing:
        raise DataError(
            f"{len(missing)} record(s) named in the records file are not in {data}: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )
    return [found[n] for n in names]


def load_recordings(
    cfg: RunConfig, data: str | None, seed: int, records: dict[str, list[str]] | None = None
) -> tuple[list[Recording], list[Recording]]:
    """The train and validation recordings `load_windows` cuts (synthetic ones without
    `data`); the validation ones are also what teb-train calibrates on, whole."""
    if data is None:
        d = cfg.data

        def synth(n: int, first: int) -> list[Recording]:
            sigs = [(first + i, synthetic_ctg(d.synthetic_minutes, first + i)) for i in range(n)]
            return [Recording(f"synthetic-{s}", sig["fhr"], sig["up"]) for s, sig in sigs]

        return synth(d.synthetic_train_records, seed), synth(d.synthetic_val_records, seed + 10_000)
    if records is not None and not records.get("train"):
        raise DataError("the records file names no training records (its train part is empty)")
    if records is None:
        paths = list_recordings(data)
    else:
        paths = select_records(data, records["train"] + records.get("val", []))
    recs = [read_recording(p) for p in paths]
    if records is not None and records.get("val"):
        n_train = len(records["train"])
        return recs[:n_train], recs[n_train:]
    order = np.random.default_rng(seed).permutation(len(recs))
    n_val = max(1, round(cfg.data.val_fraction * len(recs))) if len(recs) > 1 else 0
    return [recs[i] for i in order[n_val:]], [recs[i] for i in order[:n_val]]


def load_windows(
    cfg: RunConfig, data: str | None, seed: int, records: dict[str, list[str]] | None = None
) -> tuple[Windows, Windows, str]:
    """Train and validation windows and a one-line description of where they came from.

    Without `data`, synthetic records. With `records` (from `read_records_file`), its train
    (and val, when given) records of the folder `data`; otherwise every recording in `data`,
    a random `data.val_fraction` of them for validation. Test records are never read here.
    """
    w, d = cfg.features.window, cfg.data
    train_recs, val_recs = load_recordings(cfg, data, seed, records)
    train = concat_windows([cut_windows(r, w, d.stride, d.max_missing) for r in train_recs], w)
    val = concat_windows([cut_windows(r, w, d.stride, d.max_missing) for r in val_recs], w)
    if data is None:
        return train, val, f"synthetic CTG: {len(train.fhr)} train / {len(val.fhr)} val windows"
    if all(len(r.fhr) < w for r in train_recs + val_recs):
        raise DataError(f"every recording in {data} is shorter than {w / 240:g} minutes")
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
            f"{len(train_recs)} + {len(val_recs)} recordings from {data}: "
            f"{len(train.fhr)} train / {len(val.fhr)} val windows"
            f", {train.skipped + val.skipped} skipped for missing FHR"
        ),
    )


def build_datasets(cfg: RunConfig, train: Windows, val: Windows, device) -> tuple:
    cache = Path(cfg.data.cache_dir) if cfg.data.cache_dir else None
    f_train = compute_features(train, cfg.features, cache, device)
    f_val = compute_features(val, cfg.features, cache, device)
    stats = FeatureStats.fit(f_train)
    v = cfg.model.validity_channels > 0
    return (
        CTGWindowDataset(train, f_train, stats, v),
        CTGWindowDataset(val, f_val, stats, v),
        stats,
    )
