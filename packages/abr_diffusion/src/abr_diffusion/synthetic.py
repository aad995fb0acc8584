"""Seeded synthetic auditory brainstem responses (ABR) that behave like clinical recordings.

Every recording is 200 samples at 20 kHz (0 .. 9.95 ms after the click), in µV. It is the sum
of a deterministic response and residual background EEG:

Per patient (several recordings each):
    age a ~ U(18, 80) years
    hearing threshold h ~ U(0, 15) dB nHL (the level at which the response vanishes)
    latency offset d ~ N(0, 0.12) ms (head size, conduction differences)
    amplitude gain g ~ LogNormal(0, 0.15)
    EEG level e ~ U(0.015, 0.045) µV

Per recording:
    intensity I in {20, 30, ..., 90} dB nHL, rate R in {11, 21, 31, 51, 71} clicks/s
    sensation level SL = max(I - h, 0)
    wave V latency   L_V = 5.5 + 2.5 exp(-SL / 22) + 0.004 (a - 20) + 0.004 (R - 11) + d  [ms]
    I-V interval     IPL = 3.95 + 0.002 (R - 11) (it grows with rate; it does not with level)
    L_I = L_V - IPL,  L_III = L_I + 0.52 IPL
    (at 80 dB SL, 20 years, 11/s: I 1.61 ms, III 3.66 ms, V 5.56 ms, the textbook values;
    latency grows by about 2 ms as the level falls to threshold)
    amplitudes [µV], s(x, tau) = 1 - exp(-max(x, 0) / tau), age factor k_a = 1 - 0.005 (a - 20):
        A_V   = 0.45 g k_a s(SL, 25) (1 - 0.0015 (R - 11))
        A_III = 0.25 g k_a s(SL - 8, 22) (1 - 0.0015 (R - 11))
        A_I   = 0.30 g k_a s(SL - 15, 20) (1 - 0.003 (R - 11))   (wave I fades first)
    shapes: Gaussian peaks with widths 0.22 / 0.28 / 0.35 ms (I / III / V), broadened by
    1 + 0.3 exp(-SL / 20) near threshold; wave II (L_I + 1.0 ms, 0.3 A_I) and wave IV
    (L_V - 0.55 ms, 0.3 A_V) as smaller peaks; the slow negativity after V (SN10) as a
    Gaussian trough of -0.7 A_V at L_V + 1.1 ms, width 0.6 ms.

Residual EEG: white noise band-passed to 100 .. 3000 Hz (4th-order Butterworth, zero phase,
the usual ABR recording filter), scaled to a standard deviation of e * U(0.6, 1.4), plus a slow
drift 0.4 e sin(2 pi f t + phi), f ~ U(50, 150) Hz.

FMP (the F-ratio at multiple points, the recording's quality index) is what a clinical system
estimates: (var(response) + var(noise)) / var(noise) times a LogNormal(0, 0.1) estimation error,
so it tells the model how noisy the recording is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import signal as sps

from abr_diffusion.peaks import HUMAN_WAVES, peak_latencies

SAMPLE_RATE = 20_000.0
LENGTH = 200
STATIC_NAMES = ("age", "intensity", "rate", "fmp")
INTENSITIES = np.arange(20, 91, 10, dtype=np.float64)
RATES = np.array([11.0, 21.0, 31.0, 51.0, 71.0])


def time_ms(length: int = LENGTH, sample_rate: float = SAMPLE_RATE) -> np.ndarray:
    """(length,) sample times in ms after the stimulus."""
    return np.arange(length) * 1000.0 / sample_rate


@dataclass
class ABRData:
    """A set of recordings, as every reader returns them.

    signals: (N, T) float32 µV sampled at `sample_rate` Hz (sample 0 at the stimulus);
    conditions: N rows of raw per-recording values (e.g. age, intensity, rate, fmp; or level_db
    and stimulus), any columns; patient_id: (N,) str (subject); latencies: N rows of known wave
    latencies in ms, columns named by wave (synthetic data: the peaks of the noise-free
    response), else None.
    """

    signals: np.ndarray
    sample_rate: float
    conditions: pd.DataFrame
    patient_id: np.ndarray
    latencies: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.signals)

    def subset(self, index: np.ndarray) -> ABRData:
        lat = None if self.latencies is None else self.latencies.iloc[index].reset_index(drop=True)
        return ABRData(
            self.signals[index],
            self.sample_rate,
            self.conditions.iloc[index].reset_index(drop=True),
            self.patient_id[index],
            lat,
        )


def _soft(x: np.ndarray, tau: float) -> np.ndarray:
    return 1.0 - np.exp(-np.maximum(x, 0.0) / tau)


def _gauss(t: np.ndarray, centre: np.ndarray, width: np.ndarray, amp: np.ndarray) -> np.ndarray:
    """(N, T) sum-ready Gaussian peaks; centre, width, amp are (N,)."""
    return amp[:, None] * np.exp(-0.5 * ((t[None] - centre[:, None]) / width[:, None]) ** 2)


def clean_response(
    age: np.ndarray,
    intensity: np.ndarray,
    rate: np.ndarray,
    threshold: np.ndarray,
    latency_offset: np.ndarray,
    gain: np.ndarray,
    length: int = LENGTH,
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free responses (N, T) in µV and their (N, 3) wave I / III / V latencies in ms.

    All arguments are (N,) arrays in the units of the module docstring.
    """
    t = time_ms(length)
    sl = np.maximum(intensity - threshold, 0.0)
    lat_v = (
        5.5 + 2.5 * np.exp(-sl / 22.0) + 0.004 * (age - 20) + 0.004 * (rate - 11) + latency_offset
    )
    ipl = 3.95 + 0.002 * (rate - 11)
    lat_i = lat_v - ipl
    lat_iii = lat_i + 0.52 * ipl
    k_age = 1.0 - 0.005 * (age - 20)
    k_rate = 1.0 - 0.0015 * (rate - 11)
    amp_v = 0.45 * gain * k_age * _soft(sl, 25.0) * k_rate
    amp_iii = 0.25 * gain * k_age * _soft(sl - 8, 22.0) * k_rate
    amp_i = 0.30 * gain * k_age * _soft(sl - 15, 20.0) * (1.0 - 0.003 * (rate - 11))
    broad = 1.0 + 0.3 * np.exp(-sl / 20.0)
    x = (
        _gauss(t, lat_i, 0.22 * broad, amp_i)
        + _gauss(t, lat_i + 1.0, 0.22 * broad, 0.3 * amp_i)
        + _gauss(t, lat_iii, 0.28 * broad, amp_iii)
        + _gauss(t, lat_v - 0.55, 0.22 * broad, 0.3 * amp_v)
        + _gauss(t, lat_v, 0.35 * broad, amp_v)
        + _gauss(t, lat_v + 1.1, 0.6 * broad, -0.7 * amp_v)
    )
    return x, np.stack([lat_i, lat_iii, lat_v], axis=1)


