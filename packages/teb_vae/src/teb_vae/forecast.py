"""Placing per-step forecasts on the raw timeline.

Alignment: feature step i has seen raw samples up to (i+1)*T - 1 (T = decimation, 16) and its
forecast of H samples (480, 2 minutes at 4 Hz) covers raw samples (i+1)*T ... (i+1)*T + H - 1,
cut at the window end N. `assemble` writes forecast i into row i of a (B, S, N) array that is
NaN elsewhere; `nan_mean` averages over the steps that cover each sample (NaN where none does).
"""

from __future__ import annotations

import torch


def future_indices(steps: torch.Tensor, horizon: int, decimation: int) -> torch.Tensor:
    """(S',) step indices -> (S', H) raw sample indices (i+1)*T + k."""
    k = torch.arange(horizon, device=steps.device)
    return (steps[:, None] + 1) * decimation + k[None, :]


def future_targets(
    y: torch.Tensor,
    steps: torch.Tensor,
    horizon: int,
    decimation: int,
    valid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw signal (B, N) -> targets (B, S', H) (0 past the end) and mask (B, S', H) bool:
    inside the window and, if `valid` (B, N) is given, valid."""
    n = y.shape[-1]
    idx = future_indices(steps, horizon, decimation)
    inside = idx < n
    safe = idx.clamp(max=n - 1)
    target = y[:, safe] * inside
    mask = inside[None].expand_as(target)
    if valid is not None:
        mask = mask & valid[:, safe].bool()
    return target, mask


def assemble(forecast: torch.Tensor, length: int, decimation: int = 16) -> torch.Tensor:
    """(B, S, H) forecasts from every step -> (B, S, length), NaN outside each step's span."""
    b, s, h = forecast.shape
    idx = future_indices(torch.arange(s, device=forecast.device), h, decimation)
    out = torch.full(
        (b, s, length + h + decimation), float("nan"), dtype=forecast.dtype, device=forecast.device
    )
    out.scatter_(2, idx[None].expand(b, -1, -1), forecast)
    return out[..., :length]


def nan_mean(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Mean over `dim` ignoring NaN; NaN where every entry is NaN."""
    present = ~torch.isnan(x)
    total = torch.where(present, x, torch.zeros_like(x)).sum(dim)
    count = present.sum(dim)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, float("nan")))


def nan_sum(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Sum over `dim` ignoring NaN; NaN (not 0) where every entry is NaN."""
    present = ~torch.isnan(x)
    total = torch.where(present, x, torch.zeros_like(x)).sum(dim)
    return torch.where(present.any(dim), total, torch.full_like(total, float("nan")))


def assemble_all(
    mu: torch.Tensor, logvar: torch.Tensor, length: int, decimation: int = 16
) -> dict[str, torch.Tensor]:
    """{"mu_pr", "logvar_pr": (B, S, length); "mu_pr_means", "log_var_means": (B, length)}."""
    mu_pr = assemble(mu, length, decimation)
    logvar_pr = assemble(logvar, length, decimation)
    return {
        "mu_pr": mu_pr,
        "logvar_pr": logvar_pr,
        "mu_pr_means": nan_mean(mu_pr),
        "log_var_means": nan_mean(logvar_pr),
    }
