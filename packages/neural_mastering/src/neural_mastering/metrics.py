"""Evaluation metrics of a mastered signal against its target, and the two baselines.

All signals are numpy (C, T) float at one sample rate. Metrics (lower is better):
- stft: multi-resolution STFT distance (spectral convergence + log magnitude, FFT 512/1024/2048);
- lufs_error: |LUFS(x) - LUFS(target)| (BS.1770-4), LU;
- true_peak_error: |dBTP(x) - dBTP(target)|, dB;
- crest_error: |crest(x) - crest(target)|, crest = 20 log10(peak / RMS), dB;
- balance_error: RMS over octave bands (31.5 Hz .. 16 kHz) of the difference of the two
  spectral balances, each band's energy in dB relative to the signal's total, dB.
"""

from __future__ import annotations

import numpy as np
import scipy.signal
import torch

from neural_mastering.dsp.loudness import integrated_loudness, true_peak_db
from sigshared.losses import MultiResolutionSTFTLoss

OCTAVE_CENTRES_HZ = 31.25 * 2.0 ** np.arange(10)
METRICS = ("stft", "lufs_error", "true_peak_error", "crest_error", "balance_error")
_STFT = MultiResolutionSTFTLoss(mag_weight=0.0, sc_weight=1.0, log_weight=1.0)


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def lufs(x: np.ndarray, sr: int) -> float:
    """Integrated loudness of (C, T) in LUFS."""
    return float(integrated_loudness(_t(x).double(), sr))


def true_peak(x: np.ndarray) -> float:
    """True peak of (C, T) in dBTP."""
    return float(true_peak_db(_t(x)))


def true_peak_fft_db(
    x: np.ndarray, factor: int = 8, block: int = 1 << 15, halo: int = 2048
) -> float:
    """True peak of (C, T) in dBTP by an independent method: FFT (periodic sinc)
    interpolation to `factor` x the rate (scipy.signal.resample) of overlapping blocks, whose
    `halo` samples either side, where the circular wrap-around rings, are discarded.

    A check on the meter of `dsp.loudness` (a polyphase FIR with a parabola), not a copy of
    it: the two agree within 0.02 dB on band-limited signals (tested)."""
    # Silence before and after the file (as a converter plays it), so the blocks at the ends
    # do not wrap around onto each other.
    x = np.pad(np.asarray(x, np.float64), ((0, 0), (halo, halo)))
    t = x.shape[-1] - 2 * halo
    peak = float(np.abs(x).max()) if t else 0.0
    for start in range(halo, halo + t, block):
        lo, hi = start - halo, min(halo + t, start + block) + halo
        up = scipy.signal.resample(x[:, lo:hi], factor * (hi - lo), axis=-1)
        keep = up[:, factor * halo : factor * (hi - lo - halo)]
        peak = max(peak, float(np.abs(keep).max()))
    return float(20 * np.log10(max(peak, 1e-12)))


def crest_factor_db(x: np.ndarray) -> float:
    """Peak-to-RMS ratio of (C, T) in dB."""
    rms = np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)) + 1e-12
    return float(20 * np.log10(np.abs(x).max() / rms + 1e-12))


def spectral_balance_db(x: np.ndarray, sr: int) -> np.ndarray:
    """Octave-band energies of the channel mean relative to the total, dB, (10,)."""
    f, psd = scipy.signal.welch(np.asarray(x, np.float64).mean(0), sr, nperseg=8192)
    bands = []
    for fc in OCTAVE_CENTRES_HZ:
        sel = (f >= fc / np.sqrt(2)) & (f < fc * np.sqrt(2))
        bands.append(psd[sel].sum())
    bands = np.asarray(bands) + 1e-20
    return 10 * np.log10(bands / bands.sum())


def compare(x: np.ndarray, target: np.ndarray, sr: int) -> dict[str, float]:
    """All METRICS of x against target, both (C, T) at sr (trimmed to the shorter)."""
    n = min(x.shape[-1], target.shape[-1])
    x, target = x[..., :n], target[..., :n]
    with torch.no_grad():
        stft = float(_STFT(_t(x)[None], _t(target)[None]))
    return {
        "stft": stft,
        "lufs_error": abs(lufs(x, sr) - lufs(target, sr)),
        "true_peak_error": abs(true_peak(x) - true_peak(target)),
        "crest_error": abs(crest_factor_db(x) - crest_factor_db(target)),
        "balance_error": float(
            np.sqrt(np.mean((spectral_balance_db(x, sr) - spectral_balance_db(target, sr)) ** 2))
        ),
    }


def loudness_matched(x: np.ndarray, target: np.ndarray, sr: int) -> np.ndarray:
    """Baseline: x with one gain so that its LUFS equals the target's."""
    gain_db = lufs(target, sr) - lufs(x, sr)
    if not np.isfinite(gain_db):
        return x
    return (x * 10 ** (gain_db / 20)).astype(np.float32)
