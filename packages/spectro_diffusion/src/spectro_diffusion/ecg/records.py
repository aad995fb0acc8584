"""Raw ECG records read channel by channel at their native rates: WFDB folders and CSV / NPY
files, channel selection by name or type, repair of missing samples, resampling.

A `Record` holds `Channel`s: a name, a 1-D signal in physical units (mV for WFDB ECG leads)
and the channel's own sampling rate in Hz. WFDB records that store a signal at several samples
per frame (MIMIC 03700181: MCL1 at 4 x 125 Hz) are read with `smooth_frames=False`, so each
channel keeps its native rate rather than the frame average.

Channel selection (`select_channels`) takes tokens: "ecg" (every channel whose name is an ECG
lead, `is_ecg_lead`), "all", or channel names (case-insensitive). PLETH, RESP, ABP and the
Frank leads vx, vy, vz are not ECG leads: they are kept only when named or with "all".
Channels without a name (an NPY file without a sidecar) count as ECG leads.

CSV and NPY files carry no rate: a sidecar `<file>.json` beside `<file>.csv` / `<file>.npy`
gives it, {"fs": Hz, "channels": [names]} ("channels" optional; a CSV's header names its
columns), else one rate for the whole folder (`input_fs`).

Missing samples (NaN / Inf, e.g. WFDB's invalid-sample value) are repaired after selection
(`repair_gaps`): runs up to `max_gap_seconds` long are linearly interpolated; longer runs are
marked, and the windows that overlap them are left out by `prepare`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from sigshared.errors import DataError

# Limb leads, precordial V / V1-V9, modified chest and limb leads (MLII, MLIII, MCL1, MV2, ...)
# and generic names (ECG, ECG1, EKG ...), after lower-casing and removing spaces, "_" and "-",
# with an optional "lead" prefix. The Frank leads vx / vy / vz do not match.
ECG_LEAD = re.compile(
    r"^(lead)?(i|ii|iii|avr|avl|avf|v|v[1-9]|ml[a-z0-9]*|mcl[1-6]?|mv[1-6]|ecg[a-z0-9]*"
    r"|ekg[a-z0-9]*)$"
)
SELECTION_WORDS = ("ecg", "all")


@dataclass
class Channel:
    """One signal: `name` ("" when the file names none), samples (n,) and rate `fs` in Hz."""

    name: str
    signal: np.ndarray
    fs: float


@dataclass
class Record:
    """The channels of one record file (`source`), named `name` (the file stem)."""

    name: str
    source: Path
    channels: list[Channel] = field(default_factory=list)


@dataclass
class GapReport:
    """Missing samples of one channel: NaN / Inf values, runs interpolated (and their samples),
    runs too long to interpolate (and their samples)."""

    nan_values: int = 0
    interpolated_runs: int = 0
    interpolated_samples: int = 0
    long_runs: int = 0
    long_samples: int = 0


def is_ecg_lead(name: str) -> bool:
    """Whether a channel name is an ECG lead (see ECG_LEAD); an empty name counts as one."""
    key = re.sub(r"[\s_\-]", "", name.lower())
    return key == "" or ECG_LEAD.match(key) is not None


def read_wfdb_record(header: Path) -> Record:
    """Every channel of the WFDB record `header` (*.hea) at its own rate, in physical units."""
    import wfdb

    path = header.with_suffix("")
    try:
        rec = wfdb.rdrecord(str(path), smooth_frames=False)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot read WFDB record {path}: {first}") from None
    if not rec.e_p_signal:
        raise DataError(f"WFDB record {path} holds no physical signal")
    channels = [
        Channel(str(name), np.asarray(sig, dtype=np.float64), float(rec.fs) * int(spf))
        for name, sig, spf in zip(rec.sig_name, rec.e_p_signal, rec.samps_per_frame)
    ]
    return Record(header.stem, header, channels)


def read_sidecar(path: Path) -> dict:
    """The sidecar `<path stem>.json` of a CSV / NPY file ({} when there is none)."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read the sidecar {sidecar}: {err}") from None
    if not isinstance(meta, dict):
        raise DataError(f'the sidecar {sidecar} must hold a mapping like {{"fs": 500}}')
    fs = meta.get("fs")
    if fs is not None and not (isinstance(fs, int | float) and 0 < fs < float("inf")):
        raise DataError(f"the sidecar {sidecar}: fs must be a positive number of Hz, got {fs!r}")
    return meta


