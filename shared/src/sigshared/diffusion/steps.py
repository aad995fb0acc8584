"""One reverse step of DDIM and of DDPM, and the respaced step sequences they visit.

`ddim_step` is Song et al. 2021 ("Denoising Diffusion Implicit Models") Eq. 12 with sigma from
Eq. 16; `ddpm_step` is the posterior mean / variance of Ho et al. 2020 Eq. 6-7, with respacing
as in Nichol & Dhariwal 2021, Sec. 4. Paper symbols: the DDIM paper's alpha_t is our
alpha_bar_t (`schedule.alphas_cumprod[t]`); t_prev = -1 marks the clean end (alpha_bar = 1).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from sigshared.diffusion.forward import Clip, alpha_bar_at, batch_t, split_prediction
from sigshared.schedules import NoiseSchedule

SPACINGS = ("leading", "trailing", "linspace")


class StepOutput(NamedTuple):
    """Result of one reverse step: the sample at t_prev and the model's x0 estimate at t."""

    prev_sample: torch.Tensor
    pred_x0: torch.Tensor


def check_num_inference_steps(num_inference_steps: int, num_train_timesteps: int) -> None:
    """ValueError unless 1 <= num_inference_steps <= num_train_timesteps."""
    if not 1 <= num_inference_steps <= num_train_timesteps:
        raise ValueError(
            f"num_inference_steps must lie in 1..{num_train_timesteps} "
            f"(num_train_timesteps), got {num_inference_steps}"
        )


def ddim_timesteps(train_steps: int, steps: int, spacing: str = "leading") -> torch.Tensor:
    """The `steps` training indices a DDIM / respaced sampler visits, descending.

    "leading": 0, r, 2r, ... with r = train_steps // steps (Song et al.; diffusers default);
    "trailing": train_steps - 1 down in strides of train_steps / steps (Lin et al. 2024, Table 2);
    "linspace": evenly spaced from 0 to train_steps - 1.
    """
    check_num_inference_steps(steps, train_steps)
    if spacing == "leading":
        ts = torch.arange(steps, dtype=torch.float64) * (train_steps // steps)
    elif spacing == "trailing":
        ts = (
            torch.round(torch.arange(train_steps, 0, -train_steps / steps, dtype=torch.float64)) - 1
        )
        ts = ts.flip(0)
    elif spacing == "linspace":
        ts = torch.linspace(0, train_steps - 1, steps, dtype=torch.float64).round()
    else:
        raise ValueError(f"unknown spacing {spacing!r}; valid values: {', '.join(SPACINGS)}")
    return ts.round().long().flip(0)


def ddim_step(
    schedule: NoiseSchedule,
    x_t: torch.Tensor,
    t: int | torch.Tensor,
    t_prev: int | torch.Tensor,
    model_output: torch.Tensor,
    eta: float = 0.0,
    prediction_type: str = "v",
    noise: torch.Tensor | None = None,
    clip_x0: Clip = None,
) -> StepOutput:
    """One DDIM step x_t -> x_{t_prev} (Song et al. 2021, Eq. 12 with sigma from Eq. 16).

    t_prev = -1 marks the last step, where alpha_bar_prev = 1. eta = 0 is deterministic,
    eta = 1 gives the DDPM posterior variance. `noise` (shape of x_t) is required when eta > 0.
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    b = x_t.shape[0]
    t = batch_t(t, b, x_t.device)
    t_prev = batch_t(t_prev, b, x_t.device)
    # 1. x0 and eps from the model output ("predicted x0" and eps_theta in Eq. 12).
    x0, eps = split_prediction(schedule, x_t, t, model_output, prediction_type, clip_x0)
    # 2. alpha_t and alpha_{t-1} of the paper are our alpha_bar at t and t_prev.
    a_t = alpha_bar_at(schedule, t, x_t)
    a_prev = alpha_bar_at(schedule, t_prev, x_t)
    # 3. sigma_t(eta) = eta * sqrt((1 - a_prev) / (1 - a_t)) * sqrt(1 - a_t / a_prev), Eq. 16.
    sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).clamp(min=0).sqrt()
    # 4. "direction pointing to x_t": sqrt(1 - a_prev - sigma^2) * eps.
    direction = (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps
    # 5. x_{t-1} = sqrt(a_prev) * x0 + direction + sigma * z.
    prev = a_prev.sqrt() * x0 + direction
    if eta > 0 and bool((t_prev >= 0).any()):
        if noise is None:
            raise ValueError("ddim_step with eta > 0 needs `noise` of the shape of x_t")
        prev = prev + sigma * noise
    return StepOutput(prev, x0)


def ddpm_step(
    schedule: NoiseSchedule,
    x_t: torch.Tensor,
    t: int | torch.Tensor,
    model_output: torch.Tensor,
    prediction_type: str = "eps",
    noise: torch.Tensor | None = None,
    t_prev: int | torch.Tensor | None = None,
    clip_x0: Clip = None,
) -> StepOutput:
    """One ancestral step x_t -> x_{t_prev} from the posterior q(x_{t_prev} | x_t, x0).

    Mean and variance are Ho et al. Eq. 7 with beta_t replaced by 1 - alpha_bar_t / alpha_bar_prev
    so that respaced chains (t_prev < t - 1) stay exact; t_prev defaults to t - 1. No noise is
    added on the step that reaches t_prev = -1 (the clean end).
    """
    b = x_t.shape[0]
    t = batch_t(t, b, x_t.device)
    t_prev = t - 1 if t_prev is None else batch_t(t_prev, b, x_t.device)
    # 1. x0 estimate from the model output.
    x0, _ = split_prediction(schedule, x_t, t, model_output, prediction_type, clip_x0)
    a_t = alpha_bar_at(schedule, t, x_t)
    a_prev = alpha_bar_at(schedule, t_prev, x_t)
    beta_t = 1 - a_t / a_prev
    # 2. Posterior mean mu~(x_t, x0): Eq. 7 coefficients.
    coef_x0 = a_prev.sqrt() * beta_t / (1 - a_t)
    coef_xt = (1 - beta_t).sqrt() * (1 - a_prev) / (1 - a_t)
    mean = coef_x0 * x0 + coef_xt * x_t
    # 3. Posterior variance beta~_t = (1 - a_prev) / (1 - a_t) * beta_t.
    var = ((1 - a_prev) / (1 - a_t) * beta_t).clamp(min=1e-20)
    nonzero = (t_prev >= 0).to(x_t.dtype).reshape(-1, *([1] * (x_t.ndim - 1)))
    if bool(nonzero.any()):
        if noise is None:
            raise ValueError("ddpm_step needs `noise` of the shape of x_t before the last step")
        mean = mean + nonzero * var.sqrt() * noise
    return StepOutput(mean, x0)
