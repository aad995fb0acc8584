"""The diffusion side of the emotion variant on `sigshared`: schedule, training loss, sampling,
and a generator rebuilt from a checkpoint alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from sigshared.diffusion import ddim_sample, ddpm_sample, q_sample
from sigshared.errors import UserError
from sigshared.schedules import NoiseSchedule, linear_beta_schedule
from sigshared.training import load_checkpoint, load_model_weights
from spectro_diffusion.emotion.config import DiffusionConfig, EmotionConfig, load_emotion_config
from spectro_diffusion.emotion.model import EmotionUNet, build_model


def make_schedule(cfg: DiffusionConfig) -> NoiseSchedule:
    """Linear betas from beta_start to beta_end over `timesteps` (Ho et al. 2020)."""
    betas = linear_beta_schedule(cfg.timesteps, cfg.beta_start, cfg.beta_end)
    return NoiseSchedule.from_betas(betas)


def make_loss_step(
    schedule: NoiseSchedule, cfg: DiffusionConfig
) -> Callable[[nn.Module, dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    """eps-prediction loss: x_t = q_sample(x0, t, eps), loss = L1/L2(model(x_t, t, y'), eps).

    y' is the class with probability 1 - cond_drop_prob, else the null class, so one network
    learns both branches of classifier-free guidance.
    """

    def loss_step(net: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x0, y = batch["x"], batch["y"]
        sched = schedule.to(x0.device)
        t = torch.randint(0, sched.num_timesteps, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        base = net.module if hasattr(net, "module") else net
        drop = torch.rand(y.shape, device=y.device) < cfg.cond_drop_prob
        y_in = torch.where(drop, torch.full_like(y, base.null_class), y)
        pred = net(q_sample(sched, x0, t, noise), t, y_in)
        loss = F.l1_loss(pred, noise) if cfg.loss == "l1" else F.mse_loss(pred, noise)
        return {"loss": loss}

    return loss_step


@dataclass
class Generator:
    """A trained model with everything needed to sample: schedule, classes, dB range, config."""

    model: EmotionUNet
    schedule: NoiseSchedule
    classes: list[str]
    db_max: float
    top_db: float
    config: EmotionConfig
    weights: str

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def class_index(self, emotion: str) -> int:
        if emotion not in self.classes:
            raise UserError(
                f"unknown emotion {emotion!r}; this model knows: {', '.join(self.classes)}"
            )
        return self.classes.index(emotion)

    @torch.no_grad()
    def sample(
        self,
        labels: torch.Tensor | None,
        num: int,
        sampler: str = "ddim",
        steps: int | None = 50,
        eta: float = 0.0,
        guidance: float = 1.0,
        seed: int = 0,
        x_T: torch.Tensor | None = None,
        t_start: int | None = None,
        progress: bool = False,
    ) -> torch.Tensor:
        """(num, 1, n_mels, n_frames) scaled spectrograms in [-1, 1] for class indices `labels`
        (None: unconditional). guidance 1 = plain conditional; > 1 = classifier-free guidance.
        """
        mel = self.config.data.mel
        shape = (num, 1, mel.n_mels, mel.n_frames)
        dev = self.device
        gen = torch.Generator(device="cpu").manual_seed(seed)
        cond = labels.to(dev) if (labels is not None and self.model.num_classes) else None
        null = torch.tensor([self.model.null_class], device=dev) if cond is not None else None
        kwargs = dict(
            cond=cond,
            null_cond=null,
            guidance_scale=guidance if cond is not None else 1.0,
            generator=gen,
            clip_x0=(-1.0, 1.0),
            x_T=x_T,
            t_start=t_start,
            device=dev,
            progress=progress,
            prediction_type="eps",
        )
        sched = self.schedule.to(dev)

        def fn(x, t, c):
            return self.model(x, t, c)

        if sampler == "ddim":
            out = ddim_sample(fn, sched, shape, steps=steps or 50, eta=eta, **kwargs)
        elif sampler == "ddpm":
            out = ddpm_sample(fn, sched, shape, steps=steps, **kwargs)
        else:
            raise UserError(f"unknown sampler {sampler!r}; choose ddim or ddpm")
        return out.clamp(-1, 1)


def load_generator(path: str | Path, device: torch.device) -> Generator:
    """A `Generator` from a `spectro-train` checkpoint (EMA weights when present)."""
    state = load_checkpoint(path)
    extra = state.get("extra") or {}
    if extra.get("kind") != "emotion-diffusion":
        raise UserError(f"{path} is not a spectro-train (emotion diffusion) checkpoint")
    cfg = load_emotion_config(extra["config"])
    model = build_model(cfg.model, len(extra["classes"]))
    weights = load_model_weights(model, state)
    model.to(device).eval()
    return Generator(
        model,
        make_schedule(cfg.diffusion),
        list(extra["classes"]),
        float(extra["db_max"]),
        float(extra["top_db"]),
        cfg,
        weights,
    )
