"""Real-data tables, the data set-up of a run (synthetic or table, patient-stratified split,
normalisation) and the torch Dataset.

A table (CSV, Parquet or NPZ) holds one recording per row: a patient id column, the four
static columns and the signal, either as `length` columns `<signal><i>` (i = 0 .. length-1,
e.g. `s0 .. s199`) or as one array column named `<signal>` (a Parquet list column, or in CSV a
string of numbers separated by spaces or commas). In NPZ, each name is an array key and the
signal is an (N, length) array. Column names are configurable (`DataConfig`).

Rows with NaN / Inf, the wrong signal length, a constant signal or no patient id are reported
(counts and the first offending row numbers) and skipped; if none is left, loading fails.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from abr_diffusion.config import ABRConfig
from abr_diffusion.synthetic import LENGTH, STATIC_NAMES, ABRData, generate
from sigshared.cli import require_file
from sigshared.errors import DataError

TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".npz")


@dataclass
class ColumnNames:
    """Where each field lives in a table."""

    patient: str = "patient_id"
    static: list[str] = field(default_factory=lambda: list(STATIC_NAMES))
    signal: str = "s"


def _read_frame(path: Path) -> pd.DataFrame | dict[str, np.ndarray]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (ValueError, OSError, pd.errors.ParserError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot read {path}: {first}") from None


def _parse_array_cell(cell: object) -> np.ndarray:
    """One array-column cell (list, array or 'a b c' / 'a,b,c' string) -> float64 vector."""
    if isinstance(cell, str):
        parts = [p for p in re.split(r"[\s,;]+", cell.strip().strip("[]")) if p]
        try:
            return np.array(parts, dtype=np.float64)
        except ValueError:
            return np.array([np.nan])
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return np.array([], dtype=np.float64)
    return np.asarray(cell, dtype=np.float64).ravel()


def _signal_matrix(
    columns: dict[str, object], names: ColumnNames, length: int, path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """(N, length) float64 signals and (N,) bool "wrong length" flags."""
    if names.signal in columns:
        col = columns[names.signal]
        arr = np.asarray(col)
        if arr.ndim == 2:
            if arr.shape[1] != length:
                raise DataError(
                    f"{path}: signal array {names.signal!r} has {arr.shape[1]} samples per row, "
                    f"expected {length}"
                )
            return arr.astype(np.float64), np.zeros(len(arr), dtype=bool)
        cells = [_parse_array_cell(c) for c in col]
        wrong = np.array([len(c) != length for c in cells], dtype=bool)
        out = np.full((len(cells), length), np.nan)
        for i, c in enumerate(cells):
            if not wrong[i]:
                out[i] = c
        return out, wrong
    pattern = re.compile(rf"^{re.escape(names.signal)}(\d+)$")
    numbered = sorted(
        ((int(m.group(1)), c) for c in columns if (m := pattern.match(str(c)))), key=lambda p: p[0]
    )
    if not numbered:
        raise DataError(
            f"{path}: no signal found: expected an array column {names.signal!r} or columns "
            f"{names.signal}0 .. {names.signal}{length - 1}; set data.signal_column"
        )
    if [i for i, _ in numbered] != list(range(length)):
        raise DataError(
            f"{path}: expected signal columns {names.signal}0 .. {names.signal}{length - 1}, "
            f"found {len(numbered)} numbered columns ({numbered[0][1]} .. {numbered[-1][1]})"
        )
    mat = np.stack([np.asarray(columns[c], dtype=np.float64) for _, c in numbered], axis=1)
    return mat, np.zeros(len(mat), dtype=bool)


def _missing_id(ids: np.ndarray) -> np.ndarray:
    return np.array(
        [v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "" for v in ids],
        dtype=bool,
    )


def load_table(
    path: str | Path,
    names: ColumnNames | None = None,
    length: int = LENGTH,
    require_patient: bool = True,
    log=None,
) -> ABRData:
    """Read a recordings table; bad rows are reported on `log` (default stderr) and skipped.

    Without `require_patient` a table may lack the patient column (rows are then numbered).
    """
    names = names or ColumnNames()
    path = require_file(path, "data file")
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise DataError(f"{path}: unsupported data format; use one of {', '.join(TABLE_SUFFIXES)}")
    frame = _read_frame(path)
    columns: dict[str, object] = (
        {c: frame[c].to_numpy() for c in frame.columns}
        if isinstance(frame, pd.DataFrame)
        else frame
    )
    n_rows = len(next(iter(columns.values()))) if columns else 0
    if n_rows == 0:
        raise DataError(f"{path}: no recordings (no rows below the header)")
    if len(names.static) != len(STATIC_NAMES):
        raise DataError(
            f"data.static_columns must name {len(STATIC_NAMES)} columns "
            f"({', '.join(STATIC_NAMES)}), got {names.static}"
        )
    if not require_patient and names.patient not in columns:
        columns = {**columns, names.patient: np.arange(n_rows).astype(str)}
    needed = [names.patient, *names.static]
    missing = [c for c in needed if c not in columns]
    if missing:
        shown = ", ".join(map(str, list(columns)[:12]))
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; found {shown}"
            f"{' ...' if len(columns) > 12 else ''} (set the data.*_column options)"
        )
    signals, wrong_len = _signal_matrix(columns, names, length, path)
    try:
        static = np.stack([np.asarray(columns[c], dtype=np.float64) for c in names.static], axis=1)
    except (ValueError, TypeError):
        raise DataError(f"{path}: static columns {names.static} must be numeric") from None
    ids = np.asarray(columns[names.patient], dtype=object)
    no_id = _missing_id(ids)
    nonfinite = ~wrong_len & ~(np.isfinite(signals).all(1) & np.isfinite(static).all(1))
    flat = ~wrong_len & ~nonfinite & (np.nan_to_num(signals).std(axis=1) == 0)
    bad = no_id | wrong_len | nonfinite | flat
    if bad.any():
        reasons = [
            f"{int(m.sum())} {what}"
            for m, what in (
                (nonfinite, "with NaN/Inf"),
                (wrong_len, f"with a signal length other than {length}"),
                (flat, "with a constant signal"),
                (no_id, f"without {names.patient}"),
            )
            if m.any()
        ]
        rows = ", ".join(str(i) for i in np.flatnonzero(bad)[:5])
        message = (
            f"{path}: skipped {int(bad.sum())} of {len(bad)} rows ({'; '.join(reasons)}); "
            f"first offending rows (0-based): {rows}"
        )
        if bad.all():
            raise DataError(message + "; no usable rows are left")
        print(f"warning: {message}", file=log or sys.stderr)
    keep = ~bad
    return ABRData(
        signals[keep].astype(np.float32),
        static[keep].astype(np.float32),
        np.array([str(v) for v in ids[keep]]),
    )


def read_conditions(path: str | Path, names: list[str]) -> np.ndarray:
    """(N, S) float64 static rows from a CSV with one condition per row, columns `names`."""
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot read {path}: {first}") from None
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(frame.columns)}"
        )
    if frame.empty:
        raise DataError(f"{path}: no rows (a header only); add one condition per row")
    try:
        return frame[names].to_numpy(dtype=np.float64)
    except ValueError:
        raise DataError(f"{path}: columns {', '.join(names)} must be numeric") from None


def patient_split(
    patient_id: np.ndarray,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 42,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of train / val / test such that no patient is in two splits.

    Patients (not rows) are shuffled with `seed` and dealt out by the fractions; every split
    gets at least one patient when there are three or more.
    """
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise DataError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    patients = np.unique(patient_id)
    if len(patients) < 3:
        raise DataError(f"need at least 3 patients for a train/val/test split, got {len(patients)}")
    order = np.random.default_rng(seed).permutation(patients)
    n_val = max(1, round(fractions[1] * len(order)))
    n_test = max(1, round(fractions[2] * len(order)))
    n_train = len(order) - n_val - n_test
    groups = (order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :])
    splits = tuple(np.flatnonzero(np.isin(patient_id, g)) for g in groups)
    sets = [set(patient_id[s]) for s in splits]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]), "patient leak"
    return splits


