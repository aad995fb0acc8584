"""Wavelet scattering transform of orders 0, 1 and 2 (Anden & Mallat 2014), torch, batched.

    S0 x(t)          = x * phi (t)
    S1 x(t, k1)      = |x * psi_k1| * phi (t)
    S2 x(t, k1, k2)  = ||x * psi_k1| * psi_k2| * phi (t)     for the paths (k1, k2) given

Computed at full resolution in the Fourier domain after reflection padding to the filter
bank's FFT length (as kymatio does), then cut back to the signal; the caller samples the
averaged coefficients every T samples. kymatio additionally subsamples between orders, which
only adds a small aliasing error; with `oversampling >= log2 T` it computes what this does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from teb_vae.features.filterbank import FilterBank


def reflect_pad(x: torch.Tensor, n_fft: int) -> tuple[torch.Tensor, int]:
    """(B, N) -> (B, n_fft) reflection-padded (left gets the floor half) and the left pad."""
    n = x.shape[-1]
    if n_fft < n:
        raise ValueError(f"FFT length {n_fft} is shorter than the signal ({n} samples)")
    left = (n_fft - n) // 2
    right = n_fft - n - left
    if max(left, right) >= n:
        raise ValueError(f"signal of {n} samples is too short to reflect-pad to {n_fft}")
    return F.pad(x[:, None, :], (left, right), mode="reflect")[:, 0], left


def second_order_paths(xi1: list[float], xi2: list[float]) -> list[tuple[int, int]]:
    """Paths (k1, k2) whose second wavelet is centred below the first (xi2 < xi1): the
    envelope |x * psi_k1| has its energy below xi1, so the other paths are near zero."""
    return [(a, b) for a, f1 in enumerate(xi1) for b, f2 in enumerate(xi2) if f2 < f1]


def lowpass(u: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """Real signals (..., n_fft) filtered by the real, even low-pass phi (n_fft,)."""
    return torch.fft.ifft(torch.fft.fft(u) * phi).real


def scattering1d(
    x: torch.Tensor,
    bank1: FilterBank,
    bank2: FilterBank,
    paths: list[tuple[int, int]],
) -> torch.Tensor:
    """(B, N) signals -> (B, 1 + K1 + len(paths), N) averaged scattering coefficients.

    Channel order: S0, then S1 for each first-order wavelet (high to low frequency), then S2
    for each path in the order given. Units: those of x (every filter has unit L1 norm).
    """
    n_fft = bank1.phi.shape[-1]
    xp, left = reflect_pad(x, n_fft)
    x_hat = torch.fft.fft(xp)
    phi = bank1.phi
    s0 = torch.fft.ifft(x_hat * phi).real[:, None]
    u1 = torch.fft.ifft(x_hat[:, None] * bank1.psi[None]).abs()
    s1 = lowpass(u1, phi)
    out = [s0, s1]
    if paths:
        k1 = torch.tensor([p[0] for p in paths], device=x.device)
        k2 = torch.tensor([p[1] for p in paths], device=x.device)
        u1_hat = torch.fft.fft(u1)
        u2 = torch.fft.ifft(u1_hat[:, k1] * bank2.psi[k2][None]).abs()
        out.append(lowpass(u2, phi))
    return torch.cat(out, dim=1)[..., left : left + x.shape[-1]]
