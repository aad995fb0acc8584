"""ABR wave peak latencies in per-species windows.

Each wave is the largest positive peak of the lightly smoothed waveform inside its latency
window, refined to sub-sample precision by a parabola through the three samples around the
maximum. Smoothing is a cubic Savitzky-Golay filter about 0.45 ms long (9 samples at 20 kHz,
11 at 24.4 kHz), which keeps peak positions. The windows come from the config (`peaks.waves`);
`HUMAN_WAVES` are the defaults: the clinical range of each wave from high stimulus levels
(I ~1.6, III ~3.7, V ~5.6 ms) down to near threshold, where latencies grow by about 2 ms
(wave V reaches ~8 ms).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.signal import savgol_filter

# (name, start ms, end ms) of the human click ABR waves I, III and V.
HUMAN_WAVES = (("I", 1.0, 3.0), ("III", 3.0, 5.0), ("V", 5.0, 9.0))
SMOOTHING_MS = 0.45


def peak_latencies(
    signals: np.ndarray,
    sample_rate: float,
    waves: Sequence[tuple[str, float, float]] = HUMAN_WAVES,
) -> np.ndarray:
    """(N, T) waveforms (positive up) sampled at `sample_rate` Hz -> (N, W) latencies in ms,
    one column per (name, start_ms, end_ms) window of `waves`."""
    x = np.asarray(signals, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected (N, T) signals, got shape {x.shape}")
    # An odd window of about SMOOTHING_MS, at least 5 samples for a cubic fit.
    n_smooth = max(5, int(round(SMOOTHING_MS * sample_rate / 1000)) | 1)
    smooth = savgol_filter(x, n_smooth, 3, axis=1) if x.shape[1] >= n_smooth else x
    dt = 1000.0 / sample_rate
    out = np.empty((len(x), len(waves)))
    for j, (_, lo_ms, hi_ms) in enumerate(waves):
        lo = max(int(np.ceil(lo_ms / dt)), 1)
        hi = min(int(np.floor(hi_ms / dt)), x.shape[1] - 2)
        if hi < lo:
            out[:, j] = np.nan
            continue
        seg = smooth[:, lo : hi + 1]
        k = seg.argmax(axis=1) + lo
        rows = np.arange(len(x))
        a, b, c = smooth[rows, k - 1], smooth[rows, k], smooth[rows, k + 1]
        denom = a - 2 * b + c
        # Vertex of the parabola through (k-1, a), (k, b), (k+1, c); flat tops stay at k.
        offset = np.where(denom < 0, 0.5 * (a - c) / np.where(denom < 0, denom, -1.0), 0.0)
        out[:, j] = (k + np.clip(offset, -0.5, 0.5)) * dt
    return out
