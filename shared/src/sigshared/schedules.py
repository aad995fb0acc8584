"""Beta schedules and the `NoiseSchedule` tensor bundle of a discrete diffusion process.

Notation follows Ho et al. (2020): beta_t is the variance added at step t,
alpha_t = 1 - beta_t, alpha_bar_t = prod_{s<=t} alpha_s. Steps are indexed 0..T-1.
Schedules are computed in float64 and stored in float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

SCHEDULE_NAMES = ("cosine", "linear")


def linear_beta_schedule(
    timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02
) -> torch.Tensor:
    """Betas spaced linearly from `beta_start` to `beta_end` (Ho et al. 2020).

    Computed in float64, returned as float32 of shape (timesteps,).
    """
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    if not 0.0 < beta_start <= beta_end < 1.0:
        raise ValueError(
            f"need 0 < beta_start <= beta_end < 1, got beta_start={beta_start}, beta_end={beta_end}"
        )
    return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64).float()


def cosine_beta_schedule(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Cosine schedule of Nichol & Dhariwal (2021), Eq. 17, shape (timesteps,).

    alpha_bar(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2) and
    beta_t = min(1 - alpha_bar(t + 1) / alpha_bar(t), max_beta); the clipping keeps the last
    steps from a singular beta of 1.
    """
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    if not 0.0 < max_beta < 1.0:
        raise ValueError(f"max_beta must lie in (0, 1), got {max_beta}")
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    alpha_bar = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    return betas.clamp(max=max_beta).float()


@dataclass
class NoiseSchedule:
    """All per-step quantities of a schedule as (T,) float32 tensors on one device."""

    betas: torch.Tensor
    alphas: torch.Tensor
    alphas_cumprod: torch.Tensor
    alphas_cumprod_prev: torch.Tensor
    sqrt_alphas_cumprod: torch.Tensor
    sqrt_one_minus_alphas_cumprod: torch.Tensor
    posterior_variance: torch.Tensor

    @classmethod
    def from_betas(cls, betas: torch.Tensor) -> NoiseSchedule:
        """Derive every quantity from betas (computed in float64, stored float32)."""
        b = betas.detach().to(torch.float64).cpu()
        if b.ndim != 1 or b.numel() == 0:
            raise ValueError(f"betas must be a non-empty 1-D tensor, got shape {tuple(b.shape)}")
        if not bool(((b > 0) & (b < 1)).all()):
            raise ValueError("every beta must lie in (0, 1)")
        alphas = 1.0 - b
        ac = torch.cumprod(alphas, dim=0)
        ac_prev = torch.cat([torch.ones(1, dtype=torch.float64), ac[:-1]])
        # Posterior q(x_{t-1} | x_t, x_0) variance, Ho et al. Eq. 7 ("beta tilde").
        post_var = b * (1.0 - ac_prev) / (1.0 - ac)
        return cls(
            betas=b.float(),
            alphas=alphas.float(),
            alphas_cumprod=ac.float(),
            alphas_cumprod_prev=ac_prev.float(),
            sqrt_alphas_cumprod=ac.sqrt().float(),
            sqrt_one_minus_alphas_cumprod=(1.0 - ac).sqrt().float(),
            posterior_variance=post_var.float(),
        )

    @classmethod
    def from_name(cls, name: str, timesteps: int, **kwargs: float) -> NoiseSchedule:
        """Build the "cosine" or "linear" schedule; kwargs go to the beta function."""
        if name == "cosine":
            return cls.from_betas(cosine_beta_schedule(timesteps, **kwargs))
        if name == "linear":
            return cls.from_betas(linear_beta_schedule(timesteps, **kwargs))
        raise ValueError(f"unknown schedule {name!r}; valid names: {', '.join(SCHEDULE_NAMES)}")

    @property
    def num_timesteps(self) -> int:
        return int(self.betas.shape[0])

    @property
    def device(self) -> torch.device:
        return self.betas.device

    def to(self, device: torch.device | str) -> NoiseSchedule:
        """A copy with every tensor on `device`."""
        return NoiseSchedule(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})
