"""The differentiable per-band IIR reference: finite differences and the FFT-grid path."""

import pytest
import torch

from neural_mastering.dsp.eq import apply_eq_fft, band_coefficients, peaking_coefficients
from neural_mastering.dsp.iir import lfilter_biquad


def test_gradients_match_finite_differences():
    torch.manual_seed(0)
    x = torch.randn(24, dtype=torch.float64, requires_grad=True)
    b, a = peaking_coefficients(torch.tensor(3000.0), torch.tensor(6.0), torch.tensor(2.0), 44100)
    b = b.double().requires_grad_(True)
    a = a.double().requires_grad_(True)
    assert torch.autograd.gradcheck(lfilter_biquad, (x, b, a))


def test_cascade_loop_equals_fft_path_with_its_gradients():
    sr = 44100
    g = torch.Generator().manual_seed(1)
    freq = torch.tensor([[80.0, 1000.0, 8000.0], [200.0, 3000.0, 12000.0]], dtype=torch.float64)
    gain = torch.tensor([[6.0, -4.0, 3.0], [-6.0, 5.0, -2.0]], dtype=torch.float64)
    q = torch.tensor([[0.7, 2.0, 0.7], [1.0, 4.0, 0.7]], dtype=torch.float64)
    x = torch.randn(2, 1, 4000, generator=g, dtype=torch.float64)
    w = torch.randn(2, 1, 4000, generator=g, dtype=torch.float64)
    grads = []
    for path in ("fft", "loop"):
        params = [p.clone().requires_grad_(True) for p in (freq, gain, q)]
        b, a = band_coefficients(*params, sr)
        if path == "fft":
            y = apply_eq_fft(x, b, a, pad=1 << 15)
        else:
            rows = []
            for i in range(x.shape[0]):
                yi = x[i, 0]
                for k in range(b.shape[1]):
                    yi = lfilter_biquad(yi, b[i, k], a[i, k])
                rows.append(yi)
            y = torch.stack(rows)[:, None]
        (y * w).sum().backward()
        grads.append((y.detach(), [p.grad for p in params]))
    (y_fft, g_fft), (y_loop, g_loop) = grads
    torch.testing.assert_close(y_loop, y_fft, rtol=0, atol=1e-9)
    for gf, gl in zip(g_fft, g_loop):
        torch.testing.assert_close(gl, gf, rtol=1e-6, atol=1e-9)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="expected x"):
        lfilter_biquad(torch.zeros(2, 8), torch.zeros(3), torch.ones(3))
