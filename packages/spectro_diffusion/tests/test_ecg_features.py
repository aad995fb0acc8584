"""Morlet scalogram, the derived arrays, and the synthetic ECG generator."""

import numpy as np
from scipy.signal import find_peaks

from spectro_diffusion.ecg.features import (
    EPS,
    amp_init_from_window,
    coarse_image,
    freq_from_image,
    morlet_cwt,
    morlet_frequencies,
    scalogram_image,
    window_arrays,
)
from spectro_diffusion.ecg.synthetic import RecordParams, ecg_leads, synthetic_records


def test_morlet_amplitude_and_peak_row_of_a_sinusoid():
    fs, n = 250.0, 1000
    freqs = morlet_frequencies(1.0, 40.0, 32)
    k = 20
    amplitude = 0.7
    x = amplitude * np.cos(2 * np.pi * freqs[k] * np.arange(n) / fs)
    coeffs = np.abs(morlet_cwt(x, fs, freqs))
    middle = coeffs[k, n // 4 : 3 * n // 4]
    assert np.allclose(middle, amplitude, rtol=0.03)
    # The strongest row of the time-averaged power is the sinusoid's frequency.
    arrays = window_arrays(x, fs, freqs, width=40, grid=8)
    assert abs(int(np.argmax(arrays["freq_embeddings"])) - k) <= 1


def test_freq_embedding_is_log_mean_power_and_a_function_of_the_image():
    rng = np.random.default_rng(0)
    fs, freqs = 250.0, morlet_frequencies(0.5, 40.0, 16)
    x = rng.standard_normal(256)
    image = scalogram_image(x, fs, freqs, width=16)
    power = np.abs(morlet_cwt(x, fs, freqs)) ** 2
    # Independent reference: log of the mean power over all samples of each row.
    expected = np.log(power.mean(axis=1) + EPS)
    assert np.allclose(freq_from_image(image), expected, atol=1e-9)
    assert np.allclose(freq_from_image(image), np.log(np.exp(image).mean(axis=1)), atol=1e-9)


def test_coarse_image_block_means_and_amp_init_normalisation():
    rng = np.random.default_rng(1)
    image = rng.standard_normal((16, 24))
    coarse = coarse_image(image, 4)
    assert coarse.shape == image.shape
    assert np.isclose(coarse.mean(), image.mean())
    assert np.allclose(coarse[:4, :6], image[:4, :6].mean())
    x = 3.0 + 2.0 * np.sin(2 * np.pi * 2 * np.arange(512) / 512)
    amp = amp_init_from_window(x, 64)
    assert amp.shape == (64,)
    reference = np.sin(2 * np.pi * 2 * np.arange(64) / 64) * np.sqrt(2)
    assert np.allclose(amp[4:-4], reference[4:-4], atol=0.01)
    assert np.allclose(amp, reference, atol=0.05)  # polyphase filter edges


def test_synthetic_ecg_heart_rate_and_leads():
    fs = 500.0
    x = ecg_leads(30.0, fs, RecordParams(heart_rate=75.0), np.random.default_rng(3))
    assert x.shape == (2, 15000)
    peaks, _ = find_peaks(x[0], height=0.6, distance=int(0.3 * fs))
    rate = 60.0 / np.mean(np.diff(peaks) / fs)
    assert abs(rate - 75.0) < 3.0
    assert 0.9 < x[0, peaks].mean() < 1.5  # R peaks near 1.2 mV
    recs = synthetic_records(3, 10.0, fs, seed=0)
    assert sorted(recs) == ["syn000", "syn001", "syn002"]
    again = synthetic_records(3, 10.0, fs, seed=0)
    assert all(np.array_equal(recs[k], again[k]) for k in recs)
