"""The cookbook biquads against an independent reference; the two EQ paths against each other."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from neural_mastering.dsp.eq import (
    apply_eq_fft,
    apply_eq_sos,
    band_coefficients,
    cascade_response,
    high_shelf_coefficients,
    low_shelf_coefficients,
    magnitude_db,
    peaking_coefficients,
    to_sos,
)

SR = 44100


def cookbook_reference(kind: str, f0: float, gain_db: float, q: float, fs: float):
    """Bristow-Johnson's Audio EQ Cookbook, transcribed directly in plain Python floats."""
    A = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / fs
    c, s = math.cos(w0), math.sin(w0)
    alpha = s / (2 * q)
    if kind == "peaking":
        b = [1 + alpha * A, -2 * c, 1 - alpha * A]
        a = [1 + alpha / A, -2 * c, 1 - alpha / A]
    elif kind == "low_shelf":
        r = 2 * math.sqrt(A) * alpha
        b = [
            A * ((A + 1) - (A - 1) * c + r),
            2 * A * ((A - 1) - (A + 1) * c),
            A * ((A + 1) - (A - 1) * c - r),
        ]
        a = [(A + 1) + (A - 1) * c + r, -2 * ((A - 1) + (A + 1) * c), (A + 1) + (A - 1) * c - r]
    else:
        r = 2 * math.sqrt(A) * alpha
        b = [
            A * ((A + 1) + (A - 1) * c + r),
            -2 * A * ((A - 1) + (A + 1) * c),
            A * ((A + 1) + (A - 1) * c - r),
        ]
        a = [(A + 1) - (A - 1) * c + r, 2 * ((A - 1) - (A + 1) * c), (A + 1) - (A - 1) * c - r]
    return np.array(b) / a[0], np.array(a) / a[0]


FUNCS = {
    "peaking": peaking_coefficients,
    "low_shelf": low_shelf_coefficients,
    "high_shelf": high_shelf_coefficients,
}


@pytest.mark.parametrize("kind", list(FUNCS))
@pytest.mark.parametrize("f0,gain,q", [(60.0, 6.0, 0.7), (1000.0, -9.0, 2.0), (12000.0, 3.0, 4.5)])
def test_coefficients_match_the_cookbook(kind, f0, gain, q):
    b, a = FUNCS[kind](
        torch.tensor(f0, dtype=torch.float64),
        torch.tensor(gain, dtype=torch.float64),
        torch.tensor(q, dtype=torch.float64),
        SR,
    )
    rb, ra = cookbook_reference(kind, f0, gain, q, SR)
    np.testing.assert_allclose(b.numpy(), rb, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.numpy(), ra, rtol=1e-10, atol=1e-12)
    assert float(a[0]) == 1.0


def test_peaking_gain_at_centre_and_unity_far_away():
    b, a = peaking_coefficients(
        torch.tensor([1000.0]), torch.tensor([7.5]), torch.tensor([1.4]), SR
    )
    db = magnitude_db(b.unsqueeze(0), a.unsqueeze(0), torch.tensor([1000.0, 20.0]), SR)
    assert db[0, 0] == pytest.approx(7.5, abs=1e-4)
    assert abs(float(db[0, 1])) < 0.05


