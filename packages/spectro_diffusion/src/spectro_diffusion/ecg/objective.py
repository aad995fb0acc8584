"""The ECG training objective: the joint diffusion of (image, frequency embedding).

`make_diffusion` wraps the `EcgDenoiser` in `sigshared.diffusion.GaussianDiffusion`, which
owns the schedule, the prediction target, condition dropout and sampling. The two outputs are
packed into one flat (B, N) state (`model.JointLayout`), so they share one timestep and one
schedule and the network denoises both from shared features.

Loss (`loss_step`, terms logged by name):

    loss = mse                                         prediction MSE over the packed state
         + freq_weight * MSE(freq_hat0, freq0)         "freq_loss"
         + consistency_weight * MSE(freq_hat0, P(image_hat0))   "consistency_loss"

where hat0 are the network's x0 estimates and P projects an image to the frequency embedding
it implies (`consistency_error`). The packed MSE weighs every value alike, so the image (H x W
values) dominates it; the freq term gives the H values of the embedding their own weight.
With the shipped x0 prediction, freq_hat0 is the network output, so the sum is about
image MSE + freq MSE, the loss of the earlier ECG wrapper; its consistency term was also
weighted by alpha_bar_t per row, which GaussianDiffusion's x0 terms (functions of x0_hat and
x0 alone) do not take.
"""

from __future__ import annotations

import math

import torch

from sigshared.diffusion import GaussianDiffusion
from sigshared.errors import ConfigError
from spectro_diffusion.ecg.config import EcgConfig
from spectro_diffusion.ecg.data import CONDITIONS, ArraySpec, denormalise, normalise
from spectro_diffusion.ecg.model import EcgDenoiser, JointLayout, pack


def check_consistency_applies(image: ArraySpec, freq: ArraySpec, weight: float) -> None:
    """ConfigError when a consistency weight > 0 is asked for arrays it cannot relate."""
    if weight > 0 and (freq.dims != 1 or freq.channels != image.channels):
        raise ConfigError(
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


def null_condition(cond: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The null condition of classifier-free guidance: zeros, the training mean of each
    normalised condition."""
    return {n: torch.zeros_like(v) for n, v in cond.items()}


def make_diffusion(
    cfg: EcgConfig, specs: dict[str, ArraySpec], stats: dict[str, dict[str, float]]
) -> GaussianDiffusion:
    """The EcgDenoiser of `specs` inside GaussianDiffusion with the config's schedule,
    prediction target, condition dropout and consistency term."""
    denoiser = EcgDenoiser(specs, cfg.model)
    layout: JointLayout = denoiser.layout
    t = cfg.training
    x0_losses = {}
    if t.freq_weight > 0:

        def freq_loss(x0_hat: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
            return ((layout.unpack(x0_hat)[1].float() - layout.unpack(x0)[1]) ** 2).mean()

        x0_losses["freq_loss"] = (freq_loss, t.freq_weight)
    if t.consistency_weight > 0:

        def consistency(x0_hat: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
            image, freq = layout.unpack(x0_hat.float())
            return consistency_error(image, freq, stats, t.consistency_projection).mean()

        x0_losses["consistency_loss"] = (consistency, t.consistency_weight)
    d = cfg.diffusion
    return GaussianDiffusion(
        denoiser,
        num_train_timesteps=d.num_train_timesteps,
        beta_schedule=d.beta_schedule,
        prediction_type=d.prediction_type,
        cond_drop_prob=d.cond_drop_prob,
        null_cond=null_condition,
        x0_losses=x0_losses,
    )


def loss_step(model: GaussianDiffusion, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The Trainer's loss step: the GaussianDiffusion loss (its forward, so that it also runs
    under DistributedDataParallel) of the packed (image, freq) state given the conditions;
    returns "loss" and its terms."""
    x0 = pack(batch["images"], batch["freq_embeddings"])
    return model(x0, {n: batch[n] for n in CONDITIONS})
