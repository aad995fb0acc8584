"""Morlet filter banks: defined in the Fourier domain, used as causal time-domain taps (torch).

The filters follow kymatio's definition (Andreux et al. 2020, `kymatio.scattering1d.filter_bank`)
so our filters can be checked against it: a Morlet wavelet is a Gabor filter
minus a Gaussian times kappa (zero mean), periodised over the FFT length and normalised to unit
L1 norm in time:

    gabor(w)  = exp(-(w - xi)^2 / (2 sigma^2)),  gauss(w) = exp(-w^2 / (2 sigma^2))
    psi(w)    = gabor(w) - kappa * gauss(w),  kappa = gabor(0) / gauss(0)
    phi(w)    = exp(-w^2 / (2 sigma_phi^2)),  sigma_phi = sigma0 / T

Frequencies `w` are in cycles per sample (numpy's `fftfreq`). Centre frequencies form the
constant-Q progression xi_k = xi_max * 2^(-k/Q); the width of each filter is
sigma_k = xi_k * (1 - 2^(-1/Q)) / (1 + 2^(-1/Q)) / sqrt(2 ln(1/r)), r = sqrt(1/2), so that
adjacent filters cross at half their peak. Filters are kept while sigma_k > sigma0 / 2^J.
The filters are then truncated at `delay_sigmas` time sigmas and shifted to be causal
(`causal_taps`). kymatio is not a runtime dependency (its last release fails to import with
current SciPy), so the few formulas are written here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SIGMA0 = 0.1
R_PSI = math.sqrt(0.5)
PERIODS = 5


def xi_max_for(q: int) -> float:
    """The highest centre frequency used for quality factor `q` (cycles per sample)."""
    return max(1.0 / (1.0 + 2.0 ** (3.0 / q)), 0.35)


def sigma_for(xi: float, q: int) -> float:
    """Frequency width of a Morlet filter at centre `xi` with quality factor `q`."""
    factor = 2.0 ** (-1.0 / q)
    return xi * (1 - factor) / (1 + factor) / math.sqrt(2 * math.log(1.0 / R_PSI))


def _periodised_gaussian(n: int, centre: float, sigma: float) -> torch.Tensor:
    """sum_p exp(-(w + p - centre)^2 / (2 sigma^2)) on the n FFT frequencies, float64."""
    w = torch.fft.fftfreq(n, dtype=torch.float64)
    shifts = torch.arange(-PERIODS, PERIODS + 1, dtype=torch.float64)
    grid = w[None, :] + shifts[:, None] - centre
    return torch.exp(-(grid**2) / (2 * sigma**2)).sum(dim=0)


def _unit_l1(h_f: torch.Tensor) -> torch.Tensor:
    return h_f / torch.fft.ifft(h_f).abs().sum()


def morlet_f(n: int, xi: float, sigma: float) -> torch.Tensor:
    """(n,) float64 Fourier transform of a zero-mean Morlet wavelet, unit L1 norm in time."""
    gabor = _periodised_gaussian(n, xi, sigma)
    low = _periodised_gaussian(n, 0.0, sigma)
    return _unit_l1(gabor - (gabor[0] / low[0]) * low)


def gaussian_f(n: int, sigma: float) -> torch.Tensor:
    """(n,) float64 Fourier transform of a Gaussian low-pass filter, unit L1 norm in time."""
    return _unit_l1(_periodised_gaussian(n, 0.0, sigma))


def constant_q_params(j: int, q: int) -> list[tuple[float, float]]:
    """(xi, sigma) of the constant-Q wavelets with sigma > sigma0 / 2^j, `q` per octave."""
    sigma_min = SIGMA0 / 2.0**j
    params = []
    for xi_k, sigma_k in _progression(q):
        if sigma_k <= sigma_min:
            break
        params.append((xi_k, sigma_k))
    return params


def first_n_params(n: int, q: int) -> list[tuple[float, float]]:
    """(xi, sigma) of the first `n` wavelets of the constant-Q progression."""
    gen = _progression(q)
    return [next(gen) for _ in range(n)]


def _progression(q: int):
    k = 0
    while True:
        xi_k = xi_max_for(q) * 2.0 ** (-k / q)
        yield xi_k, sigma_for(xi_k, q)
        k += 1


def time_sigma(sigma_f: float) -> float:
    """Time-domain standard deviation (samples) of a Gaussian of frequency width sigma_f."""
    return 1.0 / (2 * math.pi * sigma_f)


def half_width(sigma_f: float, delay_sigmas: float) -> int:
    """Taps kept on each side of a filter's centre: ceil(delay_sigmas * its time sigma)."""
    return math.ceil(delay_sigmas * time_sigma(sigma_f))


