"""Reference mastering: match a song's smoothed third-octave balance to reference tracks'.

The balance of a signal is the energy of its channel mean in each third-octave band from
25 Hz to 16 kHz (Welch periodogram, 8192-point segments), in dB relative to the signal's total
over those bands; the curve is smoothed across three neighbouring bands. The references'
balance is the weighted mean of their balances (dB, band by band). `match_balance` applies the
difference (clipped to +-12 dB) as one zero-phase FIR (frequency sampling, `scipy.signal.
firwin2`, 8191 taps: 5 Hz resolution at 44.1 kHz), so that the result's balance approaches the
references'. The distance of two balances is the RMS of their difference over the bands.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from sigshared.errors import ConfigError

THIRD_OCTAVE_HZ = 1000.0 * 2.0 ** (np.arange(-16, 13) / 3)  # 25 Hz .. 16 kHz, 29 bands
MAX_GAIN_DB = 12.0
FIR_TAPS = 8191


def balance_db(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Smoothed third-octave balance of x (C, T): (29,) dB relative to the total."""
    mono = np.asarray(x, np.float64).mean(0)
    f, psd = scipy.signal.welch(mono, sample_rate, nperseg=min(8192, len(mono)))
    lo, hi = THIRD_OCTAVE_HZ * 2 ** (-1 / 6), THIRD_OCTAVE_HZ * 2 ** (1 / 6)
    bands = np.array([psd[(f >= a) & (f < b)].sum() for a, b in zip(lo, hi, strict=True)])
    bands = np.convolve(bands + 1e-30, np.ones(3) / 3, mode="same")
    return 10 * np.log10(bands / bands.sum())


def reference_balance(
    references: list[tuple[np.ndarray, int]], weights: list[float] | None = None
) -> np.ndarray:
    """The weighted mean, in dB band by band, of the balances of reference signals
    [(audio (C, T), rate), ...]. In dB rather than in power, so that a light reference moves
    the target by its weight's share (a power mean lets a bright reference's loud top
    octaves outweigh any weight)."""
    weights = [1.0] * len(references) if weights is None else list(weights)
    if len(weights) != len(references) or not all(np.isfinite(w) and w > 0 for w in weights):
        raise ConfigError(
            f"reference weights must be {len(references)} finite numbers > 0; got {weights}"
        )
    balances = np.array([balance_db(x, sr) for x, sr in references])
    return (np.asarray(weights)[:, None] * balances).sum(0) / sum(weights)


def distance_db(a: np.ndarray, b: np.ndarray) -> float:
    """RMS over the bands of the difference of two balances, dB."""
    return float(np.sqrt(np.mean((a - b) ** 2)))


def match_balance(x: np.ndarray, sample_rate: int, target_db: np.ndarray) -> np.ndarray:
    """x (C, T) filtered so that its balance approaches `target_db` (zero-phase FIR)."""
    gains = np.clip(target_db - balance_db(x, sample_rate), -MAX_GAIN_DB, MAX_GAIN_DB)
    nyquist = sample_rate / 2
    inside = THIRD_OCTAVE_HZ < nyquist
    freqs = np.concatenate([[0.0], THIRD_OCTAVE_HZ[inside], [nyquist]])
    # Flat continuation beyond the outer bands.
    g = gains[inside]
    amps = 10 ** (np.concatenate([[g[0]], g, [g[-1]]]) / 20)
    fir = scipy.signal.firwin2(FIR_TAPS, freqs, amps, fs=sample_rate)
    return scipy.signal.oaconvolve(np.asarray(x, np.float64), fir[None], mode="same", axes=-1)
