"""Forward process, parameterisation conversions and the DDPM / DDIM samplers.

Symbols (code name -> paper):
    alpha_bar_t   `schedule.alphas_cumprod[t]`      (Ho et al. 2020: \\bar{alpha}_t)
    x_t           noised sample, x0 clean sample, eps the Gaussian noise
    v             velocity sqrt(alpha_bar) * eps - sqrt(1 - alpha_bar) * x0
                  (Salimans & Ho 2022, "Progressive distillation", Sec. 4 / App. D)
    sigma_t       DDIM noise scale (Song et al. 2021, "Denoising Diffusion Implicit Models", Eq. 16)

A sampler step is built from these public pieces, so a reader checks each line against the
papers: `split_prediction` turns any model output into (x0, eps), `ddim_step` is Song et al.
Eq. 12, `ddpm_step` is the posterior mean / variance of Ho et al. Eq. 6-7 (with respacing as in
Nichol & Dhariwal 2021, Sec. 4). Tensors have a batch axis first and any number of data axes
after it: (B, C, T) for 1-D signals, (B, C, H, W) for images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from tqdm.auto import tqdm

from sigshared.schedules import NoiseSchedule

PREDICTION_TYPES = ("eps", "v", "x0")
SPACINGS = ("leading", "trailing", "linspace")

ModelFn = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]
Clip = float | tuple[float, float] | None


class StepOutput(NamedTuple):
    """Result of one reverse step: the sample at t_prev and the model's x0 estimate at t."""

    prev_sample: torch.Tensor
    pred_x0: torch.Tensor