def background_eeg(level: np.ndarray, rng: np.random.Generator, length: int = LENGTH) -> np.ndarray:
    """(N, T) residual EEG in µV with standard deviation ~ `level` (N,) per recording."""
    n = len(level)
    sos = sps.butter(4, [100, 3000], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    # Filter a longer stretch and keep the middle so that the edges carry no filter transient.
    white = rng.standard_normal((n, 3 * length))
    band = sps.sosfiltfilt(sos, white, axis=1)[:, length : 2 * length]
    band /= band.std(axis=1, keepdims=True)
    t = time_ms(length) / 1000.0
    f = rng.uniform(50, 150, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    drift = 0.4 * np.sin(2 * np.pi * f[:, None] * t[None] + phi[:, None])
    return level[:, None] * (band + drift)


def generate(
    n_patients: int = 400, recordings_per_patient: int = 8, seed: int = 0, length: int = LENGTH
) -> ABRData:
    """Synthetic recordings of `n_patients` patients, `recordings_per_patient` each (seeded)."""
    if n_patients < 1 or recordings_per_patient < 1:
        raise ValueError("n_patients and recordings_per_patient must be >= 1")
    rng = np.random.default_rng(seed)
    n = n_patients * recordings_per_patient
    pid = np.repeat(np.arange(n_patients), recordings_per_patient)
    age = rng.uniform(18, 80, n_patients)[pid]
    threshold = rng.uniform(0, 15, n_patients)[pid]
    offset = rng.normal(0, 0.12, n_patients)[pid]
    gain = rng.lognormal(0, 0.15, n_patients)[pid]
    eeg = rng.uniform(0.015, 0.045, n_patients)[pid]
    intensity = rng.choice(INTENSITIES, n)
    rate = rng.choice(RATES, n)
    clean, _ = clean_response(age, intensity, rate, threshold, offset, gain, length)
    # The clinical latency is the peak of the waveform; wave IV and the SN10 trough move it
    # up to ~0.1 ms from the centre of the wave's own component, so detect it on the clean signal.
    lat = peak_latencies(clean, SAMPLE_RATE, HUMAN_WAVES)
    noise_sd = eeg * rng.uniform(0.6, 1.4, n)
    noise = background_eeg(noise_sd, rng, length)
    fmp = (clean.var(axis=1) + noise.var(axis=1)) / noise.var(axis=1)
    fmp = fmp * rng.lognormal(0, 0.1, n)
    conditions = pd.DataFrame(dict(zip(STATIC_NAMES, (age, intensity, rate, fmp))))
    latencies = pd.DataFrame(lat, columns=[name for name, _, _ in HUMAN_WAVES])
    ids = np.array([f"P{p:05d}" for p in pid])
    return ABRData((clean + noise).astype(np.float32), SAMPLE_RATE, conditions, ids, latencies)
