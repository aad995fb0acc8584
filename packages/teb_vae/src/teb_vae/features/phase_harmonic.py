"""Local phase-harmonic features (Mallat, Zhang & Rochette 2020, "Phase harmonic correlations
and convolutional neural networks"), torch, batched.

For analytic wavelet coefficients z_k = x * psi_k and a pair of scales (a, b) with xi_b < xi_a,
the phase harmonic of order h = round(xi_a / xi_b) of the coarse coefficient,
[z_b]^h = |z_b| exp(i h arg z_b), oscillates near xi_a; the product
p_ab = z_a * conj([z_b]^h) therefore has a slowly varying phase that measures how the phases
of the two scales are locked, which moduli alone (the scattering transform) cannot see.

Channels (all low-passed by phi, i.e. averaged over scale T):
    0              x * phi
    1 .. K         log(eps + |z_k| * phi)
    then per pair  log(eps + |p_ab * phi|)  and  Re(p_ab * phi) / (|p_ab * phi| + eps)
The real part is divided by the modulus so that it is the cosine of the locked phase, in [-1, 1].
"""

from __future__ import annotations

import torch

from teb_vae.features.filterbank import FilterBank
from teb_vae.features.scattering import lowpass, reflect_pad

EPS = 1e-3


def phase_harmonic_pairs(n_filters: int, max_gap: int) -> list[tuple[int, int]]:
    """Pairs (a, b), a < b (b is the coarser wavelet), with b - a <= max_gap."""
    return [(a, b) for a in range(n_filters) for b in range(a + 1, min(n_filters, a + max_gap + 1))]


def phase_harmonic_features(
    x: torch.Tensor, bank: FilterBank, pairs: list[tuple[int, int]]
) -> torch.Tensor:
    """(B, N) signals -> (B, 1 + K + 2 * len(pairs), N) averaged phase-harmonic features."""
    n_fft = bank.phi.shape[-1]
    xp, left = reflect_pad(x, n_fft)
    x_hat = torch.fft.fft(xp)
    phi = bank.phi
    z = torch.fft.ifft(x_hat[:, None] * bank.psi[None])
    out = [
        torch.fft.ifft(x_hat * phi).real[:, None],
        torch.log(EPS + lowpass(z.abs(), phi).clamp(min=0)),
    ]
    if pairs:
        a = torch.tensor([p[0] for p in pairs], device=x.device)
        b = torch.tensor([p[1] for p in pairs], device=x.device)
        h = torch.tensor(
            [max(1, round(bank.xi[i] / bank.xi[j])) for i, j in pairs], device=x.device
        )
        zb = z[:, b]
        harmonic = zb.abs() * torch.exp(1j * h[None, :, None] * torch.angle(zb))
        prod = z[:, a] * harmonic.conj()
        smooth = torch.fft.ifft(torch.fft.fft(prod) * phi)
        mod = smooth.abs()
        out += [torch.log(EPS + mod), smooth.real / (mod + EPS)]
    return torch.cat(out, dim=1)[..., left : left + x.shape[-1]]
