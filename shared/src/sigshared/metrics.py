"""Batched signal metrics. Each reduces over the last axis: (..., T) -> (...)."""

from __future__ import annotations

import torch


def _check(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per signal."""
    _check(pred, target)
    return ((pred - target) ** 2).mean(dim=-1)


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per signal."""
    _check(pred, target)
    return (pred - target).abs().mean(dim=-1)


def pearson(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Pearson correlation per signal; 0 where either signal is constant."""
    _check(pred, target)
    p = pred - pred.mean(dim=-1, keepdim=True)
    t = target - target.mean(dim=-1, keepdim=True)
    denom = (p.pow(2).sum(-1) * t.pow(2).sum(-1)).sqrt()
    return (p * t).sum(-1) / denom.clamp(min=eps)


def snr_db(reference: torch.Tensor, estimate: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """10 log10(sum reference^2 / sum (reference - estimate)^2) per signal, in dB."""
    _check(reference, estimate)
    signal = reference.pow(2).sum(-1)
    noise = (reference - estimate).pow(2).sum(-1)
    return 10 * torch.log10(signal.clamp(min=eps) / noise.clamp(min=eps))


def dtw(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact dynamic-time-warping distance with |a_i - b_j| local cost, per signal pair.

    a: (..., N), b: (..., M) with equal leading axes. D[i, j] = c[i, j] + min(D[i-1, j],
    D[i, j-1], D[i-1, j-1]); returns D[N-1, M-1], the summed cost of the best path. Computed in
    float64 along anti-diagonals (cells with equal i + j are independent), so the Python loop
    runs N + M - 1 times whatever the batch size; no library offers batched exact DTW in torch.
    """
    if a.shape[:-1] != b.shape[:-1]:
        raise ValueError(f"leading shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    lead = a.shape[:-1]
    n, m = a.shape[-1], b.shape[-1]
    x = a.reshape(-1, n).double()
    y = b.reshape(-1, m).double()
    inf = torch.tensor(float("inf"), dtype=torch.float64, device=a.device)
    rows = torch.arange(n, device=a.device)
    prev2 = torch.full((x.shape[0], n), float("inf"), dtype=torch.float64, device=a.device)
    prev1 = prev2.clone()
    for k in range(n + m - 1):
        cols = k - rows
        valid = (cols >= 0) & (cols < m)
        c = (x - y[:, cols.clamp(0, m - 1)]).abs()
        if k == 0:
            best = torch.zeros_like(c)
        else:
            # Neighbours of cell (i, k-i): (i-1, k-i) and (i, k-i-1) lie on diagonal k-1 at
            # positions i-1 and i; (i-1, k-i-1) lies on diagonal k-2 at position i-1.
            shift1 = torch.cat([prev1.new_full((x.shape[0], 1), float("inf")), prev1[:, :-1]], 1)
            shift2 = torch.cat([prev2.new_full((x.shape[0], 1), float("inf")), prev2[:, :-1]], 1)
            best = torch.minimum(torch.minimum(shift1, shift2), prev1)
        cur = torch.where(valid, c + best, inf)
        prev2, prev1 = prev1, cur
    return prev1[:, n - 1].reshape(lead).to(a.dtype if a.is_floating_point() else torch.float64)
