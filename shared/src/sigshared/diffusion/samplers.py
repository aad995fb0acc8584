"""DDIM and ancestral (DDPM) sampling over a respaced step sequence, with optional guidance.

`model_fn(x_t, t, cond) -> Tensor` has the shape of x_t; t arrives as a (B,) long tensor.
"""

from __future__ import annotations

from typing import Any

import torch

from sigshared.diffusion.chain import initial_sample, randn, resolve_device, run_chain, start_at
from sigshared.diffusion.conditioning import ModelFn
from sigshared.diffusion.forward import Clip, check_prediction_type
from sigshared.diffusion.steps import ddim_step, ddim_timesteps, ddpm_step
from sigshared.schedules import NoiseSchedule


@torch.no_grad()
def ddim_sample(
    model_fn: ModelFn,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    num_inference_steps: int,
    *,
    prediction_type: str,
    eta: float = 0.0,
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
    """Sample with DDIM over `num_inference_steps` respaced steps; returns x0 of `shape`
    (and the trajectory, start sample first, if asked).

    `x_T` replaces the initial Gaussian draw; with `t_start` the chain starts at that step
    (x_T must then be a sample noised to t_start, e.g. by `q_sample`).
    """
    check_prediction_type(prediction_type)
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    device = resolve_device(device, x_T, schedule.device)
    train_steps = schedule.num_timesteps
    ts = start_at(
        ddim_timesteps(train_steps, num_inference_steps, spacing), t_start, x_T, train_steps
    )
    sequence = ts.tolist()

    def update(i: int, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        t_prev = sequence[i + 1] if i + 1 < len(sequence) else -1
        noise = randn(x.shape, generator, x.device) if eta > 0 and t_prev >= 0 else None
        step = ddim_step(
            schedule, x, sequence[i], t_prev, out, eta, prediction_type, noise, clip_x0
        )
        return step.prev_sample

    return run_chain(
        model_fn=model_fn,
        timesteps=ts,
        x=initial_sample(shape, x_T, generator, device),
        update=update,
        cond=cond,
        null_cond=null_cond,
        guidance_scale=guidance_scale,
        return_trajectory=return_trajectory,
        progress=progress,
        desc="DDIM sampling",
    )


@torch.no_grad()
def ddpm_sample(
    model_fn: ModelFn,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    num_inference_steps: int | None = None,
    *,
    prediction_type: str,
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
    """Ancestral (DDPM) sampling; `num_inference_steps=None` visits every training step.

    Fewer steps respace the chain (Nichol & Dhariwal 2021, Sec. 4); the arguments are those of
    `ddim_sample` without eta, since ancestral sampling always draws the posterior variance.
    """
    check_prediction_type(prediction_type)
    device = resolve_device(device, x_T, schedule.device)
    train_steps = schedule.num_timesteps
    n = train_steps if num_inference_steps is None else num_inference_steps
    ts = start_at(ddim_timesteps(train_steps, n, spacing), t_start, x_T, train_steps)
    sequence = ts.tolist()

    def update(i: int, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        t_prev = sequence[i + 1] if i + 1 < len(sequence) else -1
        noise = randn(x.shape, generator, x.device) if t_prev >= 0 else None
        step = ddpm_step(schedule, x, sequence[i], out, prediction_type, noise, t_prev, clip_x0)
        return step.prev_sample

    return run_chain(
        model_fn=model_fn,
        timesteps=ts,
        x=initial_sample(shape, x_T, generator, device),
        update=update,
        cond=cond,
        null_cond=null_cond,
        guidance_scale=guidance_scale,
        return_trajectory=return_trajectory,
        progress=progress,
        desc="DDPM sampling",
    )
