"""BS.1770-4 loudness against closed forms and pyloudnorm; true peak; A-weighting."""

import math

import numpy as np
import pytest
import torch

from neural_mastering.dsp.loudness import (
    integrated_loudness,
    k_weighting_coefficients,
    loudness_range,
    momentary_max,
    oversample,
    refined_peak,
    short_term_max,
    true_peak_db,
)
from neural_mastering.dsp.weighting import a_weighting_db
from neural_mastering.synthetic import synth_song


def test_k_weighting_at_48k_is_the_standards_table():
    b, a = k_weighting_coefficients(48000)
    # ITU-R BS.1770-4, Tables 1 and 2.
    np.testing.assert_allclose(
        b[0], [1.53512485958697, -2.69169618940638, 1.19839281085285], atol=1e-8
    )
    np.testing.assert_allclose(a[0], [1.0, -1.69065929318241, 0.73248077421585], atol=1e-8)
    np.testing.assert_allclose(b[1], [1.0, -2.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(a[1], [1.0, -1.99004745483398, 0.99007225036621], atol=1e-8)


def test_full_scale_1khz_sine_reads_minus_3_lufs():
    sr = 48000
    t = torch.arange(5 * sr, dtype=torch.float64) / sr
    x = torch.sin(2 * math.pi * 997 * t)
    # BS.1770: a 0 dBFS 1 kHz sine in one channel reads -3.01 LKFS.
    assert float(integrated_loudness(x, sr)) == pytest.approx(-3.01, abs=0.05)


def _music(sr: int, channels: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    x = np.stack([synth_song(10 + c, 6.0, sr) for c in range(channels)])
    x[:, :sr] *= 0.01  # a quiet intro exercises the relative gate
    return x + 1e-3 * rng.standard_normal(x.shape)


@pytest.mark.parametrize("sr", [44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_loudness_matches_pyloudnorm(sr, channels):
    pyloudnorm = pytest.importorskip("pyloudnorm")
    x = _music(sr, channels)
    ours = float(integrated_loudness(torch.from_numpy(x), sr))
    ref = pyloudnorm.Meter(sr).integrated_loudness(x.T)
    assert ours == pytest.approx(ref, abs=0.1)
    # With the same filter parameterisation (B. De Man's) the gating must agree exactly.
    same_filters = pyloudnorm.Meter(sr, filter_class="DeMan").integrated_loudness(x.T)
    assert ours == pytest.approx(same_filters, abs=1e-3)


def test_batched_shapes_and_silence_without_nan():
    sr = 44100
    x = torch.zeros(3, 2, sr, requires_grad=True)
    with torch.no_grad():
        x[1] = 0.1 * torch.randn(2, sr)
    lufs = integrated_loudness(x, sr)
    assert lufs.shape == (3,)
    assert lufs[0] == -math.inf and lufs[2] == -math.inf
    assert torch.isfinite(lufs[1])
    lufs[1].backward()
    assert torch.isfinite(x.grad).all()
    assert not torch.isnan(integrated_loudness(torch.zeros(sr // 10), sr))


def test_true_peak_finds_inter_sample_peaks():
    sr = 48000
    n = torch.arange(sr, dtype=torch.float64)
    # fs/4 sine sampled 45 degrees off its crests: sample peak -3 dB, true peak 0 dB.
    x = torch.sin(2 * math.pi * n / 4 + math.pi / 4)
    assert 20 * math.log10(float(x.abs().max())) == pytest.approx(-3.01, abs=0.01)
    assert float(true_peak_db(x)) == pytest.approx(0.0, abs=0.1)
    y = 0.5 * torch.sin(2 * math.pi * 997 * n / sr)
    assert float(true_peak_db(y)) == pytest.approx(20 * math.log10(0.5), abs=0.05)


def test_measuring_iir_and_differentiable_fft_k_weighting_agree():
    x = torch.from_numpy(_music(44100, 2))
    measured = float(integrated_loudness(x, 44100))
    with_grad = integrated_loudness(x.clone().requires_grad_(True), 44100)
    assert with_grad.requires_grad  # the FFT-grid path ran
    assert measured == pytest.approx(float(with_grad.detach()), abs=1e-3)


@pytest.mark.parametrize("block, group", [(1024, 64), (64, 1), (1000, 3)])
def test_pruned_true_peak_equals_full_oversampling(block, group):
    n = torch.arange(5001, dtype=torch.float32)
    quiet_then_loud = torch.from_numpy(_music(44100, 2)[:, :30001]).float()
    signals = [
        torch.sin(2 * math.pi * n / 4 + math.pi / 4)[None],  # peaks between samples
        torch.randn(2, 3001, generator=torch.Generator().manual_seed(0)).clamp(-2, 2),
        quiet_then_loud,
    ]
    for x in signals:
        full = torch.maximum(refined_peak(oversample(x[None])[0]), x.abs().max())
        got = true_peak_db(x, block=block, group=group)
        assert float(got) == pytest.approx(20 * math.log10(float(full)), abs=1e-4)


def test_a_weighting_matches_iec_table():
    db = a_weighting_db(torch.tensor([100.0, 1000.0, 10000.0], dtype=torch.float64))
    np.testing.assert_allclose(db.numpy(), [-19.1, 0.0, -2.5], atol=0.05)


def test_true_peak_of_bright_sines_within_0p02_db():
    # A sine's true peak is its amplitude; at 15-20 kHz (44.1 kHz) the samples and a plain 4x
    # grid miss it by up to 0.56 dB. Random phases, amplitudes and lengths.
    rng = np.random.default_rng(3)
    sr = 44100
    for f in (1000.0, 9000.0, 15000.0, 17500.0, 19000.0, 20000.0):
        for _ in range(8):
            amp = rng.uniform(0.1, 1.5)
            n = np.arange(int(rng.integers(3000, 9000)))
            x = amp * np.cos(2 * np.pi * f * n / sr + rng.uniform(0, 2 * np.pi))
            # Faded in and out over 5 ms: an abrupt start is not band-limited and overshoots.
            fade = np.minimum(1.0, np.minimum(n + 1, n[::-1] + 1) / 220)
            x = x * (0.5 - 0.5 * np.cos(np.pi * fade))
            got = float(true_peak_db(torch.from_numpy(x[None]).float()))
            assert got == pytest.approx(20 * math.log10(amp), abs=0.02), f


def test_true_peak_of_a_bright_chord_matches_its_dense_analytic_maximum():
    # A sum of bright partials: the continuous maximum from the closed form evaluated on a
    # 256x grid (exact to < 1e-4 dB there) is the reference.
    rng = np.random.default_rng(4)
    sr = 44100
    freqs = np.array([6000.0, 11000.0, 14500.0, 18500.0])
    for _ in range(5):
        amps, phases = rng.uniform(0.1, 0.3, 4), rng.uniform(0, 2 * np.pi, 4)
        t = np.arange(4000) / sr
        x = (amps[:, None] * np.cos(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0)
        dense_t = np.arange(1000 * 256, 3000 * 256) / (256 * sr)
        dense = np.abs(
            (amps[:, None] * np.cos(2 * np.pi * freqs[:, None] * dense_t + phases[:, None])).sum(0)
        )
        # The middle of the signal: the edges of a finite excerpt are not band-limited.
        got = float(true_peak_db(torch.from_numpy(x[None, 1000 - 64 : 3000 + 64]).float()))
        assert got == pytest.approx(20 * math.log10(dense.max()), abs=0.02)


def _tone_steps(levels_dbfs, seconds=20.0, sr=48000):
    """EBU Tech 3342's test signals: stereo 1 kHz sine segments at the given dBFS levels."""
    t = np.arange(int(seconds * sr)) / sr
    parts = [10 ** (lv / 20) * np.sin(2 * np.pi * 1000 * t) for lv in levels_dbfs]
    mono = np.concatenate(parts)
    return torch.from_numpy(np.stack([mono, mono]))


@pytest.mark.parametrize(
    "levels, lra",
    [
        ((-20, -30), 10.0),  # EBU Tech 3342 case 1
        ((-20, -15), 5.0),  # case 2
        ((-40, -20), 20.0),  # case 3
        ((-50, -35, -20, -35, -50), 15.0),  # case 4
    ],
)
def test_loudness_range_of_ebu_3342_cases(levels, lra):
    assert loudness_range(_tone_steps(levels), 48000) == pytest.approx(lra, abs=1.0)


def test_momentary_and_short_term_maxima_of_a_tone_step():
    # BS.1770: a full-scale 1 kHz sine in one channel reads -3.01 LUFS; two channels add
    # 3.01 dB of power, so a stereo -20 dBFS sine reads -20 LUFS.
    x = _tone_steps((-40, -20), seconds=10.0)
    expected = -20 - 3.01 + 10 * math.log10(2)  # two channels
    assert momentary_max(x, 48000) == pytest.approx(expected, abs=0.05)
    assert short_term_max(x, 48000) == pytest.approx(expected, abs=0.05)
    assert momentary_max(torch.zeros(2, 1000), 48000) == -math.inf
