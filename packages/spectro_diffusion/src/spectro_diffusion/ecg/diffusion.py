"""Joint diffusion of (image, frequency embedding) on `sigshared`: loss and DDIM sampling.

The two outputs are diffused together: `JointLayout` packs them into one flat (B, N) state, so
`sigshared`'s q_sample / ddim_sample treat them as one signal (one timestep, one schedule) and
the network denoises both from shared features.

Loss = image_weight * MSE(image output, target) + freq_weight * MSE(freq output, target)
     + consistency_weight * mean_b( alpha_bar_t * MSE(freq_hat0, P(image_hat0)) ),
where the targets are eps, v or x0 (`diffusion.prediction_type`), hat0 are the network's x0
estimates, and P projects an image to the frequency embedding it implies (`consistency`).
alpha_bar_t weights the consistency term so that nearly pure-noise steps, whose x0 estimates
carry little information and large variance, do not dominate it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from sigshared.diffusion import ddim_sample, q_sample, split_prediction, v_target
from sigshared.errors import UserError
from sigshared.schedules import NoiseSchedule
from spectro_diffusion.ecg.config import DiffusionConfig, TrainingConfig
from spectro_diffusion.ecg.data import ArraySpec, denormalise, normalise


class JointLayout:
    """Packs image (B, *image_shape) and freq (B, *freq_shape) into (B, N) and back."""

    def __init__(self, image: ArraySpec, freq: ArraySpec) -> None:
        self.image_shape, self.freq_shape = image.model_shape, freq.model_shape
        self.n_image = math.prod(self.image_shape)
        self.n_total = self.n_image + math.prod(self.freq_shape)

    def pack(self, image: torch.Tensor, freq: torch.Tensor) -> torch.Tensor:
        return torch.cat([image.flatten(1), freq.flatten(1)], dim=1)

    def unpack(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = x.shape[0]
        image = x[:, : self.n_image].reshape(b, *self.image_shape)
        return image, x[:, self.n_image :].reshape(b, *self.freq_shape)


def make_schedule(cfg: DiffusionConfig) -> NoiseSchedule:
    """The forward-process noise schedule of the config."""
    if cfg.beta_schedule == "linear":
        return NoiseSchedule.from_name(
            "linear", cfg.num_timesteps, beta_start=cfg.beta_start, beta_end=cfg.beta_end
        )
    return NoiseSchedule.from_name("cosine", cfg.num_timesteps)


def check_consistency_applies(image: ArraySpec, freq: ArraySpec, weight: float) -> None:
    """UserError when a consistency weight > 0 is asked for arrays it cannot relate."""
    if weight > 0 and (freq.dims != 1 or freq.channels != image.channels):
        raise UserError(
            f"training.consistency_weight > 0 needs a 1-D frequency embedding with one row per "
            f"image channel; got image {image.model_shape}, freq {freq.model_shape}; set "
            "training.consistency_weight=0"
        )


def project_freq(
    image: torch.Tensor,
    stats: dict[str, dict[str, float]],
    projection: str,
    length: int,
) -> torch.Tensor:
    """Normalised image (B, C, H, W) -> the normalised freq embedding (B, C, length) it implies.

    "logmeanexp": log(mean_w exp(image)) in physical units (the definition of prepared data);
    "mean": the plain mean over time. Rows are resampled to `length` if H differs.
    """
    phys = denormalise(image, stats["images"])
    if projection == "logmeanexp":
        line = torch.logsumexp(phys, dim=-1) - math.log(phys.shape[-1])
    else:
        line = phys.mean(dim=-1)
    if line.shape[-1] != length:
        line = torch.nn.functional.interpolate(line, size=length, mode="linear")
    return normalise(line, stats["freq_embeddings"])


def consistency_error(
    image: torch.Tensor,
    freq: torch.Tensor,
    stats: dict[str, dict[str, float]],
    projection: str,
) -> torch.Tensor:
    """(B,) mean squared difference, in normalised freq units, between `freq` and the
    embedding projected from `image` (both normalised)."""
    implied = project_freq(image, stats, projection, freq.shape[-1])
    return ((freq - implied) ** 2).flatten(1).mean(dim=1)


def make_loss_step(
    schedule: NoiseSchedule,
    layout: JointLayout,
    diffusion: DiffusionConfig,
    training: TrainingConfig,
    stats: dict[str, dict[str, float]],
) -> Callable[[nn.Module, dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    """loss_step(model, batch) for the Trainer; returns loss and its three terms."""

    on_device: dict[torch.device, NoiseSchedule] = {}

    def loss_step(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        device = batch["images"].device
        sched = on_device.setdefault(device, schedule.to(device))
        x0 = layout.pack(batch["images"], batch["freq_embeddings"])
        b = x0.shape[0]
        t = torch.randint(0, sched.num_timesteps, (b,), device=x0.device)
        noise = torch.randn_like(x0)
        x_t = q_sample(sched, x0, t, noise)
        out_image, out_freq = model(*layout.unpack(x_t), t, batch["amp_init"], batch["emb_init"])
        if diffusion.prediction_type == "eps":
            target = noise
        elif diffusion.prediction_type == "v":
            target = v_target(sched, x0, t, noise)
        else:
            target = x0
        tgt_image, tgt_freq = layout.unpack(target)
        image_loss = ((out_image.float() - tgt_image) ** 2).mean()
        freq_loss = ((out_freq.float() - tgt_freq) ** 2).mean()
        loss = training.image_weight * image_loss + training.freq_weight * freq_loss
        logs = {"image_loss": image_loss.detach(), "freq_loss": freq_loss.detach()}
        if training.consistency_weight > 0:
            out = layout.pack(out_image.float(), out_freq.float())
            x0_hat, _ = split_prediction(sched, x_t, t, out, diffusion.prediction_type)
            image0, freq0 = layout.unpack(x0_hat)
            err = consistency_error(image0, freq0, stats, training.consistency_projection)
            consistency = (sched.alphas_cumprod[t] * err).mean()
            loss = loss + training.consistency_weight * consistency
            logs["consistency_loss"] = consistency.detach()
        return {"loss": loss, **logs}

    return loss_step


@torch.no_grad()
def sample(
    model: nn.Module,
    schedule: NoiseSchedule,
    layout: JointLayout,
    amp_init: torch.Tensor,
    emb_init: torch.Tensor,
    steps: int,
    eta: float,
    prediction_type: str,
    generator: torch.Generator | None = None,
    clip_x0: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DDIM from noise given normalised conditions -> normalised (image, freq) batches."""
    if not 1 <= steps <= schedule.num_timesteps:
        raise UserError(f"--num-steps must lie in 1..{schedule.num_timesteps}, got {steps}")
    if eta < 0:
        raise UserError(f"--eta must be >= 0, got {eta}")
    device = amp_init.device
    cond = model.encode(amp_init, emb_init)

    def model_fn(x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return layout.pack(*model.denoise(*layout.unpack(x), t, c))

    x = ddim_sample(
        model_fn,
        schedule.to(device),
        (amp_init.shape[0], layout.n_total),
        steps=steps,
        eta=eta,
        prediction_type=prediction_type,
        cond=cond,
        generator=generator,
        clip_x0=clip_x0,
        device=device,
    )
    return layout.unpack(x)