def _batch_t(t: int | torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    if isinstance(t, torch.Tensor):
        t = t.to(device=device, dtype=torch.long)
        return t.expand(batch) if t.ndim == 0 else t
    return torch.full((batch,), int(t), device=device, dtype=torch.long)


def _gather(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """values[t] reshaped to (B, 1, ..., 1) to broadcast against `like`."""
    out = values.to(like.device)[t].to(like.dtype)
    return out.reshape(-1, *([1] * (like.ndim - 1)))


def _alpha_bar(schedule: NoiseSchedule, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """alpha_bar_t with alpha_bar_{-1} = 1 (the clean end of the chain)."""
    ac = schedule.alphas_cumprod.to(like.device)
    vals = torch.where(t >= 0, ac[t.clamp(min=0)], torch.ones((), device=like.device))
    return vals.to(torch.float32).reshape(-1, *([1] * (like.ndim - 1)))


def _check_prediction_type(prediction_type: str) -> None:
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(
            f"unknown prediction_type {prediction_type!r}; "
            f"valid values: {', '.join(PREDICTION_TYPES)}"
        )


def _signal_noise_scales(
    schedule: NoiseSchedule, t: int | torch.Tensor, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t)) gathered at t, broadcastable against `like`."""
    t = _batch_t(t, like.shape[0], like.device)
    return (
        _gather(schedule.sqrt_alphas_cumprod, t, like),
        _gather(schedule.sqrt_one_minus_alphas_cumprod, t, like),
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


def _clip(x0: torch.Tensor, clip_x0: Clip) -> torch.Tensor:
    if clip_x0 is None:
        return x0
    lo, hi = (-clip_x0, clip_x0) if isinstance(clip_x0, int | float) else clip_x0
    return x0.clamp(lo, hi)


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
    _check_prediction_type(prediction_type)
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
        x0 = _clip(x0, clip_x0)
        eps = predict_eps_from_x0(schedule, x_t, t, x0)
    return x0, eps


def ddim_timesteps(train_steps: int, steps: int, spacing: str = "leading") -> torch.Tensor:
    """The `steps` training indices a DDIM / respaced sampler visits, descending.

    "leading": 0, r, 2r, ... with r = train_steps // steps (Song et al.; diffusers default);
    "trailing": train_steps - 1 down in strides of train_steps / steps (Lin et al. 2024, Table 2);
    "linspace": evenly spaced from 0 to train_steps - 1.
    """
    if not 1 <= steps <= train_steps:
        raise ValueError(f"steps must lie in 1..{train_steps}, got {steps}")
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
    t = _batch_t(t, b, x_t.device)
    t_prev = _batch_t(t_prev, b, x_t.device)
    # 1. x0 and eps from the model output ("predicted x0" and eps_theta in Eq. 12).
    x0, eps = split_prediction(schedule, x_t, t, model_output, prediction_type, clip_x0)
    # 2. alpha_t and alpha_{t-1} of the paper are our alpha_bar at t and t_prev.
    a_t = _alpha_bar(schedule, t, x_t)
    a_prev = _alpha_bar(schedule, t_prev, x_t)
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
    t = _batch_t(t, b, x_t.device)
    t_prev = t - 1 if t_prev is None else _batch_t(t_prev, b, x_t.device)
    # 1. x0 estimate from the model output.
    x0, _ = split_prediction(schedule, x_t, t, model_output, prediction_type, clip_x0)
    a_t = _alpha_bar(schedule, t, x_t)
    a_prev = _alpha_bar(schedule, t_prev, x_t)
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


def classifier_free_guidance(
    uncond: torch.Tensor, cond: torch.Tensor, scale: float
) -> torch.Tensor:
    """uncond + scale * (cond - uncond) (Ho & Salimans 2022, Eq. 6 with w = scale - 1)."""
    return uncond + scale * (cond - uncond)


def _cat_cond(a: Any, b: Any) -> Any:
    if isinstance(a, torch.Tensor):
        return torch.cat([a, b], dim=0)
    if isinstance(a, dict):
        return {k: _cat_cond(a[k], b[k]) for k in a}
    raise TypeError(f"conditioning must be a tensor or a dict of tensors, got {type(a).__name__}")


def _expand_cond(null: Any, like: Any) -> Any:
    if isinstance(like, torch.Tensor):
        null = torch.as_tensor(null, device=like.device, dtype=like.dtype)
        return null.expand_as(like) if null.shape != like.shape else null
    if isinstance(like, dict):
        return {k: _expand_cond(null[k], like[k]) for k in like}
    raise TypeError(
        f"conditioning must be a tensor or a dict of tensors, got {type(like).__name__}"
    )


def guided_model_output(
    model_fn: ModelFn,
    x_t: torch.Tensor,
    t: torch.Tensor,
    cond: Any = None,
    null_cond: Any = None,
    guidance_scale: float = 1.0,
) -> torch.Tensor:
    """The model output, with classifier-free guidance when guidance_scale != 1.

    Guidance runs the unconditional and the conditional branch in one batched forward pass of
    size 2B: inputs [x_t; x_t], conditions [null_cond; cond].
    """
    if cond is None or guidance_scale == 1.0:
        return model_fn(x_t, t, cond)
    if null_cond is None:
        raise ValueError("guidance_scale != 1 needs null_cond (the unconditional input)")
    both = model_fn(
        torch.cat([x_t, x_t]), torch.cat([t, t]), _cat_cond(_expand_cond(null_cond, cond), cond)
    )
    uncond, conditional = both.chunk(2, dim=0)
    return classifier_free_guidance(uncond, conditional, guidance_scale)


def _randn(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device):
    gen_device = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=gen_device).to(device)


def _sample_loop(
    step_kind: str,
    model_fn: ModelFn,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    timesteps: torch.Tensor,
    eta: float,
    prediction_type: str,
    cond: Any,
    null_cond: Any,
    guidance_scale: float,
    generator: torch.Generator | None,
    clip_x0: Clip,
    return_trajectory: bool,
    x_T: torch.Tensor | None,
    device: torch.device | str | None,
    progress: bool,
):
    _check_prediction_type(prediction_type)
    if device is None:
        device = x_T.device if x_T is not None else schedule.device
    device = torch.device(device)
    shape = tuple(shape)
    x = _randn(shape, generator, device) if x_T is None else x_T.to(device)
    if tuple(x.shape) != shape:
        raise ValueError(f"x_T has shape {tuple(x.shape)}, expected {shape}")
    steps = timesteps.tolist()
    trajectory = [x]
    for i in tqdm(range(len(steps)), disable=not progress, desc=f"{step_kind} sampling"):
        t = torch.full((shape[0],), steps[i], device=device, dtype=torch.long)
        t_prev = steps[i + 1] if i + 1 < len(steps) else -1
        out = guided_model_output(model_fn, x, t, cond, null_cond, guidance_scale)
        needs_noise = t_prev >= 0 and (step_kind == "DDPM" or eta > 0)
        noise = _randn(shape, generator, device) if needs_noise else None
        if step_kind == "DDIM":
            x = ddim_step(schedule, x, t, t_prev, out, eta, prediction_type, noise, clip_x0)[0]
        else:
            x = ddpm_step(schedule, x, t, out, prediction_type, noise, t_prev, clip_x0)[0]
        if return_trajectory:
            trajectory.append(x)
    return (x, trajectory) if return_trajectory else x


def _start_timesteps(timesteps: torch.Tensor, t_start: int | None, x_T: torch.Tensor | None):
    if t_start is None:
        return timesteps
    if x_T is None:
        raise ValueError("t_start needs x_T, the sample noised to step t_start")
    kept = timesteps[timesteps <= t_start]
    if kept.numel() == 0 or kept[0] != t_start:
        kept = torch.cat([torch.tensor([t_start]), kept])
    return kept


@torch.no_grad()
def ddim_sample(
    model_fn: ModelFn,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    steps: int = 50,
    eta: float = 0.0,
    prediction_type: str = "v",
    cond: Any = None,
    null_cond: Any = None,
    guidance_scale: float = 1.0,
    generator: torch.Generator | None = None,
    clip_x0: Clip = None,
    return_trajectory: bool = False,
    spacing: str = "leading",
    x_T: torch.Tensor | None = None,
    t_start: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
):
    """Sample with DDIM over `steps` respaced steps; returns x0 (and the trajectory if asked).

    `x_T` replaces the initial Gaussian draw; with `t_start` the chain starts at that step
    (x_T must then be a sample noised to t_start, e.g. by `q_sample`).
    """
    ts = ddim_timesteps(schedule.num_timesteps, steps, spacing)
    ts = _start_timesteps(ts, t_start, x_T)
    return _sample_loop(
        "DDIM",
        model_fn,
        schedule,
        shape,
        ts,
        eta,
        prediction_type,
        cond,
        null_cond,
        guidance_scale,
        generator,
        clip_x0,
        return_trajectory,
        x_T,
        device,
        progress,
    )


@torch.no_grad()
def ddpm_sample(
    model_fn: ModelFn,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    steps: int | None = None,
    prediction_type: str = "eps",
    cond: Any = None,
    null_cond: Any = None,
    guidance_scale: float = 1.0,
    generator: torch.Generator | None = None,
    clip_x0: Clip = None,
    return_trajectory: bool = False,
    spacing: str = "leading",
    x_T: torch.Tensor | None = None,
    t_start: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
):
    """Ancestral (DDPM) sampling; `steps=None` visits every training step.

    Fewer steps respace the chain (Nichol & Dhariwal 2021, Sec. 4); the arguments are those of
    `ddim_sample` without eta, since ancestral sampling always draws the posterior variance.
    """
    n = schedule.num_timesteps if steps is None else steps
    ts = ddim_timesteps(schedule.num_timesteps, n, spacing)
    ts = _start_timesteps(ts, t_start, x_T)
    return _sample_loop(
        "DDPM",
        model_fn,
        schedule,
        shape,
        ts,
        1.0,
        prediction_type,
        cond,
        null_cond,
        guidance_scale,
        generator,
        clip_x0,
        return_trajectory,
        x_T,
        device,
        progress,
    )
