"""The reverse-chain loop every sampler shares: start sample, step sequence, guidance, updates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from tqdm.auto import tqdm

from sigshared.diffusion.conditioning import ModelFn, guided_model_output

# update(i, x, model_output) -> the sample after step i of the sequence.
Update = Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor]


def randn(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """Standard normal draw made on the generator's device (reproducible), moved to `device`."""
    gen_device = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=gen_device).to(device)


def resolve_device(
    device: torch.device | str | None, x_T: torch.Tensor | None, fallback: torch.device
) -> torch.device:
    """The explicit device, else x_T's, else `fallback` (the schedule's)."""
    if device is not None:
        return torch.device(device)
    return x_T.device if x_T is not None else fallback


def initial_sample(
    shape: tuple[int, ...],
    x_T: torch.Tensor | None,
    generator: torch.Generator | None,
    device: torch.device,
) -> torch.Tensor:
    """x_T on `device`, or a Gaussian draw of `shape` when x_T is None."""
    shape = tuple(shape)
    x = randn(shape, generator, device) if x_T is None else x_T.to(device)
    if tuple(x.shape) != shape:
        raise ValueError(f"x_T has shape {tuple(x.shape)}, expected {shape}")
    return x


def start_at(
    timesteps: torch.Tensor,
    t_start: int | None,
    x_T: torch.Tensor | None,
    num_train_timesteps: int,
) -> torch.Tensor:
    """The descending `timesteps` cut to start at t_start (x_T then is x0 noised to t_start)."""
    if t_start is None:
        return timesteps
    if x_T is None:
        raise ValueError("t_start needs x_T, the sample noised to step t_start")
    if not 0 <= t_start < num_train_timesteps:
        raise ValueError(f"t_start must lie in 0..{num_train_timesteps - 1}, got {t_start}")
    kept = timesteps[timesteps <= t_start]
    if kept.numel() == 0 or kept[0] != t_start:
        kept = torch.cat([torch.tensor([t_start]), kept])
    return kept


def run_chain(
    *,
    model_fn: ModelFn,
    timesteps: torch.Tensor,
    x: torch.Tensor,
    update: Update,
    cond: Any,
    null_cond: Any,
    guidance_scale: float,
    return_trajectory: bool,
    progress: bool,
    desc: str,
):
    """x after `update` at every step of `timesteps` (descending); with the trajectory if asked.

    The trajectory lists the start sample and the sample after each step.
    """
    trajectory = [x]
    steps = timesteps.tolist()
    for i in tqdm(range(len(steps)), disable=not progress, desc=desc):
        t = torch.full((x.shape[0],), steps[i], device=x.device, dtype=torch.long)
        out = guided_model_output(model_fn, x, t, cond, null_cond, guidance_scale)
        x = update(i, x, out)
        if return_trajectory:
            trajectory.append(x)
    return (x, trajectory) if return_trajectory else x
