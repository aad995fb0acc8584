"""Seeded synthetic cardiotocography (CTG): FHR in bpm and uterine pressure (UP) at 4 Hz.

Model of one recording (all times in seconds, all draws from one `numpy` Generator):
- Contractions: peaks every 2-5 minutes (uniform gap), each a Gaussian pulse of width
  sigma ~ U(12, 20) s and height ~ U(25, 60) over a resting tone ~ U(8, 20), plus small noise.
- Baseline FHR ~ U(120, 155) bpm with slow wander: Gaussian noise low-passed to periods of
  several minutes, standard deviation ~3 bpm.
- Beat-to-beat variability: AR(1) noise (coefficient 0.9 at 4 Hz) with std ~ U(1.5, 5) bpm.
- Accelerations: Poisson, about one per 8 minutes, +15..25 bpm Gaussian bumps lasting 15-40 s.
- Decelerations follow contractions with probability ~ U(0.5, 0.9), of the record's type:
  early (aligned with the contraction peak, mirror image, 10-20 bpm deep), late (same shape
  delayed 20-40 s, 10-30 bpm) or variable (sharp V of 15-40 s, 20-50 bpm, anywhere in the
  contraction).
- Dropouts: short gaps (1-10 s, about 3 per 10 minutes) and occasional long gaps (30-60 s,
  about 1 per 40 minutes) where the FHR reads 0 (as in CTU-UHB); UP has rare NaN gaps.
Since decelerations lag contractions, the UP trace carries information about the FHR's near
future, which a forecaster can learn and a persistence baseline cannot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FS = 4.0
DECEL_TYPES = ("early", "late", "variable")


def _bump(t: np.ndarray, centre: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((t - centre) / sigma) ** 2)


def _lowpassed_noise(rng: np.random.Generator, n: int, period_s: float) -> np.ndarray:
    """Unit-std Gaussian noise keeping only periods longer than `period_s`."""
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / FS)
    spec[freqs > 1.0 / period_s] = 0
    x = np.fft.irfft(spec, n)
    return x / (x.std() + 1e-12)


def synthetic_ctg(
    minutes: float, seed: int, decel_type: str | None = None, dropouts: bool = True
) -> dict[str, np.ndarray | str]:
    """One synthetic recording: {"fhr": (N,) bpm with 0 at dropouts, "up": (N,), "decel_type"}.

    N = minutes * 60 * 4. `decel_type` is drawn from early / late / variable when None.
    """
    rng = np.random.default_rng(seed)
    n = int(round(minutes * 60 * FS))
    t = np.arange(n) / FS
    kind = decel_type or DECEL_TYPES[int(rng.integers(3))]
    if kind not in DECEL_TYPES:
        raise ValueError(f"decel_type must be one of {DECEL_TYPES}, got {kind!r}")
    up = rng.uniform(8, 20) + 1.0 * rng.standard_normal(n)
    fhr = rng.uniform(120, 155) + 3.0 * _lowpassed_noise(rng, n, 300.0)
    ar = np.empty(n)
    ar[0] = 0.0
    eps = rng.standard_normal(n) * np.sqrt(1 - 0.9**2)
    for i in range(1, n):
        ar[i] = 0.9 * ar[i - 1] + eps[i]
    fhr += rng.uniform(1.5, 5.0) * ar
    p_decel = rng.uniform(0.5, 0.9)
    peak = rng.uniform(30, 150)
    while peak < t[-1] + 60:
        width = rng.uniform(12, 20)
        up += rng.uniform(25, 60) * _bump(t, peak, width)
        if rng.random() < p_decel:
            if kind == "early":
                fhr -= rng.uniform(10, 20) * _bump(t, peak, width)
            elif kind == "late":
                fhr -= rng.uniform(10, 30) * _bump(t, peak + rng.uniform(20, 40), width)
            else:
                centre = peak + rng.uniform(-width, 2 * width)
                half = rng.uniform(7.5, 20)
                fhr -= rng.uniform(20, 50) * np.clip(1 - np.abs(t - centre) / half, 0, None)
        peak += rng.uniform(120, 300)
    for centre in rng.uniform(0, t[-1], rng.poisson(minutes / 8)):
        fhr += rng.uniform(15, 25) * _bump(t, centre, rng.uniform(15, 40) / 4)
    if dropouts:
        for _ in range(rng.poisson(minutes * 0.3)):
            s = int(rng.integers(n))
            fhr[s : s + int(rng.uniform(1, 10) * FS)] = 0.0
        for _ in range(rng.poisson(minutes / 40)):
            s = int(rng.integers(n))
            fhr[s : s + int(rng.uniform(30, 60) * FS)] = 0.0
        for _ in range(rng.poisson(minutes / 30)):
            s = int(rng.integers(n))
            up[s : s + int(rng.uniform(2, 10) * FS)] = np.nan
    return {"fhr": fhr, "up": up, "decel_type": kind}


def write_wfdb_record(directory: str | Path, name: str, fhr: np.ndarray, up: np.ndarray) -> Path:
    """Write a CTU-UHB-style WFDB record (`name.hea` + `name.dat`: FHR in bpm, UC, 4 Hz, 16 bit).

    Returns the record path without suffix (what `wfdb.rdrecord` takes).
    """
    import wfdb

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    signal = np.stack([fhr, up], axis=1).astype(np.float64)
    wfdb.wrsamp(
        name,
        fs=FS,
        units=["bpm", "nd"],
        sig_name=["FHR", "UC"],
        p_signal=signal,
        fmt=["16", "16"],
        adc_gain=[100.0, 100.0],
        baseline=[0, 0],
        write_dir=str(directory),
    )
    return directory / name
