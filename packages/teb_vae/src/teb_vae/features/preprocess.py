"""CTG preprocessing: FHR dropouts, gap filling and the invertible normalisation.

Which samples are measured signal is decided by `teb_vae.quality` (FHR loss, artefacts,
maternal capture, UC loss and saturation). Invalid samples are filled by holding the last
valid value (causal: a fill never reveals how a gap ends) so the transforms see a continuous
signal, and flagged in the returned masks so that loss and evaluation skip them: a filled
sample is never scored.

Normalisation (documented constants, exactly invertible):
    fhr_n = (fhr - 140) / 20        up_n = (up - 20) / 25
140 bpm / 20 bpm are a typical baseline and a generous spread; 20 / 25 centre a tocogram.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from teb_vae.quality import QualityMasks, quality_masks

FS = 4.0
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
    """A cleaned recording (N samples): gap-filled `fhr` (bpm) and `up`; `valid` (N,) bool,
    the measured fetal heart rate (`QualityMasks.valid_fhr`: never a filled, artefact or
    maternal sample); `uc_valid` (N,) bool; the masks themselves."""

    fhr: np.ndarray
    up: np.ndarray
    valid: np.ndarray
    uc_valid: np.ndarray
    masks: QualityMasks

    @property
    def missing_fraction(self) -> float:
        return float(1.0 - self.valid.mean()) if self.valid.size else 1.0


def _fill(x: np.ndarray, missing: np.ndarray, before: float) -> np.ndarray:
    """Causal fill: each missing sample holds the last valid value before it; samples before
    the first valid one hold `before` (the normalisation centre). No sample depends on later
    ones, so features of a gap never see how it ends, and a stream fills as a batch pass does;
    the validity channels tell the model it is a fill."""
    idx = np.where(~missing, np.arange(len(x)), -1)
    last = np.maximum.accumulate(idx) if len(x) else idx
    return np.where(last < 0, before, x[np.maximum(last, 0)])


def clean_ctg(fhr: np.ndarray, up: np.ndarray) -> Cleaned:
    """Raw FHR (bpm) and UP at 4 Hz, shape (N,) each -> `Cleaned` (still in physical units).

    Every FHR sample that is not valid (lost, artefact, maternal) is filled causally (the last
    valid value held) so that the transforms see a continuous signal; so is every lost UC
    sample. Saturated UC keeps
    its clipped value (the best lower bound) and is flagged invalid.
    """
    fhr = np.asarray(fhr, dtype=np.float64)
    up = np.asarray(up, dtype=np.float64)
    masks = quality_masks(fhr, up)
    valid = masks.valid_fhr
    return Cleaned(
        _fill(fhr, ~valid, FHR_CENTER),
        _fill(up, masks.uc_loss, UP_CENTER),
        valid,
        masks.valid_uc,
        masks,
    )
