"""Raw ECG records: readers of WFDB folders and CSV / NPY files, finiteness check, resampling.

A record is `(signal, fs)`: signal (leads, samples) in physical units (mV for WFDB), fs in Hz.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from sigshared.errors import DataError

Record = tuple[np.ndarray, float]


def read_wfdb_folder(folder: Path) -> dict[str, Record]:
    """{record: ((leads, samples) physical units, fs)} for every `*.hea` in `folder`."""
    import wfdb

    records = {}
    for header in sorted(folder.glob("*.hea")):
        try:
            rec = wfdb.rdrecord(str(header.with_suffix("")))
        except Exception as err:
            raise DataError(f"cannot read WFDB record {header.with_suffix('')}: {err}") from None
        if rec.p_signal is None:
            raise DataError(f"WFDB record {header.stem} holds no physical signal")
        records[header.stem] = (np.asarray(rec.p_signal, dtype=np.float64).T, float(rec.fs))
    return records


def read_table_folder(folder: Path, input_fs: float | None) -> dict[str, Record]:
    """{record: ((leads, samples), input_fs)} for every `*.csv` / `*.npy` in `folder`."""
    import pandas as pd

    files = sorted([*folder.glob("*.csv"), *folder.glob("*.npy")])
    if files and input_fs is None:
        raise DataError(
            f"{files[0]}: CSV / NPY files carry no sampling rate; give their rate in Hz"
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
            raise DataError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
        if signal.ndim == 1:
            signal = signal[:, None]
        if signal.ndim != 2 or signal.size == 0:
            raise DataError(
                f"{path}: expected (samples,) or (samples, leads), got shape {signal.shape}"
            )
        records[path.stem] = (signal.T, float(input_fs))
    return records


def read_records(folder: Path, input_fs: float | None = None) -> dict[str, Record]:
    """The WFDB records of `folder`, or else its CSV / NPY files (at `input_fs` Hz)."""
    if not folder.is_dir():
        raise DataError(f"records folder not found: {folder}")
    return read_wfdb_folder(folder) or read_table_folder(folder, input_fs)


def check_finite(name: str, signal: np.ndarray) -> None:
    """DataError naming the record, lead and sample of the first NaN / Inf."""
    bad = ~np.isfinite(signal)
    if bad.any():
        lead, sample = np.argwhere(bad)[0]
        raise DataError(
            f"record {name}: {int(bad.sum())} NaN/Inf values (first at lead {lead}, sample "
            f"{sample}); clean or interpolate the record first"
        )


def resample(signal: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """(leads, samples) at fs_in -> (leads, samples') at fs_out, polyphase anti-aliased."""
    if fs_in == fs_out:
        return signal
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=-1)
