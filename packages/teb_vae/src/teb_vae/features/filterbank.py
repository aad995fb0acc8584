"""Morlet filter banks in the Fourier domain (torch, any device).

The filters follow kymatio's definition (Andreux et al. 2020, `kymatio.scattering1d.filter_bank`)
so our scattering coefficients can be checked against it: a Morlet wavelet is a Gabor filter
minus a Gaussian times kappa (zero mean), periodised over the FFT length and normalised to unit
L1 norm in time:

    gabor(w)  = exp(-(w - xi)^2 / (2 sigma^2)),  gauss(w) = exp(-w^2 / (2 sigma^2))
    psi(w)    = gabor(w) - kappa * gauss(w),  kappa = gabor(0) / gauss(0)
    phi(w)    = exp(-w^2 / (2 sigma_phi^2)),  sigma_phi = sigma0 / T

Frequencies `w` are in cycles per sample (numpy's `fftfreq`). Centre frequencies form the
constant-Q progression xi_k = xi_max * 2^(-k/Q); the width of each filter is
sigma_k = xi_k * (1 - 2^(-1/Q)) / (1 + 2^(-1/Q)) / sqrt(2 ln(1/r)), r = sqrt(1/2), so that
adjacent filters cross at half their peak. Filters are kept while sigma_k > sigma0 / 2^J.
kymatio is not a runtime dependency (its last release fails to import with current SciPy), so
the few formulas are written here.
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


@dataclass
class FilterBank:
    """Fourier-domain filters at FFT length `n`: psi (K, n) complex-valued as float64, phi (n,).

    `xi` and `sigma` list each wavelet's centre frequency and width (cycles per sample).
    """

    psi: torch.Tensor
    phi: torch.Tensor
    xi: list[float]
    sigma: list[float]

    @classmethod
    def build(cls, n: int, params: list[tuple[float, float]], t: int) -> FilterBank:
        """Wavelets with the given (xi, sigma) at FFT length n and a low-pass of scale t."""
        if not params:
            raise ValueError("a filter bank needs at least one wavelet; raise J or n_filters")
        psi = torch.stack([morlet_f(n, xi, s) for xi, s in params])
        return cls(psi, gaussian_f(n, SIGMA0 / t), [p[0] for p in params], [p[1] for p in params])

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> FilterBank:
        return FilterBank(
            self.psi.to(device, dtype), self.phi.to(device, dtype), self.xi, self.sigma
        )
