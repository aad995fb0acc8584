"""The training objective of the TEB-VAE: the only home of the loss step.

    loss = NLL(future FHR | mu, logvar) + kld_weight * KL(q(z|x,y) || p(z|y))

NLL: Gaussian negative log-likelihood of the H future samples of every step past the warm-up
(step i forecasts raw samples (i+1)*T + k, k < H, see `teb_vae.forecast`), over samples that
exist inside the window and are valid. KL: per latent dimension averaged over batch and steps
past the warm-up, each raised to at least `model.free_bits` nats (free bits: below that the
gradient no longer pulls the posterior onto the prior, the cure for the collapse measured
without it), then summed over dimensions; `kld_loss` reports the plain KL.
kld_weight = model.kld_beta * min(1, kld_step / kld_warmup_steps), where `kld_step` (a buffer
of the model, saved in checkpoints) counts training-mode losses.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from sigshared.losses import gaussian_nll, kl_divergence
from teb_vae.config import RunConfig
from teb_vae.forecast import future_targets
from teb_vae.model import LOGVAR_RANGE, SeqVaeTeb


def forecast_nll(
    predictions: dict[str, torch.Tensor],
    target_raw_signal: torch.Tensor,
    warmup_period: int = 30,
    decimation: int = 16,
    valid: torch.Tensor | None = None,
    steps: torch.Tensor | None = None,
) -> torch.Tensor:
    """Gaussian NLL of the future samples, over steps >= warmup_period only.

    predictions: raw_signal_mu / raw_signal_logvar (B, S', H) for the step indices `steps`
    (default 0..S'-1); target_raw_signal: (B, N) or (B, N, 1); valid: optional (B, N) bool
    sample mask. Returns 0 (not NaN) when no step is past the warm-up.
    """
    mu, logvar = predictions["raw_signal_mu"], predictions["raw_signal_logvar"]
    y = target_raw_signal[..., 0] if target_raw_signal.dim() == 3 else target_raw_signal
    if steps is None:
        steps = torch.arange(mu.shape[1], device=mu.device)
    target, mask = future_targets(y, steps, mu.shape[-1], decimation, valid)
    mask = mask & (steps >= warmup_period)[None, :, None]
    return gaussian_nll(mu, logvar, target, mask=mask, logvar_clamp=LOGVAR_RANGE)


def kld_weight(model: SeqVaeTeb) -> float:
    """kld_beta times the linear warm-up factor min(1, kld_step / kld_warmup_steps)."""
    w = model.cfg.kld_warmup_steps
    factor = 1.0 if w <= 0 else min(1.0, float(model.kld_step) / w)
    return model.cfg.kld_beta * factor


def compute_loss(
    model: SeqVaeTeb,
    outputs: dict[str, torch.Tensor],
    y_raw: torch.Tensor,
    valid: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """{"loss", "raw_signal_loss" (NLL), "kld_loss" (KL)} of one forward pass's `outputs`.

    In training mode it advances the model's `kld_step` (the KL warm-up clock).
    """
    cfg = model.cfg
    nll = forecast_nll(
        outputs, y_raw, cfg.warmup_period, cfg.decimation_factor, valid, outputs.get("steps")
    )
    kl = kl_divergence(
        outputs["mu_post"], outputs["logvar_post"], outputs["mu_prior"], outputs["logvar_prior"]
    )[:, cfg.warmup_period :]
    if kl.numel():
        per_dim = kl.mean(dim=(0, 1))
        kld, charged = per_dim.sum(), per_dim.clamp(min=cfg.free_bits).sum()
    else:
        kld = charged = torch.zeros((), device=nll.device)
    beta = kld_weight(model)
    if model.training:
        model.kld_step += 1
    return {"loss": nll + beta * charged, "raw_signal_loss": nll, "kld_loss": kld}


def make_loss_step(cfg: RunConfig) -> Callable[[torch.nn.Module, dict], dict[str, torch.Tensor]]:
    """loss_step(model, batch) for the Trainer. It decodes `optim.train_decode_steps` random
    steps past the warm-up (all steps when 0) to bound decoder memory; the NLL is a mean over
    the decoded steps, so it stays unbiased."""
    k = cfg.optim.train_decode_steps
    warm, s = cfg.model.warmup_period, cfg.model.sequence_length

    def loss_step(model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        steps = None
        if k > 0 and s - warm > k:
            steps = warm + torch.randperm(s - warm, device=batch["y_raw"].device)[:k].sort()[0]
        core = model.module if hasattr(model, "module") else model
        out = model(batch["y_st"], batch["y_ph"], batch["x_ph"], steps=steps)
        return compute_loss(core, out, batch["y_raw"], valid=batch["valid"])

    return loss_step
