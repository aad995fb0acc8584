"""Audio-EQ-cookbook biquads (R. Bristow-Johnson) and two ways to apply a cascade of them.

Coefficient functions take tensors of any matching shape (...,) of centre / corner frequency
in Hz, gain in dB and Q, and return (b, a), each of shape (..., 3), normalised so a[..., 0] == 1.
Everything is differentiable in the parameters.

Training path, `apply_eq_fft`: the cascade's frequency response is sampled on the FFT grid
and multiplied with the spectrum of the zero-padded signal. This is a linear convolution
with the filters' impulse response truncated to the FFT length, so with enough padding it
equals IIR filtering from a zero state; it is batched over items and bands with no Python
loop over items or samples (torchaudio's lfilter would loop over samples).

Inference path, `apply_eq_sos`: exact IIR filtering of a whole track as second-order
sections with scipy.signal.sosfilt (the reference implementation, not re-written here).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
import scipy.signal
import torch

SHELF_KINDS = ("peaking", "low_shelf", "high_shelf")


def _omega_alpha(
    freq_hz: torch.Tensor, q: torch.Tensor, sample_rate: float
) -> tuple[torch.Tensor, torch.Tensor]:
    w0 = 2 * math.pi * freq_hz / sample_rate
    return w0, torch.sin(w0) / (2 * q)


def _normalise(
    b0: torch.Tensor,
    b1: torch.Tensor,
    b2: torch.Tensor,
    a0: torch.Tensor,
    a1: torch.Tensor,
    a2: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    b = torch.stack([b0, b1, b2], dim=-1) / a0.unsqueeze(-1)
    a = torch.stack([a0, a1, a2], dim=-1) / a0.unsqueeze(-1)
    return b, a


def peaking_coefficients(
    freq_hz: torch.Tensor, gain_db: torch.Tensor, q: torch.Tensor, sample_rate: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Peaking EQ: A = 10^(G/40), w0 = 2 pi f0 / fs, alpha = sin(w0) / (2Q).

    b = [1 + alpha A, -2 cos w0, 1 - alpha A], a = [1 + alpha / A, -2 cos w0, 1 - alpha / A].
    Shapes (...,) -> (b, a) of shape (..., 3), a[..., 0] == 1.
    """
    freq_hz, gain_db, q = torch.broadcast_tensors(
        torch.as_tensor(freq_hz), torch.as_tensor(gain_db), torch.as_tensor(q)
    )
    A = 10 ** (gain_db / 40)
    w0, alpha = _omega_alpha(freq_hz, q, sample_rate)
    cos = torch.cos(w0)
    return _normalise(
        1 + alpha * A, -2 * cos, 1 - alpha * A, 1 + alpha / A, -2 * cos, 1 - alpha / A
    )


