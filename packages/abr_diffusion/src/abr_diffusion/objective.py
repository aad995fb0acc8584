"""The training objective: v-prediction (or x0 / eps, `diffusion.prediction_type`) on a cosine
schedule plus a spectral x0 term.

`sigshared.diffusion.GaussianDiffusion` owns schedule, objective and sampling:

    x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps,   v = sqrt(ab_t) eps - sqrt(1 - ab_t) x0
    x0_hat = sqrt(ab_t) x_t - sqrt(1 - ab_t) v_theta
    loss = w_t MSE(v_theta, v) + stft_weight * MultiResolutionSTFT-L1(x0_hat, x0)

with ab_t = alpha_bar_t and w_t = 1, or the Min-SNR-5 weight (`diffusion.loss_weighting`).
(For x0 prediction the MSE is on x0 itself.) Condition dropout: each row's condition is
replaced with probability `cond_drop_prob` by `null_cond` (the network then uses its learned null
embedding), which classifier-free guidance needs at sampling time.
"""

from __future__ import annotations

import torch

from abr_diffusion.config import DiffusionConfig
from abr_diffusion.model import ABRTransformerGenerator, make_cond, null_cond
from sigshared.diffusion import GaussianDiffusion
from sigshared.losses import MultiResolutionSTFTLoss


def build_diffusion(net: ABRTransformerGenerator, cfg: DiffusionConfig) -> GaussianDiffusion:
    """The network wrapped in the package's diffusion objective."""
    stft = MultiResolutionSTFTLoss(
        fft_sizes=cfg.stft_fft_sizes,
        hop_sizes=cfg.stft_hop_sizes,
        win_lengths=cfg.stft_fft_sizes,
    )
    return GaussianDiffusion(
        net,
        num_train_timesteps=cfg.num_train_timesteps,
        beta_schedule=cfg.beta_schedule,
        prediction_type=cfg.prediction_type,
        loss_weighting=cfg.loss_weighting,
        cond_drop_prob=cfg.cond_drop_prob,
        null_cond=null_cond,
        x0_losses={"stft": (stft, cfg.stft_weight)},
    )


def loss_step(model: GaussianDiffusion, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Loss of one batch {"x": (B, 1, T) z-scored signals, "static": (B, S) z-scored params}:
    {"loss", "mse" (of v), "stft"}. The Trainer calls it for training and validation."""
    return model.loss(batch["x"], make_cond(batch["static"]))
