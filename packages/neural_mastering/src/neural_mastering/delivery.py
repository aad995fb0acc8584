"""The last stage of a master: DC blocking, loudness to target, true-peak brickwall limiting.

`deliver(x, sr, target_lufs, ceiling_db)`:
1. DC blocked: a 2nd-order Butterworth high-pass at 5 Hz, then the remaining mean removed;
2. a static gain g and the limiter (`dsp.limiter.limit`, threshold 0.05 dB under the
   ceiling) are iterated: g moves by the loudness still missing after limiting (a secant
   step), until the limited output is within 0.05 LU of the target (at most
   `MAX_ITERATIONS`);
3. `remove_overs` limits the result again from its own envelope where the moving gain left
   inter-sample values over `ceiling - 0.02 dB`, and a last trim (if any is needed) sets the
   meter's true peak at or under `ceiling - 0.01 dB`.
The 0.05 / 0.02 dB margins keep an independent 8x FFT meter (`metrics.true_peak_fft_db`) at or
under the ceiling too, and the 16-bit dither's +-2 LSB (0.0005 dB near full scale).

Silent input (nothing above the BS.1770 gate) is returned DC-blocked and unchanged in level;
input shorter than one 400 ms loudness block cannot be measured and is refused (DataError).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal

from neural_mastering.dsp.limiter import limit, remove_overs, true_peak_envelope
from neural_mastering.metrics import lufs, true_peak, true_peak_fft_db
from sigshared.errors import DataError

# name: (integrated loudness LUFS, true-peak ceiling dBTP)
PRESETS: dict[str, tuple[float, float]] = {
    "streaming": (-14.0, -1.0),  # Spotify / Tidal / Amazon normalisation level
    "apple": (-16.0, -1.0),  # Apple Music / iTunes Sound Check
    "youtube": (-14.0, -1.0),
    "cd": (-9.0, -0.3),  # a loud CD master
    "club": (-7.0, -0.3),  # DJ / club playback
}
LIMITER_MARGIN_DB = 0.05
CHECK_MARGIN_DB = 0.02
TRIM_MARGIN_DB = 0.01
LOUDNESS_TOLERANCE_LU = 0.05
MAX_ITERATIONS = 12
DC_CUTOFF_HZ = 5.0
MIN_DURATION_S = 0.4
GR_WARNING_DB = 6.0


@dataclass
class Delivered:
    """The delivered audio (C, T) float64 and what the stage did: the static gain (dB), the
    limiter's gain reduction per sample (T,) dB, loudness and true peak reached, the number of
    loudness iterations, and whether the input was silent."""

    audio: np.ndarray
    gain_db: float
    reduction_db: np.ndarray
    lufs: float
    true_peak_db: float
    iterations: int
    silent: bool

    @property
    def reduction_max_db(self) -> float:
        return float(self.reduction_db.max()) if self.reduction_db.size else 0.0

    @property
    def reduction_mean_db(self) -> float:
        return float(self.reduction_db.mean()) if self.reduction_db.size else 0.0


def block_dc(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """x (C, T) high-passed at 5 Hz (2nd-order Butterworth, causal) with its mean removed."""
    sos = scipy.signal.butter(2, DC_CUTOFF_HZ, "highpass", fs=sample_rate, output="sos")
    y = scipy.signal.sosfilt(sos, np.asarray(x, np.float64), axis=-1)
    return y - y.mean(-1, keepdims=True)


def deliver(
    x: np.ndarray,
    sample_rate: int,
    target_lufs: float,
    ceiling_db: float,
    lookahead_ms: float = 5.0,
    release_ms: float = 60.0,
) -> Delivered:
    """Steps 1-3 of the module docstring on x (C, T) at sample_rate."""
    if x.shape[-1] < MIN_DURATION_S * sample_rate:
        raise DataError(
            f"the audio lasts {x.shape[-1] / sample_rate:.3f} s; its loudness needs at least "
            f"{MIN_DURATION_S} s to be measured"
        )
    y = block_dc(x, sample_rate)
    level = lufs(y, sample_rate)
    threshold = ceiling_db - LIMITER_MARGIN_DB
    if not np.isfinite(level):
        out = remove_overs(y, sample_rate, ceiling_db - CHECK_MARGIN_DB)
        return _finish(out.audio, sample_rate, ceiling_db, 0.0, out.reduction_db, 0, True)
    gain = target_lufs - level
    # Only envelope values the limiter can act on are computed; 6 dB of slack for the
    # iterations' gain changes, recomputed if the gain moves further.
    slack = 6.0
    env = true_peak_envelope(y, 10 ** ((threshold - gain - slack) / 20))
    env_gain, previous, iterations = gain, None, 0
    while iterations < MAX_ITERATIONS:
        iterations += 1
        if gain > env_gain + slack:
            env, env_gain = true_peak_envelope(y, 10 ** ((threshold - gain - slack) / 20)), gain
        limited = limit(y, sample_rate, threshold, lookahead_ms, release_ms, env, gain)
        reached = lufs(limited.audio, sample_rate)
        if abs(reached - target_lufs) <= LOUDNESS_TOLERANCE_LU:
            break
        # Secant step: under heavy limiting a dB of gain adds much less than a LU.
        slope = 1.0
        if previous is not None and gain != previous[0]:
            slope = float(np.clip((reached - previous[1]) / (gain - previous[0]), 0.05, 1.0))
        previous = (gain, reached)
        gain += (target_lufs - reached) / slope
    out = remove_overs(
        limited.audio, sample_rate, ceiling_db - CHECK_MARGIN_DB, lookahead_ms, release_ms
    )
    reduction = limited.reduction_db + out.reduction_db
    return _finish(out.audio, sample_rate, ceiling_db, gain, reduction, iterations, False)


def _finish(
    y: np.ndarray,
    sample_rate: int,
    ceiling_db: float,
    gain_db: float,
    reduction_db: np.ndarray,
    iterations: int,
    silent: bool,
) -> Delivered:
    """Remove the mean the limiter's moving gain left, trim to the ceiling, measure: the true
    peak is the larger of the 4x meter's and the independent 8x FFT meter's."""
    y = y - y.mean(-1, keepdims=True)
    peak = max(true_peak(y), true_peak_fft_db(y))
    if np.isfinite(peak) and peak > ceiling_db - TRIM_MARGIN_DB:
        trim = ceiling_db - TRIM_MARGIN_DB - peak
        y, gain_db = y * 10 ** (trim / 20), gain_db + trim
        peak += trim
    return Delivered(
        audio=y,
        gain_db=float(gain_db),
        reduction_db=reduction_db,
        lufs=lufs(y, sample_rate),
        true_peak_db=float(peak),
        iterations=iterations,
        silent=silent,
    )
