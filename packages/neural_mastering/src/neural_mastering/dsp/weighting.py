"""A-weighting of IEC 61672-1 as a frequency-domain magnitude weight.

R_A(f) = 12194^2 f^4 / ((f^2 + 20.6^2) sqrt((f^2 + 107.7^2)(f^2 + 737.9^2)) (f^2 + 12194^2)),
A(f) = 20 log10 R_A(f) + 2.00 dB (0 dB at 1 kHz).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def a_weighting_db(freq_hz: torch.Tensor) -> torch.Tensor:
    """A-weighting in dB at frequencies in Hz (any shape); -inf-free (floored at -200 dB)."""
    f2 = freq_hz.to(torch.float64) ** 2
    ra = (12194.0**2 * f2**2) / (
        (f2 + 20.6**2) * torch.sqrt((f2 + 107.7**2) * (f2 + 737.9**2)) * (f2 + 12194.0**2)
    )
    return (20 * torch.log10(ra.clamp_min(1e-10)) + 2.0).to(freq_hz.dtype)


def a_weighting(freq_hz: torch.Tensor) -> torch.Tensor:
    """Linear amplitude A-weight at frequencies in Hz."""
    return 10 ** (a_weighting_db(freq_hz) / 20)


def a_weight_fn(sample_rate: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """weight_fn for sigshared's MultiResolutionSTFTLoss: frequency / fs (0..0.5) -> weight."""

    def weight(freqs_normalised: torch.Tensor) -> torch.Tensor:
        return a_weighting(freqs_normalised * sample_rate)

    return weight
