"""Local phase-harmonic features (Mallat, Zhang & Rochette 2020, "Phase harmonic correlations
and convolutional neural networks"), causal, at the output rate, torch, batched.

For analytic wavelet coefficients z_k = x * psi_k and a pair of scales (a, b) with xi_b < xi_a,
the phase harmonic of order h = round(xi_a / xi_b) of the coarse coefficient,
[z_b]^h = |z_b| exp(i h arg z_b), oscillates near xi_a; the product
p_ab = z_a * conj([z_b]^h) therefore has a slowly varying phase that measures how the phases
of the two scales are locked, which moduli alone (the scattering transform) cannot see.

With causal filters (`FilterBank`) z_k at sample t is the centred coefficient of t - half_k;
z_a is delayed by half_b - half_a samples (rounded to the rate) so both factors describe the
same instant. Like the scattering (`teb_vae.features.scattering`), each channel is computed
every D samples, D = `rate_of` its finer wavelet (exact for the wavelet outputs; the final
low-pass at that rate aliases what lies above 1 / (2 D)), and low-passed only at the output
samples.

Channels (all low-passed by phi, i.e. averaged over scale T, at the output samples):
    0              x * phi
    1 .. K         log(eps + |z_k| * phi)
    then per pair  log(eps + |p_ab * phi|)  and  Re(p_ab * phi) / (|p_ab * phi| + eps)
The real part is divided by the modulus so that it is the cosine of the locked phase, in [-1, 1].
"""

from __future__ import annotations

import torch

from teb_vae.features.filterbank import FilterBank
from teb_vae.features.scattering import aligned, decimated_ifft, fft_len, lowpass_at

EPS = 1e-3


def phase_harmonic_pairs(n_filters: int, max_gap: int) -> list[tuple[int, int]]:
    """Pairs (a, b), a < b (b is the coarser wavelet), with b - a <= max_gap."""
    return [(a, b) for a in range(n_filters) for b in range(a + 1, min(n_filters, a + max_gap + 1))]


def _delayed(z: torch.Tensor, lags: torch.Tensor) -> torch.Tensor:
    """(B, P, N) -> (B, P, N): row p delayed by lags[p] >= 0 samples (the first ones repeat
    sample 0; they lie in the history that is never read)."""
    n = z.shape[-1]
    idx = (torch.arange(n, device=z.device)[None] - lags[:, None]).clamp(min=0)
    return z.gather(2, idx[None].expand(z.shape[0], -1, -1))


def phase_harmonic_features(
    x: torch.Tensor,
    bank: FilterBank,
    lowpass: dict[int, torch.Tensor],
    rates: list[int],
    pairs: list[tuple[int, int]],
    steps: int,
    stride: int,
) -> torch.Tensor:
    """(B, N) signals -> (B, 1 + K + 2 * len(pairs), steps) phase-harmonic features at the
    last `steps` output samples (every `stride`-th, ending at sample N - 1).

    bank: full-rate wavelets; rates[k]: the rate of wavelet k; lowpass[D]: the low-pass taps
    at rate 1 / D."""
    x = aligned(x, stride)
    n = x.shape[-1]
    size = fft_len(n + bank.psi.shape[-1] - 1, stride)
    x_hat = torch.fft.fft(x, n=size)
    psi_hat = torch.fft.fft(bank.psi, n=size)
    k_all = len(rates)
    mods: list[torch.Tensor] = [torch.empty(0)] * k_all
    res: list[torch.Tensor] = [torch.empty(0)] * len(pairs)
    ims: list[torch.Tensor] = [torch.empty(0)] * len(pairs)
    for d in sorted(set(rates)):
        mine = [i for i, (a, _) in enumerate(pairs) if rates[a] == d]
        ks = sorted(
            {k for k in range(k_all) if rates[k] == d} | {j for i in mine for j in pairs[i]}
        )
        m = (n - 1) // d + 1
        z = decimated_ifft(x_hat[:, None] * psi_hat[ks][None], d)[..., :m]
        chans = [z[:, [ks.index(k) for k in range(k_all) if rates[k] == d]].abs()]
        if mine:
            a = torch.tensor([ks.index(pairs[i][0]) for i in mine], device=x.device)
            b = torch.tensor([ks.index(pairs[i][1]) for i in mine], device=x.device)
            h = torch.tensor(
                [max(1, round(bank.xi[pairs[i][0]] / bank.xi[pairs[i][1]])) for i in mine],
                device=x.device,
                dtype=z.real.dtype,
            )
            lag = torch.tensor(
                [round((bank.half[pairs[i][1]] - bank.half[pairs[i][0]]) / d) for i in mine],
                device=x.device,
            )
            zb = z[:, b]
            harmonic = torch.polar(zb.abs(), h[None, :, None] * torch.angle(zb))
            prod = _delayed(z[:, a], lag) * harmonic.conj()
            chans += [prod.real, prod.imag]
        low = lowpass_at(torch.cat(chans, dim=1), lowpass[d], steps, stride // d)
        own = [k for k in range(k_all) if rates[k] == d]
        for j, k in enumerate(own):
            mods[k] = low[:, j]
        for j, i in enumerate(mine):
            res[i], ims[i] = low[:, len(own) + j], low[:, len(own) + len(mine) + j]
    out = [
        lowpass_at(x[:, None], lowpass[1], steps, stride),
        torch.log(EPS + torch.stack(mods, 1).clamp(min=0)),
    ]
    if pairs:
        re, im = torch.stack(res, 1), torch.stack(ims, 1)
        mod = torch.sqrt(re**2 + im**2)
        out += [torch.log(EPS + mod), re / (mod + EPS)]
    return torch.cat(out, dim=1)
