"""The forward process q(x_t | x0) and the conversions between eps, v and x0 predictions.

Symbols (code name -> paper):
    alpha_bar_t   `schedule.alphas_cumprod[t]`      (Ho et al. 2020: \\bar{alpha}_t)
    x_t           noised sample, x0 clean sample, eps the Gaussian noise
    v             velocity sqrt(alpha_bar) * eps - sqrt(1 - alpha_bar) * x0
                  (Salimans & Ho 2022, "Progressive distillation", Sec. 4 / App. D)

Tensors have a batch axis first and any number of data axes after it: (B, C, T) for 1-D
signals, (B, C, H, W) for images. A step t is a Python int or a (B,) long tensor.
"""

from __future__ import annotations

import torch

from sigshared.schedules import NoiseSchedule

PREDICTION_TYPES = ("eps", "v", "x0")

Clip = float | tuple[float, float] | None


def check_prediction_type(prediction_type: str) -> None:
    """ValueError listing the valid values unless `prediction_type` is one of them."""
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(
            f"unknown prediction_type {prediction_type!r}; "
            f"valid values: {', '.join(PREDICTION_TYPES)}"
        )


def batch_t(t: int | torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    """A step as a (batch,) long tensor on `device`."""
    if isinstance(t, torch.Tensor):
        t = t.to(device=device, dtype=torch.long)
        return t.expand(batch) if t.ndim == 0 else t
    return torch.full((batch,), int(t), device=device, dtype=torch.long)


def per_row(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) values reshaped to (B, 1, ..., 1) to broadcast against `like`."""
    return values.to(device=like.device, dtype=like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def alpha_bar_at(schedule: NoiseSchedule, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """alpha_bar_t per row (float32), with alpha_bar_{-1} = 1 (the clean end of the chain)."""
    ac = schedule.alphas_cumprod.to(like.device)
    vals = torch.where(t >= 0, ac[t.clamp(min=0)], torch.ones((), device=like.device))
    return vals.to(torch.float32).reshape(-1, *([1] * (like.ndim - 1)))


def _signal_noise_scales(
    schedule: NoiseSchedule, t: int | torch.Tensor, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t)) gathered at t, broadcastable against `like`."""
    t = batch_t(t, like.shape[0], like.device)
    return (
        per_row(schedule.sqrt_alphas_cumprod.to(like.device)[t], like),
        per_row(schedule.sqrt_one_minus_alphas_cumprod.to(like.device)[t], like),
    )


def q_sample(
    schedule: NoiseSchedule, x0: torch.Tensor, t: int | torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps (Ho et al. Eq. 4)."""
    a, s = _signal_noise_scales(schedule, t, x0)
    return a * x0 + s * noise


def v_target(
    schedule: NoiseSchedule, x0: torch.Tensor, t: int | torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x0 (Salimans & Ho 2022, Sec. 4)."""
    a, s = _signal_noise_scales(schedule, t, x0)
    return a * noise - s * x0


def predict_x0_from_v(
    schedule: NoiseSchedule, x_t: torch.Tensor, t: int | torch.Tensor, v: torch.Tensor
) -> torch.Tensor:
    """x0 = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v."""
    a, s = _signal_noise_scales(schedule, t, x_t)
    return a * x_t - s * v


def predict_eps_from_v(
    schedule: NoiseSchedule, x_t: torch.Tensor, t: int | torch.Tensor, v: torch.Tensor
) -> torch.Tensor:
    """eps = sqrt(1 - alpha_bar_t) x_t + sqrt(alpha_bar_t) v."""
    a, s = _signal_noise_scales(schedule, t, x_t)
    return s * x_t + a * v


def predict_x0_from_eps(
    schedule: NoiseSchedule, x_t: torch.Tensor, t: int | torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """x0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
    a, s = _signal_noise_scales(schedule, t, x_t)
    return (x_t - s * eps) / a


def predict_eps_from_x0(
    schedule: NoiseSchedule, x_t: torch.Tensor, t: int | torch.Tensor, x0: torch.Tensor
) -> torch.Tensor:
    """eps = (x_t - sqrt(alpha_bar_t) x0) / sqrt(1 - alpha_bar_t)."""
    a, s = _signal_noise_scales(schedule, t, x_t)
    return (x_t - a * x0) / s


def clip_x0_to(x0: torch.Tensor, clip_x0: Clip) -> torch.Tensor:
    """x0 clamped to [-c, c] for a number c, to [lo, hi] for a pair, unchanged for None."""
    if clip_x0 is None:
        return x0
    lo, hi = (-clip_x0, clip_x0) if isinstance(clip_x0, int | float) else clip_x0
    return x0.clamp(lo, hi)


def prediction_target(
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    t: int | torch.Tensor,
    noise: torch.Tensor,
    prediction_type: str,
) -> torch.Tensor:
    """What a model of `prediction_type` should output for x_t = q_sample(x0, t, noise)."""
    check_prediction_type(prediction_type)
    if prediction_type == "eps":
        return noise
    if prediction_type == "v":
        return v_target(schedule, x0, t, noise)
    return x0


def split_prediction(
    schedule: NoiseSchedule,
    x_t: torch.Tensor,
    t: int | torch.Tensor,
    model_output: torch.Tensor,
    prediction_type: str,
    clip_x0: Clip = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0, eps) implied by a model output of type "eps", "v" or "x0".

    With `clip_x0` the x0 estimate is clamped and eps recomputed from it, so the two stay
    consistent with x_t (as in Dhariwal & Nichol's guided-diffusion sampler).
    """
    check_prediction_type(prediction_type)
    if prediction_type == "v":
        x0 = predict_x0_from_v(schedule, x_t, t, model_output)
        eps = predict_eps_from_v(schedule, x_t, t, model_output)
    elif prediction_type == "eps":
        x0 = predict_x0_from_eps(schedule, x_t, t, model_output)
        eps = model_output
    else:
        x0 = model_output
        eps = predict_eps_from_x0(schedule, x_t, t, model_output)
    if clip_x0 is not None:
        x0 = clip_x0_to(x0, clip_x0)
        eps = predict_eps_from_x0(schedule, x_t, t, x0)
    return x0, eps
