"""Load a trained run from its checkpoint: `load_trained(path) -> TrainedModel`.

A checkpoint written by `abr-train` is stamped package "abr_diffusion", kind "generator", and
carries (under "extra") the resolved config, the condition encoder and the amplitude model,
so inference and evaluation need the checkpoint file alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from abr_diffusion.config import ABRConfig, load
from abr_diffusion.data import AmplitudeModel, ConditionEncoder
from abr_diffusion.model import build_model, make_cond
from abr_diffusion.objective import build_diffusion
from sigshared.diffusion import GaussianDiffusion, q_sample
from sigshared.errors import CheckpointError, ConfigError, UserError
from sigshared.training import load_checkpoint, load_model_weights

PACKAGE = "abr_diffusion"
KIND = "generator"
CHECKPOINT_META = {"package": PACKAGE, "kind": KIND}


@dataclass
class TrainedModel:
    """Everything inference needs: the diffusion model (EMA weights, eval mode) on `device`,
    its config, the condition encoder and the amplitude model."""

    diffusion: GaussianDiffusion
    config: ABRConfig
    encoder: ConditionEncoder
    amplitude: AmplitudeModel
    weights: str
    device: torch.device

    @torch.no_grad()
    def generate(
        self,
        static_z: torch.Tensor,
        x_T: torch.Tensor,
        *,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        sampler: str | None = None,
        eta: float | None = None,
        generator: torch.Generator | None = None,
        t_start: int | None = None,
    ) -> torch.Tensor:
        """Samples (B, 1, T) for encoded conditions (B, S) from x_T (B, 1, T); a None setting
        takes the config's. With `t_start`, x_T is a signal noised to that step (denoising)."""
        d = self.config.diffusion
        sampler = d.sampler if sampler is None else sampler
        eta = d.eta if eta is None else eta
        if eta != 0 and sampler != "ddim":
            raise UserError(f"eta {eta} applies to the ddim sampler only, not {sampler}")
        return self.diffusion.sample(
            make_cond(static_z.to(self.device)),
            shape=tuple(x_T.shape),
            num_inference_steps=d.num_inference_steps
            if num_inference_steps is None
            else num_inference_steps,
            guidance_scale=d.guidance_scale if guidance_scale is None else guidance_scale,
            sampler=sampler,
            eta=eta,
            generator=generator,
            x_T=x_T.to(self.device),
            t_start=t_start,
        )

    @torch.no_grad()
    def reconstruct(
        self, x0: torch.Tensor, static_z: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """One-step x0 estimate (B, 1, T) from x0 noised to steps t (B,) with `noise`."""
        x_t = q_sample(self.diffusion.schedule, x0, t, noise)
        return self.diffusion.predict_x0(x_t, t, make_cond(static_z))


def load_trained(path: str | Path, device: torch.device | str = "cpu") -> TrainedModel:
    """Load a checkpoint written by abr-train (EMA weights when present) onto `device`."""
    state = load_checkpoint(path, package=PACKAGE, kind=KIND)
    extra = state.get("extra") or {}
    if not {"config", "condition_encoder", "amplitude_model"} <= set(extra):
        raise CheckpointError(
            f"{path} holds no config / condition encoder; it was not written by this version "
            "of abr-train (retrain it)"
        )
    try:
        cfg = load(extra["config"])
    except ConfigError as err:
        raise CheckpointError(
            f"{path}: its stored config does not fit this version of abr_diffusion ({err})"
        ) from None
    encoder = ConditionEncoder(**extra["condition_encoder"])
    net = build_model(cfg.model, cfg.data.seq_len, encoder.width)
    diffusion = build_diffusion(net, cfg.diffusion)
    try:
        which = load_model_weights(diffusion, state)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit the stored config ({first})") from None
    device = torch.device(device)
    return TrainedModel(
        diffusion.to(device).eval(),
        cfg,
        encoder,
        AmplitudeModel(**extra["amplitude_model"]),
        which,
        device,
    )
