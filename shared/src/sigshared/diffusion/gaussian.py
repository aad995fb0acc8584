"""`GaussianDiffusion`: a denoiser network plus the schedule, objective and samplers around it.

The network knows nothing of diffusion: `denoiser(x_t, t, cond) -> Tensor` shaped like x_t,
with t a (B,) long tensor. This module owns the noise schedule (as buffers, so `.to(device)`
moves it), the prediction type, the training loss with condition dropout for classifier-free
guidance, and sampling with DDIM, DDPM or DPM-Solver++(2M).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

import torch
from torch import nn

from sigshared.diffusion.conditioning import where_rows
from sigshared.diffusion.dpm_solver import dpmpp_2m_sample
from sigshared.diffusion.forward import (
    Clip,
    batch_t,
    check_prediction_type,
    prediction_target,
    q_sample,
    split_prediction,
)
from sigshared.diffusion.samplers import ddim_sample, ddpm_sample
from sigshared.schedules import SCHEDULE_NAMES, NoiseSchedule

SAMPLERS = ("ddim", "ddpm", "dpmpp_2m")
LOSS_WEIGHTINGS = ("none", "min_snr")
# gamma of the Min-SNR weighting (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR
# Weighting Strategy"): the value the paper recommends and uses throughout.
MIN_SNR_GAMMA = 5.0

X0Loss = tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], float]


def _choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid values: {', '.join(valid)}")


def _finite(name: str, value: float, lo: float | None = None, hi: float | None = None) -> None:
    if not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        raise ValueError(f"{name} must lie in [{lo_s}, {hi_s}], got {value!r}")


def _integer(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")


class GaussianDiffusion(nn.Module):
    """Gaussian diffusion (Ho et al. 2020) around `denoiser`.

    Args:
        denoiser: `denoiser(x_t, t, cond) -> Tensor` of the shape of x_t; t is (B,) long.
        num_train_timesteps: T, the number of forward-process steps (t in 0..T-1).
        beta_schedule: "linear" (Ho et al. 2020; `beta_start`, `beta_end`, default 1e-4, 0.02)
            or "cosine" (Nichol & Dhariwal 2021).
        prediction_type: what the denoiser outputs: "eps", "v" or "x0".
        cond_drop_prob: probability with which `loss` replaces a row's condition by the null
            condition, so that one network learns both branches of classifier-free guidance.
        null_cond: `null_cond(cond)` -> the null condition for the same batch, of the same
            structure (a tensor or a dict of tensors; leaves broadcastable to cond's). Needed
            when cond_drop_prob > 0 or when sampling with guidance_scale != 1.
        x0_losses: {name: (fn, weight)}: `loss` adds weight * fn(x0_hat, x0), with x0_hat the
            denoiser's x0 estimate. The functions must be stateless (they are not submodules:
            not moved by `.to`, not in checkpoints).
        loss_weighting: "none" (plain MSE on the prediction) or "min_snr" (Min-SNR-5 weights
            per row, Hang et al. 2023, for the prediction MSE only).

    The schedule tensors are non-persistent buffers: `state_dict()` holds the denoiser alone
    (keys "denoiser.*"); `self.schedule` is a `NoiseSchedule` view of the buffers.
    """

    def __init__(
        self,
        denoiser: nn.Module,
        *,
        num_train_timesteps: int,
        beta_schedule: str,
        prediction_type: str,
        cond_drop_prob: float = 0.0,
        null_cond: Callable[[Any], Any] | None = None,
        x0_losses: Mapping[str, X0Loss] | None = None,
        loss_weighting: str = "none",
        beta_start: float | None = None,
        beta_end: float | None = None,
    ) -> None:
        super().__init__()
        check_prediction_type(prediction_type)
        _choice("beta_schedule", beta_schedule, SCHEDULE_NAMES)
        _choice("loss_weighting", loss_weighting, LOSS_WEIGHTINGS)
        _integer("num_train_timesteps", num_train_timesteps)
        if num_train_timesteps < 1:
            raise ValueError(f"num_train_timesteps must be >= 1, got {num_train_timesteps}")
        _finite("cond_drop_prob", cond_drop_prob, 0.0, 1.0)
        if cond_drop_prob > 0 and null_cond is None:
            raise ValueError("cond_drop_prob > 0 needs null_cond (the null condition of a batch)")
        x0_losses = dict(x0_losses or {})
        for name, (_, weight) in x0_losses.items():
            if name in ("loss", "mse"):
                raise ValueError(f"x0_losses name {name!r} is taken; use another name")
            _finite(f"x0_losses[{name!r}] weight", weight, 0.0)
        beta_kwargs = {
            k: v for k, v in (("beta_start", beta_start), ("beta_end", beta_end)) if v is not None
        }
        if beta_kwargs and beta_schedule != "linear":
            raise ValueError(
                f"beta_start / beta_end apply to beta_schedule 'linear' only, got {beta_schedule!r}"
            )
        schedule = NoiseSchedule.from_name(beta_schedule, int(num_train_timesteps), **beta_kwargs)
        for f in fields(NoiseSchedule):
            # Non-persistent: the schedule is rebuilt from the configuration, not loaded.
            self.register_buffer(f.name, getattr(schedule, f.name), persistent=False)
        self.denoiser = denoiser
        self.num_train_timesteps = int(num_train_timesteps)
        self.beta_schedule = beta_schedule
        self.prediction_type = prediction_type
        self.cond_drop_prob = float(cond_drop_prob)
        self.null_cond = null_cond
        self.x0_losses = x0_losses
        self.loss_weighting = loss_weighting

    @property
    def schedule(self) -> NoiseSchedule:
        """The schedule buffers as a `NoiseSchedule` (on this module's device)."""
        return NoiseSchedule(**{f.name: getattr(self, f.name) for f in fields(NoiseSchedule)})

    def loss_weights(self, t: torch.Tensor) -> torch.Tensor:
        """(B,) weights of the per-row prediction MSE at steps t.

        "min_snr": min(SNR, gamma) / SNR for eps, min(SNR, gamma) / (SNR + 1) for v and
        min(SNR, gamma) for x0 prediction, SNR = alpha_bar / (1 - alpha_bar) (Hang et al. 2023).
        """
        if self.loss_weighting == "none":
            return torch.ones(t.shape, device=t.device)
        snr = self.alphas_cumprod[t] / (1 - self.alphas_cumprod[t])
        clipped = snr.clamp(max=MIN_SNR_GAMMA)
        if self.prediction_type == "eps":
            return clipped / snr
        if self.prediction_type == "v":
            return clipped / (snr + 1)
        return clipped

    def loss(
        self,
        x0: torch.Tensor,
        cond: Any = None,
        *,
        t: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Training loss of a batch x0 (B, ...) with conditions `cond` (B rows, or None).

        t (B,) and noise (shape of x0) default to uniform steps and Gaussian noise. Returns
        {"loss": mse + sum of weight * x0 term, "mse": the (weighted) prediction MSE,
        <name>: each x0_losses term}, scalars.
        """
        b = x0.shape[0]
        t = (
            torch.randint(0, self.num_train_timesteps, (b,), device=x0.device)
            if t is None
            else batch_t(t, b, x0.device)
        )
        noise = torch.randn_like(x0) if noise is None else noise
        schedule = self.schedule
        x_t = q_sample(schedule, x0, t, noise)
        if cond is not None and self.cond_drop_prob > 0:
            # Condition dropout: each row gets the null condition with prob. cond_drop_prob.
            drop = torch.rand(b, device=x0.device) < self.cond_drop_prob
            cond = where_rows(drop, self.null_cond(cond), cond)
        out = self.denoiser(x_t, t, cond).float()
        target = prediction_target(schedule, x0, t, noise, self.prediction_type).float()
        per_row = ((out - target) ** 2).flatten(1).mean(dim=1)
        mse = (self.loss_weights(t) * per_row).mean()
        terms = {"loss": mse, "mse": mse}
        if self.x0_losses:
            x0_hat, _ = split_prediction(schedule, x_t, t, out, self.prediction_type)
            for name, (fn, weight) in self.x0_losses.items():
                terms[name] = fn(x0_hat, x0)
                terms["loss"] = terms["loss"] + weight * terms[name]
        return terms

    def forward(
        self,
        x0: torch.Tensor,
        cond: Any = None,
        *,
        t: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The training loss (`loss`); called through `model(x0, cond)` it also works under a
        DistributedDataParallel wrapper, which synchronises gradients only for forward calls."""
        return self.loss(x0, cond, t=t, noise=noise)

    def predict_x0(self, x_t: torch.Tensor, t: int | torch.Tensor, cond: Any) -> torch.Tensor:
        """One-step x0 estimate from x_t at step t (no guidance, no clipping)."""
        t = batch_t(t, x_t.shape[0], x_t.device)
        out = self.denoiser(x_t, t, cond)
        return split_prediction(self.schedule, x_t, t, out, self.prediction_type)[0]

    @torch.no_grad()
    def sample(
        self,
        cond: Any,
        *,
        shape: tuple[int, ...],
        num_inference_steps: int,
        guidance_scale: float,
        sampler: str,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
        x_T: torch.Tensor | None = None,
        t_start: int | None = None,
        clip_x0: Clip = None,
        progress: bool = False,
    ) -> torch.Tensor:
        """Samples of `shape` (B, ...) for conditions `cond` (B rows, or None), on this
        module's device.

        sampler: "ddim" (leading spacing, eta = 0 deterministic), "ddpm" (ancestral, leading
        spacing) or "dpmpp_2m" (DPM-Solver++(2M), linspace spacing). guidance_scale: 1 is the
        conditional model alone (one forward pass per step); otherwise
        uncond + guidance_scale * (cond - uncond). eta: DDIM noise (Song et al. Eq. 16), ddim
        only. x_T replaces the initial noise; with t_start the chain starts at that step from
        x_T = x0 noised to t_start (denoising / SDEdit). clip_x0 clamps each x0 estimate.
        """
        _choice("sampler", sampler, SAMPLERS)
        _finite("guidance_scale", guidance_scale)
        _finite("eta", eta, 0.0)
        _integer("num_inference_steps", num_inference_steps)
        if eta != 0 and sampler != "ddim":
            raise ValueError(f"eta applies to sampler 'ddim' only; got eta={eta} with {sampler!r}")
        guided = guidance_scale != 1.0
        if guided and cond is None:
            raise ValueError("guidance_scale != 1 needs a condition; cond is None")
        if guided and self.null_cond is None:
            raise ValueError("guidance_scale != 1 needs the null_cond of GaussianDiffusion")
        common: dict[str, Any] = {
            "prediction_type": self.prediction_type,
            "cond": cond,
            "null_cond": self.null_cond(cond) if guided else None,
            "guidance_scale": guidance_scale,
            "generator": generator,
            "clip_x0": clip_x0,
            "x_T": x_T,
            "t_start": t_start,
            "device": self.betas.device,
            "progress": progress,
        }
        args = (self.denoiser, self.schedule, tuple(shape), int(num_inference_steps))
        if sampler == "ddim":
            return ddim_sample(*args, eta=eta, **common)
        if sampler == "ddpm":
            return ddpm_sample(*args, **common)
        return dpmpp_2m_sample(*args, **common)
