"""Readers of what ABR systems export, the model's time grid, conditions, splits,
normalisation and the torch Dataset.

Every reader returns an `ABRData`: waveforms in µV with their sample rate, per-recording
conditions and subject ids.

- Tables (CSV, Parquet or NPZ; `read_table`): one recording per row: a patient id column, the
  condition columns and the signal, either as numbered columns `<signal><i>` (`s0, s1, ...`)
  or as one array column `<signal>` (a Parquet list column, or in CSV a string of numbers
  separated by spaces or commas). In NPZ, each name is an array key and the signal an (N, L)
  array. The sample rate is a `sample_rate` column / key when present, else
  `data.source_sample_rate`, else the model's rate.
- Tucker-Davis BioSigRZ CSV exports (`read_biosig_csv`): a metadata block per row (`Sub. ID`,
  `Freq(Hz)` with 100 meaning a click, `Level(dB)`, `Samp. Per.` in µs, `No. Samps.`), then
  the samples after the `Data(uv)...` column.

`read_recordings` reads a file or a glob of files and brings every waveform onto the model's
grid (`to_grid`): polyphase resampling to `data.sample_rate`, then cropping or padding to
`data.duration_ms`. Rows with NaN / Inf, a constant signal or no subject are reported (counts
and the first offending rows) and skipped; if none is left, loading fails.
"""

from __future__ import annotations

import glob
import re
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.signal import resample_poly
from torch.utils.data import Dataset

from abr_diffusion.config import ABRConfig, ConditionConfig, DataConfig
from abr_diffusion.synthetic import STATIC_NAMES, ABRData, generate
from sigshared.cli import require_file
from sigshared.errors import DataError

TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".npz")
# BioSigRZ export: the click is written as stimulus frequency 100 Hz.
BIOSIG_CLICK_HZ = 100.0
BIOSIG_MARKERS = ("Level(dB)", "Samp. Per.", "Data(uv)...")
CLICK = "click"


@dataclass
class ColumnNames:
    """Where each field lives in a table."""

    patient: str
    conditions: list[str]
    signal: str

    @classmethod
    def of(cls, cfg: DataConfig) -> ColumnNames:
        return cls(cfg.patient_column, cfg.condition_columns, cfg.signal_column)


# ----------------------------------------------------------------------------------- readers
def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


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
        raise DataError(f"cannot read {path}: {_first_line(err)}") from None


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
    columns: dict[str, object], signal: str, path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """(N, L) float64 signals and (N,) bool flags of rows whose length differs from L (the
    most common length of an array column; the count of numbered columns)."""
    if signal in columns:
        arr = np.asarray(columns[signal])
        if arr.ndim == 2:
            return arr.astype(np.float64), np.zeros(len(arr), dtype=bool)
        cells = [_parse_array_cell(c) for c in arr]
        lengths = np.array([len(c) for c in cells])
        length = int(np.bincount(lengths).argmax())
        wrong = lengths != length
        out = np.full((len(cells), length), np.nan)
        for i, c in enumerate(cells):
            if not wrong[i]:
                out[i] = c
        return out, wrong
    pattern = re.compile(rf"^{re.escape(signal)}(\d+)$")
    numbered = sorted(
        ((int(m.group(1)), c) for c in columns if (m := pattern.match(str(c)))), key=lambda p: p[0]
    )
    if not numbered:
        raise DataError(
            f"{path}: no signal found: expected an array column {signal!r} or numbered columns "
            f"{signal}0, {signal}1, ...; set data.signal_column"
        )
    if [i for i, _ in numbered] != list(range(len(numbered))):
        raise DataError(
            f"{path}: the numbered signal columns {signal}0 .. are not consecutive "
            f"(found {len(numbered)}: {numbered[0][1]} .. {numbered[-1][1]})"
        )
    mat = np.stack([np.asarray(columns[c], dtype=np.float64) for _, c in numbered], axis=1)
    return mat, np.zeros(len(mat), dtype=bool)


def _missing_id(ids: np.ndarray) -> np.ndarray:
    return np.array(
        [v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "" for v in ids],
        dtype=bool,
    )


