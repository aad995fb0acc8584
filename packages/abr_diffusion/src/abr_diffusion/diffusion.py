"""VDiffusion: the v-prediction objective and samplers around an ABRTransformerGenerator.

The network stays a plain module; this wrapper owns the schedule (cosine, 1000 steps), the
training loss and sampling, all through `sigshared.diffusion`:

    x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps,   v = sqrt(ab_t) eps - sqrt(1 - ab_t) x0
    x0_hat = sqrt(ab_t) x_t - sqrt(1 - ab_t) v_theta
    loss = MSE(v_theta, v) + stft_weight * MultiResolutionSTFT-L1(x0_hat, x0)

with ab_t = alpha_bar_t. Classifier-free guidance: during training each row's condition is
dropped with probability p_uncond (the model then uses its learned null embedding); sampling
mixes v_uncond + w (v_cond - v_uncond).
"""

from __future__ import annotations

import torch
from torch import nn

from abr_diffusion.config import DiffusionConfig
from sigshared.diffusion import ddim_sample, predict_x0_from_v, q_sample, v_target
from sigshared.losses import MultiResolutionSTFTLoss
from sigshared.schedules import NoiseSchedule

Cond = dict[str, torch.Tensor]


def make_cond(static: torch.Tensor, drop: torch.Tensor | None = None) -> Cond:
    """The conditioning dict the samplers pass around: static (B, S), drop (B,) bool."""
    if drop is None:
        drop = torch.zeros(static.shape[0], dtype=torch.bool, device=static.device)
    return {"static": static, "drop": drop}


class VDiffusion:
    """See the module docstring. `loss_step` plugs into `sigshared.training.Trainer`."""

    def __init__(self, config: DiffusionConfig):
        self.config = config
        self.schedule = NoiseSchedule.from_name(config.schedule, config.timesteps)
        self.stft = MultiResolutionSTFTLoss(
            fft_sizes=config.stft_fft_sizes,
            hop_sizes=config.stft_hop_sizes,
            win_lengths=config.stft_fft_sizes,
        )

    def to(self, device: torch.device | str) -> VDiffusion:
        self.schedule = self.schedule.to(device)
        return self

    @staticmethod
    def model_fn(net: nn.Module):
        """(x_t, t, cond dict) -> v, the signature `sigshared.diffusion` samplers call."""

        def fn(x: torch.Tensor, t: torch.Tensor, cond: Cond) -> torch.Tensor:
            return net(x, cond["static"], t, cond["drop"])["signal"]

        return fn

    def null_cond(self, static_dim: int, device: torch.device | str) -> Cond:
        """The unconditional input: the drop flag set (the static values are then ignored)."""
        return {
            "static": torch.zeros(1, static_dim, device=device),
            "drop": torch.ones(1, dtype=torch.bool, device=device),
        }

    def loss_step(self, net: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Training / validation loss of one batch {"x": (B, 1, T), "static": (B, S)}."""
        x0, static = batch["x"], batch["static"]
        b = x0.shape[0]
        t = torch.randint(0, self.schedule.num_timesteps, (b,), device=x0.device)
        noise = torch.randn_like(x0)
        drop = torch.rand(b, device=x0.device) < self.config.p_uncond
        x_t = q_sample(self.schedule, x0, t, noise)
        v = net(x_t, static, t, drop)["signal"]
        v_mse = ((v.float() - v_target(self.schedule, x0, t, noise)) ** 2).mean()
        x0_hat = predict_x0_from_v(self.schedule, x_t, t, v.float())
        stft = self.stft(x0_hat, x0)
        return {"loss": v_mse + self.config.stft_weight * stft, "v_mse": v_mse, "stft": stft}

    @torch.no_grad()
    def reconstruct(
        self,
        net: nn.Module,
        x0: torch.Tensor,
        static: torch.Tensor,
        t: torch.Tensor,
        noise: torch.Tensor,
    ) -> torch.Tensor:
        """One-step x0 estimate from x0 noised to step t (B,): the document's reconstruction."""
        x_t = q_sample(self.schedule, x0, t, noise)
        v = self.model_fn(net)(x_t, t, make_cond(static))
        return predict_x0_from_v(self.schedule, x_t, t, v)

    @torch.no_grad()
    def generate(
        self,
        net: nn.Module,
        static: torch.Tensor,
        steps: int | None = None,
        eta: float | None = None,
        guidance: float | None = None,
        generator: torch.Generator | None = None,
        x_T: torch.Tensor | None = None,
        t_start: int | None = None,
        seq_len: int = 200,
    ) -> torch.Tensor:
        """DDIM samples (B, 1, seq_len) for static (B, S); None arguments take the config's.

        With `x_T` and `t_start` the chain starts from a signal noised to step t_start
        (denoising a recording).
        """
        cfg = self.config
        device = static.device
        return ddim_sample(
            self.model_fn(net),
            self.schedule,
            (static.shape[0], 1, seq_len),
            steps=cfg.sample_steps if steps is None else steps,
            eta=cfg.eta if eta is None else eta,
            prediction_type="v",
            cond=make_cond(static),
            null_cond=self.null_cond(static.shape[1], device),
            guidance_scale=cfg.guidance if guidance is None else guidance,
            generator=generator,
            x_T=x_T,
            t_start=t_start,
            device=device,
        )
