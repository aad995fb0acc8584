"""The training objective (the only home of the loss step): MR-STFT + A-weighted MR-STFT +
LUFS difference + octave-band balance + regularisers, and `loss_step` for the Trainer."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from neural_mastering.config import LossConfig
from neural_mastering.dsp.loudness import integrated_loudness
from neural_mastering.dsp.weighting import a_weight_fn
from neural_mastering.model import (
    MasteringModel,
    entropy_loss,
    octave_band_power,
    sparsity_loss,
)
from sigshared.losses import MultiResolutionSTFTLoss

# Silence measures -inf LUFS; the LUFS loss clamps to the absolute gate so it stays finite.
LUFS_FLOOR = -70.0


def octave_balance_db(x: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """Energy of x (B, C, T) (channel mean) per octave band, dB relative to the sum: (B, 10).

    The bands of `metrics.spectral_balance_db` (centres 31.25 Hz .. 16 kHz), from one
    periodogram of the whole crop (`model.octave_band_power`) instead of Welch's average, so
    that it is differentiable.
    """
    bands = octave_band_power(x, sample_rate) + 1e-10 / x.shape[-1] ** 2
    return 10 * torch.log10(bands / bands.sum(-1, keepdim=True))


class MasteringLoss(nn.Module):
    """loss(model_out, target) -> dict of scalar terms with their weighted sum under "loss".

    STFT terms: sigshared's MultiResolutionSTFTLoss with spectral convergence + log magnitude
    (the A-weighted one multiplies both magnitudes by the IEC 61672 A-curve). LUFS: mean
    |LUFS(pred) - LUFS(target)| in LU. Balance: per item the RMS over octave bands of the
    difference of the two `octave_balance_db` (the evaluation's spectral-balance error, whose
    low octaves hold too few STFT bins for the STFT terms to weigh them). Parameter
    regularisation: mean |gain dB| / 12 and mean (Q - 1)^2. Adaptive (phase 1C): L1 sparsity
    and binary entropy of the band weights.
    """

    def __init__(self, cfg: LossConfig, sample_rate: int) -> None:
        super().__init__()
        self.cfg, self.sample_rate = cfg, sample_rate
        kw = {"fft_sizes": cfg.fft_sizes, "mag_weight": 0.0, "sc_weight": 1.0, "log_weight": 1.0}
        self.stft = MultiResolutionSTFTLoss(**kw)
        self.a_stft = MultiResolutionSTFTLoss(**kw, weight_fn=a_weight_fn(sample_rate))

    def forward(self, out: dict, target: torch.Tensor) -> dict[str, torch.Tensor]:
        pred, params = out["output"], out["params"]
        terms: dict[str, torch.Tensor] = {}
        cfg = self.cfg
        if cfg.stft_weight:
            terms["stft"] = self.stft(pred, target)
        if cfg.a_weighted_weight:
            terms["a_stft"] = self.a_stft(pred, target)
        if cfg.lufs_weight:
            lp = integrated_loudness(pred, self.sample_rate).clamp_min(LUFS_FLOOR)
            lt = integrated_loudness(target, self.sample_rate).clamp_min(LUFS_FLOOR)
            terms["lufs"] = (lp - lt).abs().mean()
        if cfg.balance_weight:
            diff = octave_balance_db(pred, self.sample_rate) - octave_balance_db(
                target, self.sample_rate
            )
            terms["balance"] = (diff.pow(2).mean(-1) + 1e-8).sqrt().mean()
        terms["gain_reg"] = (params["gain_db"].abs() / 12).mean()
        terms["q_reg"] = ((params["q"] - 1) ** 2).mean()
        weights = {
            "stft": cfg.stft_weight,
            "a_stft": cfg.a_weighted_weight,
            "lufs": cfg.lufs_weight,
            "balance": cfg.balance_weight,
            "gain_reg": cfg.gain_reg,
            "q_reg": cfg.q_reg,
        }
        if "band_weights" in params:
            terms["sparsity"] = sparsity_loss(params["band_weights"])
            terms["entropy"] = entropy_loss(params["band_weights"])
            weights["sparsity"] = cfg.sparsity_weight
            weights["entropy"] = cfg.entropy_weight
        terms["loss"] = sum(weights[k] * v for k, v in terms.items())
        return terms


def make_loss_step(
    criterion: MasteringLoss,
) -> Callable[[MasteringModel, dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    """The Trainer's `loss_step(model, batch)`: the model on batch["input"] (B, 1, L) scored
    against batch["target"] (B, 1, L) by `criterion`; returns its dict of terms."""

    def loss_step(model: MasteringModel, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return criterion(model(batch["input"]), batch["target"])

    return loss_step