def zscore_signals(signals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-recording z-score: (N, T) µV -> normalised (N, T), mean (N,), std (N,) in µV."""
    mean = signals.mean(axis=1)
    std = np.maximum(signals.std(axis=1), 1e-8)
    return (signals - mean[:, None]) / std[:, None], mean, std


@dataclass
class StaticScaler:
    """z-score of the static parameters with train-split statistics (kept in checkpoints)."""

    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, static: np.ndarray) -> StaticScaler:
        std = static.std(axis=0)
        # A constant column (e.g. one stimulus rate) carries no information: scale 1.
        std = np.where(std > 1e-8, std, 1.0)
        return cls(static.mean(axis=0).tolist(), std.tolist())

    def transform(self, static: np.ndarray) -> np.ndarray:
        return ((static - np.array(self.mean)) / np.array(self.std)).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}


class ABRDataset(Dataset):
    """Items {"x": (1, T) z-scored signal, "static": (S,) z-scored static params}.

    `mean` / `std` (N,) µV keep what the z-score removed, for denormalising outputs.
    """

    def __init__(self, data: ABRData, scaler: StaticScaler):
        x, self.mean, self.std = zscore_signals(data.signals.astype(np.float64))
        self.x = torch.from_numpy(x.astype(np.float32)).unsqueeze(1)
        self.static = torch.from_numpy(scaler.transform(data.static))
        self.data = data

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "static": self.static[i]}


@dataclass
class AmplitudeModel:
    """Least-squares fit of the z-score's mean and log-std (µV) on the z-scored static params.

    Generated signals come out z-scored; this gives them the µV offset and scale a recording
    with those static parameters has on average (the response grows with intensity and FMP).
    """

    mean_coef: list[float]
    log_std_coef: list[float]

    @classmethod
    def fit(cls, static_z: np.ndarray, mean: np.ndarray, std: np.ndarray) -> AmplitudeModel:
        design = np.hstack([np.ones((len(static_z), 1)), static_z])
        mean_coef = np.linalg.lstsq(design, mean, rcond=None)[0]
        log_std_coef = np.linalg.lstsq(design, np.log(std), rcond=None)[0]
        return cls(mean_coef.tolist(), log_std_coef.tolist())

    def predict(self, static_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, S) z-scored static -> mean (N,), std (N,) in µV."""
        design = np.hstack([np.ones((len(static_z), 1)), static_z])
        return design @ np.array(self.mean_coef), np.exp(design @ np.array(self.log_std_coef))

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean_coef": list(self.mean_coef), "log_std_coef": list(self.log_std_coef)}


@dataclass
class Splits:
    """The recordings and their patient-stratified train / val / test row indices."""

    data: ABRData
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def load_data(cfg: ABRConfig) -> Splits:
    """The table at cfg.data.path, or the synthetic set; split by patient with the seed."""
    d = cfg.data
    if d.path:
        names = ColumnNames(d.patient_column, list(d.static_columns), d.signal_column)
        data = load_table(d.path, names, cfg.model.seq_len)
    else:
        data = generate(
            d.synthetic_patients, d.synthetic_recordings, d.synthetic_seed, cfg.model.seq_len
        )
    train, val, test = patient_split(data.patient_id, tuple(d.split), d.split_seed)
    return Splits(data, train, val, test)


def fit_normalisers(splits: Splits) -> tuple[StaticScaler, AmplitudeModel]:
    """Static z-score and amplitude model from the training split only."""
    train = splits.data.subset(splits.train)
    scaler = StaticScaler.fit(train.static)
    ds = ABRDataset(train, scaler)
    return scaler, AmplitudeModel.fit(ds.static.numpy(), ds.mean, ds.std)


def to_uv(z: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(N, T) z-scored -> µV with per-recording mean / std (N,)."""
    return z * std[:, None] + mean[:, None]