def read_table(path: Path, input_fs: float | None) -> Record:
    """A CSV (header row, numeric columns) or NPY file ((n,) or (n, channels)) as a Record."""
    import pandas as pd

    meta = read_sidecar(path)
    fs = meta.get("fs", input_fs)
    if fs is None:
        raise DataError(
            f"{path}: CSV / NPY files carry no sampling rate; give it in a sidecar "
            f'{path.with_suffix(".json").name} ({{"fs": HZ}}) or one rate for the folder'
        )
    try:
        if path.suffix == ".csv":
            frame = pd.read_csv(path).select_dtypes("number")
            signal = frame.to_numpy(dtype=np.float64)
            names = [str(c) for c in frame.columns]
        else:
            signal = np.load(path, allow_pickle=False).astype(np.float64)
            names = None
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot read {path}: {first}") from None
    if signal.ndim == 1:
        signal = signal[:, None]
    if signal.ndim != 2 or signal.size == 0:
        raise DataError(f"{path}: expected (samples,) or (samples, leads), got {signal.shape}")
    names = meta.get("channels", names) or [""] * signal.shape[1]
    if len(names) != signal.shape[1]:
        raise DataError(f"{path}: {len(names)} channel names for {signal.shape[1]} columns")
    channels = [Channel(str(n), signal[:, k], float(fs)) for k, n in enumerate(names)]
    return Record(path.stem, path, channels)


def read_records(folder: Path, input_fs: float | None = None) -> list[Record]:
    """The WFDB records of `folder` (*.hea), or else its CSV / NPY files, in name order."""
    if not folder.is_dir():
        raise DataError(f"records folder not found: {folder}")
    headers = sorted(folder.glob("*.hea"))
    if headers:
        return [read_wfdb_record(h) for h in headers]
    tables = sorted([*folder.glob("*.csv"), *folder.glob("*.npy")])
    return [read_table(p, input_fs) for p in tables]


def select_channels(record: Record, selection: list[str]) -> tuple[list[Channel], list[str]]:
    """(kept channels, names of the ones left out) of `record` under `selection` (see the
    module doc); a DataError when nothing is kept."""
    words = {s.lower() for s in selection}
    keep_all = "all" in words
    keep_ecg = "ecg" in words
    kept, left = [], []
    for ch in record.channels:
        if keep_all or (keep_ecg and is_ecg_lead(ch.name)) or ch.name.lower() in words:
            kept.append(ch)
        else:
            left.append(ch.name)
    if not kept:
        names = ", ".join(ch.name or "(unnamed)" for ch in record.channels)
        raise DataError(
            f"record {record.name} has no channel selected by {' '.join(selection)}; its "
            f"channels: {names}"
        )
    return kept, left


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """[(start, end)) of every run of True in a 1-D boolean mask."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def repair_gaps(
    signal: np.ndarray, fs: float, max_gap_seconds: float
) -> tuple[np.ndarray, np.ndarray, GapReport]:
    """(filled signal, mask of samples in runs too long to interpolate, report).

    Runs of NaN / Inf up to floor(max_gap_seconds * fs) samples are linearly interpolated
    between their neighbours (held at the edges); longer runs are filled the same way, so
    that resampling stays finite, and marked in the mask. An all-missing signal is all marked.
    """
    bad = ~np.isfinite(signal)
    report = GapReport(nan_values=int(bad.sum()))
    if not bad.any():
        return signal, bad, report
    good = np.flatnonzero(~bad)
    if good.size == 0:
        report.long_runs, report.long_samples = 1, signal.size
        return np.zeros_like(signal), np.ones_like(bad), report
    filled = signal.copy()
    filled[bad] = np.interp(np.flatnonzero(bad), good, signal[good])
    longest = int(max_gap_seconds * fs)
    long_mask = np.zeros_like(bad)
    for start, end in runs_of(bad):
        if end - start <= longest:
            report.interpolated_runs += 1
            report.interpolated_samples += end - start
        else:
            report.long_runs += 1
            report.long_samples += end - start
            long_mask[start:end] = True
    return filled, long_mask, report


def resample(signal: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """(..., samples) at fs_in -> (..., samples') at fs_out, polyphase anti-aliased."""
    if fs_in == fs_out:
        return signal
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=-1)


def resample_mask(mask: np.ndarray, fs_in: float, fs_out: float, n_out: int) -> np.ndarray:
    """A mask of input samples -> the output samples within one input sample of a marked one
    (the interpolation filter spreads a filled gap a little beyond it)."""
    out = np.zeros(n_out, dtype=bool)
    for start, end in runs_of(mask):
        a = int(np.floor((start - 1) * fs_out / fs_in))
        b = int(np.ceil((end + 1) * fs_out / fs_in))
        out[max(a, 0) : min(b, n_out)] = True
    return out