def _drop_bad_rows(
    path: Path,
    signals: np.ndarray,
    conditions: pd.DataFrame,
    ids: np.ndarray,
    wrong_len: np.ndarray,
    log,
) -> np.ndarray:
    """The rows to keep; the others are reported on `log` (all bad: DataError)."""
    numeric = conditions.select_dtypes(include="number").to_numpy(dtype=np.float64)
    missing = conditions.isna().to_numpy().any(axis=1)
    no_id = _missing_id(ids)
    finite = np.isfinite(signals).all(1) & np.isfinite(numeric).all(1) & ~missing
    nonfinite = ~wrong_len & ~finite
    flat = ~wrong_len & ~nonfinite & (np.nan_to_num(signals).std(axis=1) == 0)
    bad = no_id | wrong_len | nonfinite | flat
    if bad.any():
        reasons = [
            f"{int(m.sum())} {what}"
            for m, what in (
                (nonfinite, "with NaN/Inf or a missing condition"),
                (wrong_len, f"with a signal length other than {signals.shape[1]}"),
                (flat, "with a constant signal"),
                (no_id, "without a subject id"),
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
    return ~bad


def read_table(
    path: str | Path,
    names: ColumnNames,
    source_sample_rate: float | None = None,
    require_patient: bool = True,
    log=None,
) -> ABRData:
    """A recordings table at its own sample rate (see the module docstring); bad rows are
    reported on `log` (default stderr) and skipped. Without `require_patient` a table may lack
    the patient column (rows are then numbered)."""
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
    if not require_patient and names.patient not in columns:
        columns = {**columns, names.patient: np.arange(n_rows).astype(str)}
    missing = [c for c in (names.patient, *names.conditions) if c not in columns]
    if missing:
        shown = ", ".join(map(str, list(columns)[:12]))
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; found {shown}"
            f"{' ...' if len(columns) > 12 else ''} (name the columns with data.patient_column "
            "and data.conditions)"
        )
    signals, wrong_len = _signal_matrix(columns, names.signal, path)
    rate = _table_rate(columns, path, source_sample_rate)
    conditions = pd.DataFrame({c: np.asarray(columns[c]) for c in names.conditions})
    ids = np.asarray(columns[names.patient], dtype=object)
    keep = _drop_bad_rows(path, signals, conditions, ids, wrong_len, log)
    return ABRData(
        signals[keep].astype(np.float32),
        rate,
        conditions[keep].reset_index(drop=True),
        np.array([str(v) for v in ids[keep]]),
    )


def _table_rate(columns: dict[str, object], path: Path, fallback: float | None) -> float | None:
    """The table's `sample_rate` column / key (one value), else `fallback`."""
    if "sample_rate" not in columns:
        return fallback
    values = np.unique(np.asarray(columns["sample_rate"], dtype=np.float64))
    if len(values) != 1 or not np.isfinite(values[0]) or values[0] <= 0:
        raise DataError(
            f"{path}: the sample_rate column must hold one positive rate (Hz), found "
            f"{values[:5].tolist()}"
        )
    return float(values[0])


def is_biosig_csv(path: str | Path) -> bool:
    """Whether `path` is a CSV whose header is a BioSigRZ export's."""
    path = Path(path)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with open(path, encoding="utf-8", errors="replace") as f:
        header = f.readline()
    return all(marker in header for marker in BIOSIG_MARKERS)


def read_biosig_csv(path: str | Path, log=None) -> ABRData:
    """A Tucker-Davis BioSigRZ CSV export: one averaged waveform per row.

    Returns the waveforms in µV at the export's rate (1e6 / `Samp. Per.` µs) with conditions
    `level_db` (`Level(dB)`), `stimulus` ("click" for the export's 100 Hz, else the tone
    frequency in Hz as text, e.g. "8000"), `frequency_hz` (NaN for a click); subject ids from
    `Sub. ID`.
    """
    path = require_file(path, "BioSigRZ export")
    frame = _read_frame(path)
    if not isinstance(frame, pd.DataFrame) or not all(m in frame.columns for m in BIOSIG_MARKERS):
        raise DataError(
            f"{path}: not a BioSigRZ CSV export (no {', '.join(BIOSIG_MARKERS)} columns); "
            "for a plain table set data.format to table"
        )
    if frame.empty:
        raise DataError(f"{path}: no recordings (no rows below the header)")
    start = list(frame.columns).index("Data(uv)...") + 1
    n_samples = pd.to_numeric(frame["No. Samps."], errors="coerce").to_numpy()
    if not np.isfinite(n_samples).all() or len(np.unique(n_samples)) != 1:
        raise DataError(f"{path}: rows differ in 'No. Samps.' ({np.unique(n_samples)[:5]})")
    n = int(n_samples[0])
    if start + n > frame.shape[1]:
        raise DataError(
            f"{path}: 'No. Samps.' says {n} samples but only {frame.shape[1] - start} columns "
            "follow 'Data(uv)...'"
        )
    period_us = np.unique(pd.to_numeric(frame["Samp. Per."], errors="coerce").to_numpy())
    if len(period_us) != 1 or not np.isfinite(period_us[0]) or period_us[0] <= 0:
        raise DataError(f"{path}: rows differ in 'Samp. Per.' or it is not positive ({period_us})")
    signals = frame.iloc[:, start : start + n].apply(pd.to_numeric, errors="coerce").to_numpy()
    freq = pd.to_numeric(frame["Freq(Hz)"], errors="coerce").to_numpy(dtype=np.float64)
    click = freq == BIOSIG_CLICK_HZ
    conditions = pd.DataFrame(
        {
            "level_db": pd.to_numeric(frame["Level(dB)"], errors="coerce").to_numpy(np.float64),
            "stimulus": [CLICK if c else f"{f:.0f}" for c, f in zip(click, freq)],
            "frequency_hz": np.where(click, np.nan, freq),
        }
    )
    ids = frame["Sub. ID"].to_numpy(dtype=object) if "Sub. ID" in frame else np.full(len(frame), "")
    # frequency_hz is NaN for clicks by design; check the other columns for missing values.
    keep = _drop_bad_rows(
        path,
        signals.astype(np.float64),
        conditions[["level_db", "stimulus"]],
        ids,
        np.zeros(len(frame), dtype=bool),
        log,
    )
    return ABRData(
        signals[keep].astype(np.float32),
        1e6 / float(period_us[0]),
        conditions[keep].reset_index(drop=True),
        np.array([str(v) for v in ids[keep]]),
    )


# ------------------------------------------------------------------------------ the grid
def to_grid(
    signals: np.ndarray, source_rate: float, target_rate: float, n_samples: int
) -> np.ndarray:
    """(N, L) waveforms at `source_rate` Hz -> (N, n_samples) at `target_rate` Hz.

    Polyphase resampling (scipy's resample_poly, its Kaiser-windowed anti-aliasing filter)
    by the ratio target / source as a fraction (denominator <= 1000), then cropped at the end
    or padded at the end with each waveform's mean (the level a z-scored signal returns to).
    Sample 0 stays at the stimulus.
    """
    x = np.asarray(signals, dtype=np.float64)
    ratio = Fraction(target_rate / source_rate).limit_denominator(1000)
    if abs(float(ratio) - target_rate / source_rate) > 1e-6 * target_rate / source_rate:
        raise DataError(
            f"cannot resample {source_rate:g} Hz to {target_rate:g} Hz exactly with a polyphase "
            "ratio of small integers; choose data.sample_rate closer to a simple ratio"
        )
    if ratio != 1:
        x = resample_poly(x, ratio.numerator, ratio.denominator, axis=1)
    if x.shape[1] >= n_samples:
        return x[:, :n_samples]
    pad = np.repeat(x.mean(axis=1, keepdims=True), n_samples - x.shape[1], axis=1)
    return np.concatenate([x, pad], axis=1)


def on_grid(data: ABRData, cfg: DataConfig) -> ABRData:
    """`data` resampled and cropped / padded to the model's grid (cfg.sample_rate,
    cfg.seq_len samples)."""
    signals = to_grid(data.signals, data.sample_rate, cfg.sample_rate, cfg.seq_len)
    return ABRData(
        signals.astype(np.float32),
        cfg.sample_rate,
        data.conditions,
        data.patient_id,
        data.latencies,
    )


def expand_paths(pattern: str) -> list[Path]:
    """The files a path or glob pattern names, sorted; DataError if none."""
    if any(ch in pattern for ch in "*?["):
        paths = sorted(Path(p) for p in glob.glob(pattern))
        if not paths:
            raise DataError(f"no data file matches {pattern}")
        return paths
    return [require_file(pattern, "data file")]


def read_recordings(
    pattern: str, cfg: DataConfig, require_patient: bool = True, log=None
) -> ABRData:
    """Every file `pattern` names (BioSigRZ exports or tables, per cfg.format), on the
    model's grid, concatenated."""
    parts = []
    for path in expand_paths(pattern):
        biosig = cfg.format == "biosig" or (cfg.format == "auto" and is_biosig_csv(path))
        if biosig:
            data = read_biosig_csv(path, log)
        else:
            names = ColumnNames.of(cfg)
            data = read_table(path, names, cfg.source_sample_rate, require_patient, log)
        if data.sample_rate is None:
            data.sample_rate = cfg.sample_rate
        missing = [c for c in cfg.condition_columns if c not in data.conditions]
        if missing:
            raise DataError(
                f"{path}: no condition column(s) {', '.join(missing)}; this file gives "
                f"{', '.join(data.conditions.columns)} (set data.conditions)"
            )
        parts.append(on_grid(data, cfg))
    if len(parts) == 1:
        return parts[0]
    return ABRData(
        np.concatenate([p.signals for p in parts]),
        cfg.sample_rate,
        pd.concat([p.conditions for p in parts], ignore_index=True),
        np.concatenate([p.patient_id for p in parts]),
    )


def read_conditions(path: str | Path, columns: list[str]) -> pd.DataFrame:
    """The condition rows (columns `columns`) of a CSV with one condition per row."""
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise DataError(f"cannot read {path}: {_first_line(err)}") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(frame.columns)}"
        )
    if frame.empty:
        raise DataError(f"{path}: no rows (a header only); add one condition per row")
    return frame[columns].reset_index(drop=True)


