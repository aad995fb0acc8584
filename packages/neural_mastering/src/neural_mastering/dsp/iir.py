"""Differentiable time-domain IIR filtering, one signal and one biquad at a time.

The design document applies its EQ with torchaudio's lfilter, per item and per band; torchaudio
has no build for this project's torch, so this is that approach with scipy's compiled
recursion: `lfilter_biquad` filters a 1-D signal by one biquad and back-propagates to the
signal and to all six coefficients. It is the reference the batched FFT-grid path
(`dsp.eq.apply_eq_fft`) is timed against in `benchmarks/bench_mastering.py`, and is checked
against finite differences and against that path in the tests.

Gradients, for y = lfilter(b, a, x) from a zero state and g = dL/dy: with
u = reverse(lfilter([1], a, reverse(g))) (the adjoint of 1 / A, an anti-causal filter),
dL/db_i = sum_n u[n] x[n - i], dL/da_i = -sum_n u[n] y[n - i] and
dL/dx[n] = sum_i b_i u[n + i] (the adjoint of the FIR part B).
"""

from __future__ import annotations

import numpy as np
import scipy.signal
import torch


def _lagged_dots(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """[sum_n u[n] v[n - i] for i = 0, 1, 2]."""
    return np.array([u @ v, u[1:] @ v[:-1], u[2:] @ v[:-2]])


class _LFilterBiquad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        xn, bn, an = (t.detach().cpu().numpy() for t in (x, b, a))
        y = scipy.signal.lfilter(bn, an, xn)
        ctx.save_for_backward(x, b, a)
        ctx.y = y
        return torch.from_numpy(y).to(x.device)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, b, a = ctx.saved_tensors
        xn, bn, an = (t.detach().cpu().numpy() for t in (x, b, a))
        u = scipy.signal.lfilter([1.0], an, grad.detach().cpu().numpy()[::-1])[::-1]
        dx = bn[0] * u
        dx[:-1] += bn[1] * u[1:]
        dx[:-2] += bn[2] * u[2:]
        db, da = _lagged_dots(u, xn), -_lagged_dots(u, ctx.y)
        as_t = lambda v, like: torch.from_numpy(np.ascontiguousarray(v)).to(like)  # noqa: E731
        return as_t(dx, x), as_t(db, b), as_t(da, a)


def lfilter_biquad(x: torch.Tensor, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """x (T,) filtered by one biquad b, a (3,) from a zero state; differentiable in all three."""
    if x.dim() != 1 or b.shape != (3,) or a.shape != (3,):
        raise ValueError(
            f"expected x (T,), b (3,), a (3,); got {tuple(x.shape)}, {tuple(b.shape)}, "
            f"{tuple(a.shape)}"
        )
    return _LFilterBiquad.apply(x, b, a)
