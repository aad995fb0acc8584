"""Oversampling of one block of a signal by FFT, in float32: the ideal (periodic sinc)
interpolation and the BS.1770 FIR interpolator, from one shared spectrum; and the parabola
refinement of the oversampled grid's local maxima.

Why not scipy.signal.resample (float64) and `dsp.loudness.oversample` (a torch convolution):
the streamed true-peak envelope and meters, computed with those, took ~70 % of
`mastering-infer`'s time. Here one real FFT of a block serves both interpolators, each then
one inverse FFT:
- `ideal` is scipy.signal.resample's computation (the Nyquist bin of an even length split
  in half) in float32: the same values to float32 rounding (~1e-7 of the block's peak);
- `fir` is `dsp.loudness.oversample` (zero-stuffing, the 64-tap-per-phase Kaiser
  interpolator, its delay removed) as a product of spectra: a circular convolution, equal to
  the linear one except within the filter's length (64 input samples) of the block's edges,
  which the callers discard with their halo.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft
import torch

from neural_mastering.dsp.loudness import interpolator


def _workers() -> int:
    """Threads for the FFTs (they split the channels): torch's setting (OMP_NUM_THREADS,
    torch.set_num_threads), so one setting governs the network and the DSP."""
    return torch.get_num_threads()


def spectrum(segment: np.ndarray) -> np.ndarray:
    """Real FFT (C, n // 2 + 1) complex64 of a block (C, n)."""
    return scipy.fft.rfft(np.asarray(segment, np.float32), axis=-1, workers=_workers())


def ideal(spec: np.ndarray, n: int, factor: int) -> np.ndarray:
    """The block of length n whose spectrum is `spec`, interpolated to factor * n samples by
    zero-padding its spectrum (band-limited, periodic): (C, factor * n) float32."""
    spec = spec * np.float32(factor)
    if n % 2 == 0:  # the Nyquist bin is shared by +-fs/2: half of it to each
        spec[..., n // 2] *= 0.5
    return scipy.fft.irfft(spec, factor * n, axis=-1, workers=_workers())


@functools.lru_cache(maxsize=8)
def _fir_response(n: int, factor: int) -> np.ndarray:
    """Spectrum (factor n // 2 + 1,) of the interpolator advanced by its delay, on a circle of
    factor * n samples."""
    h = interpolator(factor)
    delay = (len(h) - 1) // 2
    taps = np.zeros(factor * n)
    taps[: len(h)] = h
    return scipy.fft.rfft(np.roll(taps, -delay)).astype(np.complex64)


def fir(spec: np.ndarray, n: int, factor: int = 4) -> np.ndarray:
    """`dsp.loudness.oversample` of the block of length n whose spectrum is `spec`, as a
    circular convolution: (C, factor * n) float32, equal to the linear one except within 64
    samples of the block's edges."""
    # The zero-stuffed block's spectrum is the block's full spectrum repeated factor times.
    full = np.concatenate([spec, np.conj(spec[..., (n - 1) // 2 : 0 : -1])], axis=-1)
    bins = factor * n // 2 + 1
    stuffed = np.tile(full, factor // 2 + 1)[..., :bins]
    return scipy.fft.irfft(
        stuffed * _fir_response(n, factor), factor * n, axis=-1, workers=_workers()
    )


def lift_maxima(a: np.ndarray) -> np.ndarray:
    """|oversampled| rows (..., N) with each local maximum lifted to the vertex of the parabola
    through it and its neighbours (a 4x grid alone reads a 20 kHz tone up to 0.56 dB low);
    the first and last values, which have one neighbour, as they are."""
    out = a.copy()
    out[..., 1:-1] = _lifted(a[..., :-2], a[..., 1:-1], a[..., 2:])
    return out


def _lifted(left: np.ndarray, centre: np.ndarray, right: np.ndarray) -> np.ndarray:
    """`centre` where it is a local maximum lifted to the vertex of the parabola through it
    and its neighbours `left` / `right`; elsewhere as it is (all the same shape)."""
    curvature = 2 * centre - left - right
    peak = (centre >= left) & (centre >= right) & (curvature > 0)
    diff = left - right
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak, centre + diff * diff / (8 * curvature), centre)


# A local maximum c with neighbours l, r in [0, c] is lifted by (l - r)^2 / (8 (2c - l - r)),
# at most (2c - l - r) / 8 <= c / 4.
LIFT_BOUND = 1.25


def lifted_max(a: np.ndarray) -> float:
    """max of `lift_maxima(a)[..., 1:-1]` for |oversampled| rows a (..., N), computed only at
    the points that can reach it (within LIFT_BOUND of the largest value)."""
    n = a.shape[-1]
    inner = a[..., 1:-1]
    top = float(inner.max(initial=0.0))
    # (flat indices: np.nonzero of a 2-d mask is ten times slower)
    found = np.flatnonzero(inner >= np.float32(top / LIFT_BOUND))
    flat = np.ascontiguousarray(a).ravel()
    at = found // (n - 2) * n + found % (n - 2) + 1
    lifted = _lifted(flat[at - 1], flat[at], flat[at + 1])
    return max(top, float(lifted.max(initial=0.0)))