# ------------------------------------------------------------------------------ conditions
@dataclass
class ConditionEncoder:
    """Conditions (raw values, one column each) -> the model's (N, S) condition vector.

    Numeric columns are z-scored (on log(x) for scaling "log"; raw for "none") with the
    training split's statistics; categorical ones are one-hot over the training split's
    categories. Stored in checkpoints (`to_dict`).
    """

    columns: list[str]
    scaling: list[str]
    categories: list[list[str] | None]
    mean: list[float]
    std: list[float]
    default: list[object]

    @classmethod
    def fit(cls, frame: pd.DataFrame, specs: list[ConditionConfig]) -> ConditionEncoder:
        missing = [s.column for s in specs if s.column not in frame]
        if missing:
            raise DataError(f"the data have no condition column(s) {', '.join(missing)}")
        columns, scaling, categories, mean, std, default = [], [], [], [], [], []
        for spec in specs:
            col = frame[spec.column]
            columns.append(spec.column)
            scaling.append(spec.scaling)
            if spec.categorical:
                values = col.astype(str)
                categories.append(sorted(values.unique()))
                mean.append(0.0)
                std.append(1.0)
                default.append(str(values.mode().iloc[0]))
                continue
            x = _numeric(col, spec.column)
            v = _scaled(x, spec.scaling, spec.column)
            sd = float(v.std())
            categories.append(None)
            mean.append(float(v.mean()) if spec.scaling != "none" else 0.0)
            # A constant column (e.g. one stimulus rate) carries no information: scale 1.
            std.append(sd if spec.scaling != "none" and sd > 1e-8 else 1.0)
            default.append(float(np.median(x)))
        return cls(columns, scaling, categories, mean, std, default)

    @property
    def width(self) -> int:
        return sum(1 if c is None else len(c) for c in self.categories)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """(N, width) float32 condition vectors of the rows of `frame`."""
        missing = [c for c in self.columns if c not in frame]
        if missing:
            raise DataError(f"missing condition column(s) {', '.join(missing)}")
        parts = []
        for j, column in enumerate(self.columns):
            cats = self.categories[j]
            if cats is None:
                v = _scaled(_numeric(frame[column], column), self.scaling[j], column)
                parts.append(((v - self.mean[j]) / self.std[j])[:, None])
                continue
            values = frame[column].astype(str).to_numpy()
            unknown = sorted(set(values) - set(cats))
            if unknown:
                raise DataError(
                    f"condition {column}: unknown value(s) {', '.join(unknown[:5])}; the model "
                    f"knows {', '.join(cats)}"
                )
            parts.append((values[:, None] == np.array(cats)[None]).astype(np.float64))
        return np.concatenate(parts, axis=1).astype(np.float32)

    def to_dict(self) -> dict[str, list]:
        return {
            "columns": list(self.columns),
            "scaling": list(self.scaling),
            "categories": [None if c is None else list(c) for c in self.categories],
            "mean": list(self.mean),
            "std": list(self.std),
            "default": list(self.default),
        }