def _random_bank(batch: int, bands: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    freq = 20 * 1000 ** torch.rand(batch, bands, generator=g, dtype=torch.float64)
    gain = (torch.rand(batch, bands, generator=g, dtype=torch.float64) - 0.5) * 24
    q = 0.5 + 4.5 * torch.rand(batch, bands, generator=g, dtype=torch.float64)
    return freq, gain, q


def test_fft_grid_response_matches_iir_response_within_0p1_db():
    freq, gain, q = _random_bank(4, 5)
    b, a = band_coefficients(freq, gain, q, SR)
    n = 8192
    omega = 2 * math.pi * torch.arange(n // 2 + 1, dtype=torch.float64) / n
    grid = 20 * torch.log10(cascade_response(b, a, omega).abs())
    for i in range(4):
        _, h = scipy.signal.sosfreqz(to_sos(b[i], a[i]), worN=omega.numpy())
        np.testing.assert_allclose(grid[i].numpy(), 20 * np.log10(np.abs(h)), atol=0.1)


def test_fft_path_output_matches_iir_output_away_from_the_edges():
    freq, gain, q = _random_bank(3, 5, seed=1)
    b, a = band_coefficients(freq, gain, q, SR)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 22050))
    y_fft = apply_eq_fft(torch.from_numpy(x), b, a, pad=32768).numpy()
    for i in range(3):
        y_iir = apply_eq_sos(x[i], b[i], a[i])
        core = slice(2048, -2048)
        err = np.abs(y_fft[i][:, core] - y_iir[:, core]).max()
        assert err < 1e-3 * np.abs(y_iir).max()


def test_gradient_reaches_every_band_parameter():
    freq, gain, q = (t.float().requires_grad_() for t in _random_bank(2, 5, seed=2))
    b, a = band_coefficients(freq, gain, q, SR)
    x = torch.randn(2, 1, 4096)
    y = apply_eq_fft(x, b, a, pad=4096)
    (y**2).mean().backward()
    for p in (freq, gain, q):
        assert torch.isfinite(p.grad).all()
        assert (p.grad.abs() > 0).all()


def test_shelves_are_the_outer_bands():
    freq = torch.tensor([[100.0, 1000.0, 8000.0]])
    gain = torch.tensor([[6.0, 0.0, -6.0]])
    q = torch.full((1, 3), 0.707)
    b, a = band_coefficients(freq, gain, q, SR)
    db = magnitude_db(b, a, torch.tensor([20.0, 1000.0, 20000.0]), SR)[0]
    assert db[0] == pytest.approx(6.0, abs=0.3)
    assert db[1] == pytest.approx(0.0, abs=0.3)
    assert db[2] == pytest.approx(-6.0, abs=0.3)


def test_float32_response_of_low_bands_matches_float64():
    # Near w = 0 a 20 Hz band's polynomials nearly vanish; the sin^2(w/2) form keeps float32
    # within 1e-3 dB of float64 for the same coefficients (the cos form was 0.1 dB off).
    sr = 44100
    freq = torch.tensor([[20.0, 25.0, 40.0, 60.0, 30.0]])
    gain = torch.tensor([[12.0, -12.0, 9.0, -7.0, 12.0]])
    q = torch.tensor([[5.0, 0.5, 3.0, 1.0, 0.7]])
    b, a = band_coefficients(freq, gain, q, sr)
    n = 1 << 18
    omega = 2 * math.pi * torch.arange(n // 2 + 1) / n
    single = cascade_response(b, a, omega).abs()
    double = cascade_response(b.double(), a.double(), omega.double()).abs()
    assert single.dtype == torch.float32
    err_db = 20 * torch.log10(single.double() / double)
    assert float(err_db.abs().max()) < 1e-3


def test_cascade_response_gradient_matches_finite_differences():
    g = torch.Generator().manual_seed(4)
    freq = 100 * 50 ** torch.rand(2, 3, generator=g, dtype=torch.float64)
    gain = 12 * (torch.rand(2, 3, generator=g, dtype=torch.float64) - 0.5)
    q = 0.5 + 3 * torch.rand(2, 3, generator=g, dtype=torch.float64)
    b, a = band_coefficients(freq, gain, q, SR)
    omega = torch.linspace(0, math.pi, 40, dtype=torch.float64)
    b, a = b.detach().requires_grad_(True), a.detach().requires_grad_(True)
    assert torch.autograd.gradcheck(cascade_response, (b, a, omega))
    # One cascade shared by a batch (broadcast), as the loudness meter uses it.
    a_shared = a[0].detach().requires_grad_(True)
    assert torch.autograd.gradcheck(cascade_response, (b, a_shared, omega))