def _shelf_coefficients(
    freq_hz: torch.Tensor, gain_db: torch.Tensor, q: torch.Tensor, sample_rate: float, s: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The cookbook's two shelves in one form: s = +1 gives the low shelf, s = -1 the high one
    (the high shelf's formulas are the low shelf's with the sign of every cos w0 term and of
    b1, a1 flipped)."""
    freq_hz, gain_db, q = torch.broadcast_tensors(
        torch.as_tensor(freq_hz), torch.as_tensor(gain_db), torch.as_tensor(q)
    )
    A = 10 ** (gain_db / 40)
    w0, alpha = _omega_alpha(freq_hz, q, sample_rate)
    cos, sq = s * torch.cos(w0), 2 * torch.sqrt(A) * alpha
    return _normalise(
        A * ((A + 1) - (A - 1) * cos + sq),
        2 * s * A * ((A - 1) - (A + 1) * cos),
        A * ((A + 1) - (A - 1) * cos - sq),
        (A + 1) + (A - 1) * cos + sq,
        -2 * s * ((A - 1) + (A + 1) * cos),
        (A + 1) + (A - 1) * cos - sq,
    )


def low_shelf_coefficients(
    freq_hz: torch.Tensor, gain_db: torch.Tensor, q: torch.Tensor, sample_rate: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Low shelf of the cookbook (corner f0, shelf gain G dB, slope given as Q)."""
    return _shelf_coefficients(freq_hz, gain_db, q, sample_rate, 1)


def high_shelf_coefficients(
    freq_hz: torch.Tensor, gain_db: torch.Tensor, q: torch.Tensor, sample_rate: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """High shelf of the cookbook (corner f0, shelf gain G dB, slope given as Q)."""
    return _shelf_coefficients(freq_hz, gain_db, q, sample_rate, -1)


def band_coefficients(
    freq_hz: torch.Tensor,
    gain_db: torch.Tensor,
    q: torch.Tensor,
    sample_rate: float,
    shelves: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A bank of K bands (..., K) -> (b, a) of shape (..., K, 3).

    With `shelves`, band 0 is a low shelf and band K-1 a high shelf (the outer bands of a
    mastering EQ); the others are peaking filters. K must be >= 2 for shelves.
    """
    b, a = peaking_coefficients(freq_hz, gain_db, q, sample_rate)
    if not shelves or freq_hz.shape[-1] < 2:
        return b, a
    bl, al = low_shelf_coefficients(freq_hz[..., :1], gain_db[..., :1], q[..., :1], sample_rate)
    bh, ah = high_shelf_coefficients(freq_hz[..., -1:], gain_db[..., -1:], q[..., -1:], sample_rate)
    b = torch.cat([bl, b[..., 1:-1, :], bh], dim=-2)
    a = torch.cat([al, a[..., 1:-1, :], ah], dim=-2)
    return b, a


def _biquad_parts(
    b: torch.Tensor, a: torch.Tensor, half_sin2: torch.Tensor, sin: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and imaginary parts of biquads (..., 3) at the grid given by sin^2(w/2), sin(w).

    N(e^jw) e^jw = p1 + (p0 + p2) cos w + j (p0 - p2) sin w, and with cos w = 1 - 2 sin^2(w/2)
    the real part is (p0 + p1 + p2) - 2 (p0 + p2) sin^2(w/2): near w = 0, where a low band's
    p0 + p1 + p2 is tiny, it is not the difference of two large numbers (in float32 the cos
    form loses tenths of a dB there). The common factor e^jw cancels in N / D.
    """
    b, a = b[..., None], a[..., None]
    nr = torch.addcmul(b.sum(-2), b[..., 0, :] + b[..., 2, :], half_sin2, value=-2)
    ni = (b[..., 0, :] - b[..., 2, :]) * sin
    dr = torch.addcmul(a.sum(-2), a[..., 0, :] + a[..., 2, :], half_sin2, value=-2)
    di = (a[..., 0, :] - a[..., 2, :]) * sin
    inv = 1 / torch.addcmul(dr * dr, di, di)
    # N / D = N conj(D) / |D|^2
    return torch.addcmul(nr * dr, ni, di) * inv, torch.addcmul(ni * dr, nr, di, value=-1) * inv


def _grid(omega: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    omega = omega.to(dtype)
    return torch.sin(omega / 2) ** 2, torch.sin(omega)


def _sum_to(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum a broadcast gradient back to the shape of the input it belongs to."""
    while grad.dim() > len(shape):
        grad = grad.sum(0)
    for d, n in enumerate(shape):
        if n == 1 and grad.shape[d] != 1:
            grad = grad.sum(d, keepdim=True)
    return grad


class _CascadeResponse(torch.autograd.Function):
    """H = prod_k N_k / D_k on the grid, with a hand-written backward.

    Autograd through the forward's dozens of (..., F) operations per band costs several times
    the forward; the closed form needs a few. For a real loss with gradient g = dL/dH (torch's
    convention for complex tensors), dL/dtheta = Re(conj(g) dH/dtheta), and
    dH/db_ki = (H / N_k) e^{-j i w}, dH/da_ki = -(H / D_k) e^{-j i w}. With N' = N e^{jw} (the
    form `_biquad_parts` evaluates) and Q = conj(g) H / N': dL/db_ki = Re(Q e^{j (1 - i) w})
    summed over the grid, i.e. [sum(Qr cos - Qi sin), sum(Qr), sum(Qr cos + Qi sin)].
    """

    @staticmethod
    def forward(ctx, b, a, half_sin2, sin):
        hr, hi = _biquad_parts(b[..., 0, :], a[..., 0, :], half_sin2, sin)
        for k in range(1, b.shape[-2]):
            rr, ri = _biquad_parts(b[..., k, :], a[..., k, :], half_sin2, sin)
            hr, hi = torch.addcmul(hr * rr, hi, ri, value=-1), torch.addcmul(hr * ri, hi, rr)
        h = torch.complex(hr, hi)
        ctx.save_for_backward(b, a, half_sin2, sin, h)
        return h

    @staticmethod
    def backward(ctx, grad):
        b, a, half_sin2, sin, h = ctx.saved_tensors
        p = grad.conj() * h
        pr, pi = p.real, p.imag
        cos = 1 - 2 * half_sin2

        def coefficient_grads(poly: torch.Tensor) -> torch.Tensor:
            rows = []
            for k in range(poly.shape[-2]):
                q = poly[..., k, :, None]
                re = torch.addcmul(q.sum(-2), q[..., 0, :] + q[..., 2, :], half_sin2, value=-2)
                im = (q[..., 0, :] - q[..., 2, :]) * sin
                inv = 1 / torch.addcmul(re * re, im, im)
                qr = torch.addcmul(pr * re, pi, im) * inv
                qi = torch.addcmul(pi * re, pr, im, value=-1) * inv
                qc, qs = (qr * cos).sum(-1), (qi * sin).sum(-1)
                rows.append(torch.stack([qc - qs, qr.sum(-1), qc + qs], dim=-1))
            return torch.stack(rows, dim=-2)

        gb = _sum_to(coefficient_grads(b), b.shape) if ctx.needs_input_grad[0] else None
        ga = _sum_to(-coefficient_grads(a), a.shape) if ctx.needs_input_grad[1] else None
        return gb, ga, None, None


def cascade_response(b: torch.Tensor, a: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    """Response of a cascade of K biquads (..., K, 3) at w (F,): product over bands, (..., F).

    The product is accumulated band by band in real arithmetic, so no (..., K, F) tensor is
    formed, and the gradient to b and a is computed in closed form (see `_CascadeResponse`).
    """
    return _CascadeResponse.apply(b, a.to(b.dtype), *_grid(omega, b.dtype))


def magnitude_db(
    b: torch.Tensor, a: torch.Tensor, freqs_hz: torch.Tensor, sample_rate: float
) -> torch.Tensor:
    """Cascade magnitude in dB at frequencies in Hz: (..., K, 3) x (F,) -> (..., F)."""
    omega = 2 * math.pi * freqs_hz.to(torch.float64) / sample_rate
    h = cascade_response(b.to(torch.float64), a.to(torch.float64), omega)
    return 20 * torch.log10(h.abs().clamp_min(1e-12))


def apply_eq_fft(
    x: torch.Tensor, b: torch.Tensor, a: torch.Tensor, pad: int = 16384
) -> torch.Tensor:
    """Filter x (B, C, T) by each item's cascade (B, K, 3) via the FFT grid; returns (B, C, T).

    At least `pad` zeros are appended before the FFT so that the filters' decaying tails
    (up to `pad` samples) do not wrap around onto the start; every channel gets the same EQ.
    """
    # A 5-smooth FFT length: a prime factor in n would make the FFT many times slower.
    n = scipy.fft.next_fast_len(x.shape[-1] + pad, real=True)
    spec = torch.fft.rfft(x, n=n)
    omega = 2 * math.pi * torch.arange(n // 2 + 1, device=x.device, dtype=x.dtype) / n
    h = cascade_response(b, a, omega)  # (B, F)
    return torch.fft.irfft(spec * h.unsqueeze(1).to(spec.dtype), n=n)[..., : x.shape[-1]]


def to_sos(b: torch.Tensor | np.ndarray, a: torch.Tensor | np.ndarray) -> np.ndarray:
    """One cascade (K, 3) + (K, 3) -> scipy second-order sections (K, 6), float64."""
    b = np.asarray(torch.as_tensor(b).detach().cpu(), dtype=np.float64)
    a = np.asarray(torch.as_tensor(a).detach().cpu(), dtype=np.float64)
    return np.concatenate([b, a], axis=-1)


def apply_eq_sos(x: np.ndarray, b: torch.Tensor, a: torch.Tensor) -> np.ndarray:
    """Exact IIR filtering of a whole track x (C, T) (or (T,)) by one cascade (K, 3).

    Runs scipy.signal.sosfilt in float64 along the last axis; returns float64 of x's shape.
    """
    return scipy.signal.sosfilt(to_sos(b, a), np.asarray(x, dtype=np.float64), axis=-1)
