"""DPM-Solver++(2M): the multistep second-order solver of the diffusion ODE in data prediction.

Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
Models", Algorithm 2, with the choices of diffusers' `DPMSolverMultistepScheduler` at its
defaults: timesteps spaced by "linspace", first-order steps first and last, and a final step to
sigma = 0 that returns the last data prediction.

Symbols (code name -> paper):
    alpha[i], sigma[i]   alpha_{t_i} = sqrt(alpha_bar), sigma_{t_i} = sqrt(1 - alpha_bar), so
                         x_t = alpha_t x0 + sigma_t eps (the paper's VP notation)
    lam[i]               lambda_{t_i} = log(alpha_{t_i} / sigma_{t_i}), half the log-SNR
    x0[i]                x_theta(x_{t_i}, t_i), the data prediction (from any prediction type)
    h, h_last, r         h_i = lambda_{t_i} - lambda_{t_{i-1}}, h_{i-1}, r_i = h_{i-1} / h_i
    D                    D_i = (1 + 1 / (2 r_i)) x0[i-1] - 1 / (2 r_i) x0[i-2]
Our step i goes from timesteps[i] to timesteps[i + 1] (the paper's t_{i-1} -> t_i); after the
last timestep comes the clean end, alpha = 1, sigma = 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from sigshared.diffusion.chain import initial_sample, resolve_device, run_chain, start_at
from sigshared.diffusion.conditioning import ModelFn
from sigshared.diffusion.forward import Clip, check_prediction_type, split_prediction
from sigshared.diffusion.steps import check_num_inference_steps
from sigshared.schedules import NoiseSchedule


def dpmpp_timesteps(train_steps: int, num_inference_steps: int) -> torch.Tensor:
    """Descending steps round(linspace(0, T - 1, n + 1)) without the 0 (diffusers "linspace")."""
    check_num_inference_steps(num_inference_steps, train_steps)
    # numpy, as in diffusers, so that the rounding of ties (x.5) is the same.
    ts = np.linspace(0, train_steps - 1, num_inference_steps + 1).round()[::-1][:-1]
    return torch.from_numpy(ts.astype(np.int64))


class _DPMSolverPP2M:
    """update(i, x, model_output) for `run_chain`; keeps the previous data prediction."""

    def __init__(
        self,
        schedule: NoiseSchedule,
        timesteps: torch.Tensor,
        prediction_type: str,
        clip_x0: Clip,
    ) -> None:
        self.schedule, self.prediction_type, self.clip_x0 = schedule, prediction_type, clip_x0
        self.timesteps = timesteps.tolist()
        alpha_bar = schedule.alphas_cumprod.detach().double().cpu()[timesteps].tolist()
        # Noise levels at every timestep, then the clean end (alpha = 1, sigma = 0).
        self.alpha = [math.sqrt(a) for a in alpha_bar] + [1.0]
        self.sigma = [math.sqrt(1.0 - a) for a in alpha_bar] + [0.0]
        self.prev_x0: torch.Tensor | None = None
        self.h_last: float | None = None

    def lam(self, i: int) -> float:
        return math.log(self.alpha[i] / self.sigma[i])

    def __call__(self, i: int, x: torch.Tensor, model_output: torch.Tensor) -> torch.Tensor:
        alpha, sigma = self.alpha, self.sigma
        # 1. Data prediction x0[i] = x_theta(x_{t_i}, t_i).
        x0, _ = split_prediction(
            self.schedule, x, self.timesteps[i], model_output, self.prediction_type, self.clip_x0
        )
        # 2. e^{-h} = (sigma_{i+1} / alpha_{i+1}) / (sigma_i / alpha_i); 0 at the clean end,
        #    where h = lambda_{i+1} - lambda_i itself is infinite.
        exp_neg_h = (sigma[i + 1] / alpha[i + 1]) / (sigma[i] / alpha[i])
        last = i + 1 == len(self.timesteps)
        h = None if last else self.lam(i + 1) - self.lam(i)
        if self.prev_x0 is None or h is None:
            # 3. First order (Algorithm 2, first step; diffusers' lower_order_final also takes it
            #    for the final step to sigma = 0, which then returns x0[i]): D = x0[i].
            D = x0
        else:
            # 4. Second order (Algorithm 2, loop body): r = h_{i-1} / h_i,
            #    D = (1 + 1 / (2r)) x0[i] - 1 / (2r) x0[i-1].
            r = self.h_last / h
            D = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * self.prev_x0
        self.prev_x0, self.h_last = x0, h
        # 5. x_{i+1} = (sigma_{i+1} / sigma_i) x_i - alpha_{i+1} (e^{-h} - 1) D.
        return (sigma[i + 1] / sigma[i]) * x - alpha[i + 1] * (exp_neg_h - 1.0) * D


@torch.no_grad()
def dpmpp_2m_sample(
    model_fn: ModelFn,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    num_inference_steps: int,
    *,
    prediction_type: str,
    x_T: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    cond: Any = None,
    null_cond: Any = None,
    guidance_scale: float = 1.0,
    clip_x0: Clip = None,
    t_start: int | None = None,
    return_trajectory: bool = False,
    device: torch.device | str | None = None,
    progress: bool = False,
):
    """Sample with DPM-Solver++(2M) in `num_inference_steps` model evaluations (per branch);
    returns x0 of `shape` (and the trajectory, start sample first, if asked).

    The arguments mean what they mean in `ddim_sample`; `clip_x0` clamps each data prediction.
    """
    check_prediction_type(prediction_type)
    device = resolve_device(device, x_T, schedule.device)
    train_steps = schedule.num_timesteps
    ts = start_at(dpmpp_timesteps(train_steps, num_inference_steps), t_start, x_T, train_steps)
    return run_chain(
        model_fn=model_fn,
        timesteps=ts,
        x=initial_sample(shape, x_T, generator, device),
        update=_DPMSolverPP2M(schedule, ts, prediction_type, clip_x0),
        cond=cond,
        null_cond=null_cond,
        guidance_scale=guidance_scale,
        return_trajectory=return_trajectory,
        progress=progress,
        desc="DPM-Solver++(2M) sampling",
    )
