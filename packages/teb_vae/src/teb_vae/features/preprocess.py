"""CTG preprocessing: FHR dropouts, gap filling and the invertible normalisation.

FHR (bpm) samples that are 0, NaN or outside [FHR_MIN, FHR_MAX] are dropouts. Gaps of at most
`max_gap_s` seconds are filled by linear interpolation between the neighbouring valid samples
(edges hold the nearest valid value); longer gaps are filled the same way so the transforms see
a continuous signal, but are flagged in the returned mask so that loss and evaluation skip them.
UP (uterine pressure, mmHg or arbitrary tocodynamometer units) dropouts are NaN only; they are
filled the same way.

Normalisation (documented constants, exactly invertible):
    fhr_n = (fhr - 140) / 20        up_n = (up - 20) / 25
140 bpm / 20 bpm are a typical baseline and a generous spread; 20 / 25 centre a tocogram.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FS = 4.0
FHR_MIN, FHR_MAX = 50.0, 220.0
FHR_CENTER, FHR_SCALE = 140.0, 20.0
UP_CENTER, UP_SCALE = 20.0, 25.0


def normalize_fhr(fhr: np.ndarray) -> np.ndarray:
    return (fhr - FHR_CENTER) / FHR_SCALE


def denormalize_fhr(fhr_n):
    """Inverse of `normalize_fhr` (works on numpy arrays and torch tensors), bpm."""
    return fhr_n * FHR_SCALE + FHR_CENTER


def normalize_up(up: np.ndarray) -> np.ndarray:
    return (up - UP_CENTER) / UP_SCALE


def denormalize_up(up_n):
    return up_n * UP_SCALE + UP_CENTER


@dataclass
class Cleaned:
    """A cleaned recording: filled signals (N,), `valid` (N,) bool (False in long FHR gaps)
    and the long gaps found, as (start, length) in samples."""

    fhr: np.ndarray
    up: np.ndarray
    valid: np.ndarray
    long_gaps: list[tuple[int, int]]

    @property
    def missing_fraction(self) -> float:
        return float(1.0 - self.valid.mean()) if self.valid.size else 1.0


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every run of True in a 1-D bool array."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(s), int(e - s)) for s, e in zip(edges[::2], edges[1::2])]


def _fill(x: np.ndarray, missing: np.ndarray) -> np.ndarray:
    idx = np.arange(len(x))
    good = ~missing
    if not good.any():
        return np.zeros_like(x)
    return np.interp(idx, idx[good], x[good])


def clean_ctg(fhr: np.ndarray, up: np.ndarray, max_gap_s: float = 15.0) -> Cleaned:
    """Raw FHR (bpm) and UP at 4 Hz, shape (N,) each -> `Cleaned` (still in physical units)."""
    fhr = np.asarray(fhr, dtype=np.float64)
    up = np.asarray(up, dtype=np.float64)
    missing = ~np.isfinite(fhr) | (fhr < FHR_MIN) | (fhr > FHR_MAX)
    max_gap = int(round(max_gap_s * FS))
    long_gaps = [(s, n) for s, n in _runs(missing) if n > max_gap]
    valid = np.ones(len(fhr), dtype=bool)
    for s, n in long_gaps:
        valid[s : s + n] = False
    if not (~missing).any():
        valid[:] = False
    return Cleaned(_fill(fhr, missing), _fill(up, ~np.isfinite(up)), valid, long_gaps)