def causal_taps(h_f: torch.Tensor, half: int) -> torch.Tensor:
    """Fourier filter (n,) -> (2 half + 1,) causal taps: tap m is the centred time-domain
    filter at m - half, so filtering with them returns at sample t the centred coefficient of
    sample t - half, from samples <= t only. n must be well above 2 half + 1."""
    n = h_f.shape[-1]
    return torch.fft.ifft(h_f)[torch.arange(-half, half + 1) % n]


def lowpass_taps(t: float, delay_sigmas: float) -> torch.Tensor:
    """Causal taps (float64) of the Gaussian low-pass of scale t (sigma0 / t), unit L1."""
    sigma = SIGMA0 / t
    half = half_width(sigma, delay_sigmas)
    n = 2 ** math.ceil(math.log2(8 * (2 * half + 1)))
    return causal_taps(gaussian_f(n, sigma), half).real


@dataclass
class FilterBank:
    """Causal, finite (truncated) time-domain filters, float64 / complex128.

    psi (K, L) complex: wavelet k has 2 half[k] + 1 taps (zero beyond, L = the longest), see
    `causal_taps`; phi (L_phi,) real: the low-pass of scale t, half-width `phi_half`. `xi`,
    `sigma`: each wavelet's centre frequency and width (cycles per sample). Truncating at
    `delay_sigmas` time sigmas drops under 0.3 % of a Gaussian's mass at 3 sigmas and is what
    makes every coefficient exactly causal: a cascade of these filters at sample t reads
    samples <= t only, so a stream and a batch pass compute the same values.
    """

    psi: torch.Tensor
    phi: torch.Tensor
    xi: list[float]
    sigma: list[float]
    half: list[int]
    phi_half: int

    @classmethod
    def build(
        cls, params: list[tuple[float, float]], t: int, delay_sigmas: float = 3.0
    ) -> FilterBank:
        """Wavelets with the given (xi, sigma) and a low-pass of scale t, kymatio's
        definitions (built in the Fourier domain on a period 8x the longest filter, so the
        periodisation does not reach the kept taps), truncated and made causal."""
        if not params:
            raise ValueError("a filter bank needs at least one wavelet; raise J or n_filters")
        sigma_phi = SIGMA0 / t
        halves = [half_width(s, delay_sigmas) for _, s in params]
        phi_half = half_width(sigma_phi, delay_sigmas)
        n = 2 ** math.ceil(math.log2(8 * (2 * max(*halves, phi_half) + 1)))
        psi = torch.zeros(len(params), 2 * max(halves) + 1, dtype=torch.complex128)
        for k, ((xi, s), h) in enumerate(zip(params, halves)):
            psi[k, : 2 * h + 1] = causal_taps(morlet_f(n, xi, s), h)
        phi = causal_taps(gaussian_f(n, sigma_phi), phi_half).real
        return cls(psi, phi, [p[0] for p in params], [p[1] for p in params], halves, phi_half)

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> FilterBank:
        cdtype = torch.complex64 if dtype == torch.float32 else torch.complex128
        return FilterBank(
            self.psi.to(device, cdtype),
            self.phi.to(device, dtype),
            self.xi,
            self.sigma,
            self.half,
            self.phi_half,
        )