def _numeric(col: pd.Series, name: str) -> np.ndarray:
    x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(x).all():
        rows = np.flatnonzero(~np.isfinite(x))[:5].tolist()
        raise DataError(f"condition {name}: non-numeric, NaN or Inf values in rows {rows}")
    return x


def _scaled(x: np.ndarray, scaling: str, name: str) -> np.ndarray:
    if scaling != "log":
        return x
    if (x <= 0).any():
        raise DataError(f"condition {name} is log-scaled but holds values <= 0")
    return np.log(x)


# ----------------------------------------------------------------------------------- splits
def split_rows(
    groups: np.ndarray,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 42,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of train / val / test such that no group (patient, or each row for a row
    split) is in two splits.

    Groups are shuffled with `seed` and dealt out by the fractions; every split gets at least
    one group when there are three or more.
    """
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise DataError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    unique = np.unique(groups)
    if len(unique) < 3:
        raise DataError(
            f"need at least 3 subjects for a train/val/test split by patient, got {len(unique)}; "
            "set data.split_by to row"
        )
    order = np.random.default_rng(seed).permutation(unique)
    n_val = max(1, round(fractions[1] * len(order)))
    n_test = max(1, round(fractions[2] * len(order)))
    n_train = len(order) - n_val - n_test
    parts = (order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :])
    splits = tuple(np.flatnonzero(np.isin(groups, g)) for g in parts)
    sets = [set(groups[s]) for s in splits]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]), "group leak"
    return splits


def zscore_signals(signals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-recording z-score: (N, T) µV -> normalised (N, T), mean (N,), std (N,) in µV."""
    mean = signals.mean(axis=1)
    std = np.maximum(signals.std(axis=1), 1e-8)
    return (signals - mean[:, None]) / std[:, None], mean, std


def to_uv(z: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(N, T) z-scored -> µV with per-recording mean / std (N,)."""
    return z * std[:, None] + mean[:, None]


class ABRDataset(Dataset):
    """Items {"x": (1, T) z-scored signal, "static": (S,) encoded conditions}.

    `mean` / `std` (N,) µV keep what the z-score removed, for denormalising outputs.
    """

    def __init__(self, data: ABRData, encoder: ConditionEncoder):
        x, self.mean, self.std = zscore_signals(data.signals.astype(np.float64))
        self.x = torch.from_numpy(x.astype(np.float32)).unsqueeze(1)
        self.static = torch.from_numpy(encoder.transform(data.conditions))
        self.data = data

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "static": self.static[i]}


@dataclass
class AmplitudeModel:
    """Least-squares fit of the z-score's mean and log-std (µV) on the encoded conditions.

    Generated signals come out z-scored; this gives them the µV offset and scale a recording
    with those conditions has on average (the response grows with the stimulus level).
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
        """(N, S) encoded conditions -> mean (N,), std (N,) in µV."""
        design = np.hstack([np.ones((len(static_z), 1)), static_z])
        return design @ np.array(self.mean_coef), np.exp(design @ np.array(self.log_std_coef))

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean_coef": list(self.mean_coef), "log_std_coef": list(self.log_std_coef)}


# ------------------------------------------------------------------------ a run's data set-up
@dataclass
class Splits:
    """The recordings (on the model's grid) and their train / val / test row indices."""

    data: ABRData
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def load_data(cfg: ABRConfig) -> Splits:
    """The recordings at cfg.data.path, or the synthetic set, on the model's grid; split by
    patient (or row) with the seed."""
    d = cfg.data
    if d.path:
        data = read_recordings(d.path, d)
    else:
        unknown = [c for c in d.condition_columns if c not in STATIC_NAMES]
        if unknown:
            raise DataError(
                f"the built-in synthetic generator gives {', '.join(STATIC_NAMES)}, not "
                f"{', '.join(unknown)}; give recordings in data.path"
            )
        data = on_grid(generate(d.synthetic_patients, d.synthetic_recordings, d.synthetic_seed), d)
    groups = data.patient_id if d.split_by == "patient" else np.arange(len(data))
    train, val, test = split_rows(groups, tuple(d.split), d.split_seed)
    return Splits(data, train, val, test)


def fit_normalisers(splits: Splits, cfg: DataConfig) -> tuple[ConditionEncoder, AmplitudeModel]:
    """Condition encoder and amplitude model from the training split only."""
    train = splits.data.subset(splits.train)
    encoder = ConditionEncoder.fit(train.conditions, cfg.conditions)
    ds = ABRDataset(train, encoder)
    return encoder, AmplitudeModel.fit(ds.static.numpy(), ds.mean, ds.std)
