"""Causal wavelet scattering of orders 0, 1 and 2 (Anden & Mallat 2014), computed at the
output rate with subsampling inside the cascade, torch, batched.

    S0 x(t)          = x * phi (t)
    S1 x(t, k1)      = |x * psi_k1| * phi (t)
    S2 x(t, k1, k2)  = ||x * psi_k1| * psi_k2| * phi (t)     for the paths (k1, k2) given

Every filter is a finite causal FIR (`teb_vae.features.filterbank.FilterBank`), so each
coefficient at sample t reads samples <= t only. As in kymatio, the cascade runs at a reduced
rate: x * psi_k1 is evaluated only every D1 samples (D1 = `rate_of(xi1, sigma1)`, the largest
power of 2 up to T whose Nyquist frequency 1/(2 D1) still holds the wavelet's band
xi1 + 3 sigma1, divided by 2^oversampling), which is exact (the subsampled output of a linear
convolution, by periodising its spectrum). The envelope |x * psi_k1| is then filtered at that
rate by wavelets and a low-pass built for it (`Cascade`), which aliases its content above
1/(2 D1), the approximation kymatio makes; `oversampling` >= log2 T computes everything at
full rate. The last low-pass is evaluated only at the output samples (every T-th) by a strided
convolution. Output samples sit on a grid ending at the last input sample, so a stream and a
batch pass over the same history compute the same values.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from teb_vae.features.filterbank import FilterBank


def second_order_paths(xi1: list[float], xi2: list[float]) -> list[tuple[int, int]]:
    """Paths (k1, k2) whose second wavelet is centred below the first (xi2 < xi1): the
    envelope |x * psi_k1| has its energy below xi1, so the other paths are near zero."""
    return [(a, b) for a, f1 in enumerate(xi1) for b, f2 in enumerate(xi2) if f2 < f1]


def rate_of(xi: float, sigma: float, stride: int, oversampling: int) -> int:
    """Subsampling factor D (a power of 2 dividing `stride`) for the envelope of a wavelet
    (xi, sigma): the largest with 1 / (2 D) >= xi + 3 sigma, divided by 2^oversampling."""
    d = 1
    while 2 * d <= stride and stride % (2 * d) == 0 and 1 / (4 * d) >= xi + 3 * sigma:
        d *= 2
    return max(1, d >> oversampling)


def fft_len(n: int, multiple: int = 1) -> int:
    """A power of 2 >= n and >= `multiple` (FFT length, divisible by any power-2 rate)."""
    return max(1 << (n - 1).bit_length(), multiple)


def decimated_ifft(spec: torch.Tensor, d: int) -> torch.Tensor:
    """Samples 0, d, 2d, ... of ifft(spec) (..., n): periodise the spectrum by d, then an
    inverse FFT of n / d points (exact)."""
    n = spec.shape[-1]
    return torch.fft.ifft(spec.reshape(*spec.shape[:-1], d, n // d).sum(-2)) / d


def lowpass_at(u: torch.Tensor, phi: torch.Tensor, steps: int, stride: int) -> torch.Tensor:
    """sum_m phi[m] u[..., e - m] at the `steps` output samples e = N - 1 - stride (steps - 1 -
    i): (B, C, N) real -> (B, C, steps). Needs N >= len(phi) + stride (steps - 1)."""
    b, c, n = u.shape
    first = n - 1 - stride * (steps - 1) - (len(phi) - 1)
    if first < 0:
        raise ValueError(f"{n} samples are too few for {steps} steps of a {len(phi)}-tap filter")
    weight = phi.flip(0).to(u.dtype)[None, None]
    out = F.conv1d(u[..., first:].reshape(b * c, 1, -1), weight, stride=stride)
    return out.reshape(b, c, steps)


def aligned(x: torch.Tensor, stride: int) -> torch.Tensor:
    """(B, N) -> (B, N'), the first sample repeated in front so that N' - 1 is a multiple of
    `stride`: the last sample (the newest output) then falls on every subsampled grid."""
    pad = (-(x.shape[-1] - 1)) % stride
    return torch.cat([x[:, :1].expand(-1, pad), x], dim=1) if pad else x


@dataclass
class Cascade:
    """Filters at one subsampled rate D: `bank` (wavelets and the low-pass of scale T / D,
    taps at rate 1 / D) built from full-rate (xi, sigma) scaled by D."""

    rate: int
    bank: FilterBank

    @classmethod
    def build(
        cls, params: list[tuple[float, float]], t: int, rate: int, delay_sigmas: float
    ) -> Cascade:
        scaled = [(xi * rate, s * rate) for xi, s in params]
        return cls(rate, FilterBank.build(scaled, max(1, t // rate), delay_sigmas))

    def to(self, device: torch.device | str) -> Cascade:
        return Cascade(self.rate, self.bank.to(device))


def scattering1d(
    x: torch.Tensor,
    bank1: FilterBank,
    second: dict[int, Cascade],
    rates: list[int],
    paths: list[tuple[int, int]],
    steps: int,
    stride: int,
) -> torch.Tensor:
    """(B, N) signals -> (B, 1 + K1 + len(paths), steps) scattering coefficients at the last
    `steps` output samples (every `stride`-th, ending at sample N - 1).

    bank1: the full-rate first-order wavelets and low-pass; rates[k1]: the rate D1 of each
    first-order envelope; second[D1]: the second-order wavelets and low-pass at that rate.
    Channel order: S0, then S1 for each first-order wavelet (high to low frequency), then S2
    for each path in the order given. Units: those of x (every filter has unit L1 norm before
    truncation). x must start with enough history (see `FeatureExtractor.history`).
    """
    x = aligned(x, stride)
    n = x.shape[-1]
    size = fft_len(n + bank1.psi.shape[-1] - 1, stride)
    x_hat = torch.fft.fft(x, n=size)
    psi_hat = torch.fft.fft(bank1.psi, n=size)
    s0 = lowpass_at(x[:, None], bank1.phi, steps, stride)
    s1: list[torch.Tensor] = [torch.empty(0)] * len(rates)
    s2: list[torch.Tensor] = [torch.empty(0)] * len(paths)
    for d in sorted(set(rates)):
        ks = [k for k, r in enumerate(rates) if r == d]
        m = (n - 1) // d + 1  # the subsampled grid ends at the last sample (N - 1 = (m - 1) d)
        u1 = decimated_ifft(x_hat[:, None] * psi_hat[ks][None], d)[..., :m].abs()
        cas = second[d]
        low = lowpass_at(u1, cas.bank.phi, steps, stride // d)
        for j, k in enumerate(ks):
            s1[k] = low[:, j]
        mine = [(i, ks.index(a), b) for i, (a, b) in enumerate(paths) if a in ks]
        if not mine:
            continue
        size2 = fft_len(m + cas.bank.psi.shape[-1] - 1)
        u1_hat = torch.fft.fft(u1, n=size2)
        psi2_hat = torch.fft.fft(cas.bank.psi, n=size2)
        rows = torch.tensor([r for _, r, _ in mine], device=x.device)
        cols = torch.tensor([c for _, _, c in mine], device=x.device)
        u2 = torch.fft.ifft(u1_hat[:, rows] * psi2_hat[cols][None])[..., :m].abs()
        low2 = lowpass_at(u2, cas.bank.phi, steps, stride // d)
        for j, (i, _, _) in enumerate(mine):
            s2[i] = low2[:, j]
    return torch.cat([s0, torch.stack(s1, 1), *([torch.stack(s2, 1)] if paths else [])], dim=1)
