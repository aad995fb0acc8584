"""Random "de-mastering" chains: turn a finished track into a plausible unmastered input.

The chain, in order, with its parameters drawn from the given numpy Generator:
1. tilt: a low shelf at 250 Hz of +t dB and a high shelf at 4 kHz of -t dB, t in [-6, 6];
2. one or two peaking moves, centre log-uniform in 80 Hz .. 8 kHz, gain in [-6, 6] dB, Q in
   [0.7, 3];
3. dynamic expansion: gain (env / env_max)^(ratio - 1) from a 20 ms RMS envelope, ratio in
   [1, 1.5], floored at -20 dB (quiet passages get quieter, as before bus compression);
4. softened transients: where a fast (1 ms) envelope exceeds a slow (30 ms) one, gain
   (slow / fast)^s with s in [0, 0.6] (attacks are blunted, as before a transient shaper);
5. level drop of 3 .. 12 dB.
Every parameter is returned, so that the chain can be logged and inspected.
"""

from __future__ import annotations

import numpy as np
import torch

from neural_mastering.dsp.eq import (
    apply_eq_sos,
    high_shelf_coefficients,
    low_shelf_coefficients,
    peaking_coefficients,
)


def _envelope(x: np.ndarray, sr: int, window_s: float) -> np.ndarray:
    # Causal moving average of the power over `window_s`, by a running sum (O(T)).
    n = max(1, int(window_s * sr))
    csum = np.cumsum(np.concatenate([np.zeros(n), x**2]))
    power = (csum[n:] - csum[:-n]) / n
    return np.sqrt(np.maximum(power, 1e-12))


def tilt_coefficients(tilt_db: float, sample_rate: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(b, a) of the tilt: a low shelf at 250 Hz of +tilt_db, a high shelf at 4 kHz of -tilt_db."""
    q = torch.tensor(0.707)
    return [
        low_shelf_coefficients(torch.tensor(250.0), torch.tensor(tilt_db), q, sample_rate),
        high_shelf_coefficients(torch.tensor(4000.0), torch.tensor(-tilt_db), q, sample_rate),
    ]


def apply_coefficients(
    x: np.ndarray, coeffs: list[tuple[torch.Tensor, torch.Tensor]]
) -> np.ndarray:
    """x (C, T) or (T,) through the cascade of (b, a) sections, float64."""
    b = torch.stack([c[0] for c in coeffs]).to(torch.float64)
    a = torch.stack([c[1] for c in coeffs]).to(torch.float64)
    return apply_eq_sos(np.asarray(x, dtype=np.float64), b, a)


def demaster(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """x (C, T) or (T,) float -> (de-mastered float32 of the same shape, chain parameters)."""
    sr = sample_rate
    y = np.asarray(x, dtype=np.float64)
    tilt = float(rng.uniform(-6, 6))
    n_peaks = int(rng.integers(1, 3))
    peaks = [
        {
            "freq_hz": float(np.exp(rng.uniform(np.log(80), np.log(8000)))),
            "gain_db": float(rng.uniform(-6, 6)),
            "q": float(rng.uniform(0.7, 3.0)),
        }
        for _ in range(n_peaks)
    ]
    coeffs = tilt_coefficients(tilt, sr) + [
        peaking_coefficients(
            torch.tensor(p["freq_hz"]), torch.tensor(p["gain_db"]), torch.tensor(p["q"]), sr
        )
        for p in peaks
    ]
    y = apply_coefficients(y, coeffs)
    mono = y if y.ndim == 1 else y.mean(0)
    ratio = float(rng.uniform(1.0, 1.5))
    env = _envelope(mono, sr, 0.02)
    expand = np.maximum((env / env.max()) ** (ratio - 1), 10 ** (-20 / 20))
    soften = float(rng.uniform(0.0, 0.6))
    fast, slow = _envelope(mono, sr, 0.001), _envelope(mono, sr, 0.03)
    blunt = np.minimum(1.0, slow / fast) ** soften
    level_db = float(-rng.uniform(3, 12))
    y = y * expand * blunt * 10 ** (level_db / 20)
    params = {
        "tilt_db": tilt,
        "peaks": peaks,
        "expansion_ratio": ratio,
        "transient_softening": soften,
        "level_db": level_db,
    }
    return y.astype(np.float32), params
