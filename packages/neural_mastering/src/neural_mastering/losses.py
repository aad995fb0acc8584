"""The training objective: MR-STFT + A-weighted MR-STFT + LUFS difference + regularisers."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from neural_mastering.dsp.loudness import integrated_loudness
from neural_mastering.dsp.weighting import a_weight_fn
from neural_mastering.model import entropy_loss, sparsity_loss
from sigshared.losses import MultiResolutionSTFTLoss

# Silence measures -inf LUFS; the LUFS loss clamps to the absolute gate so it stays finite.
LUFS_FLOOR = -70.0


@dataclass
class LossConfig:
    """Weights of the loss terms (0 switches a term off) and the STFT resolutions."""

    stft_weight: float = 1.0
    a_weighted_weight: float = 1.0
    lufs_weight: float = 0.05
    gain_reg: float = 1e-3
    q_reg: float = 1e-3
    sparsity_weight: float = 1e-3
    entropy_weight: float = 1e-3
    fft_sizes: list[int] = field(default_factory=lambda: [512, 1024, 2048])


class MasteringLoss(nn.Module):
    """loss(model_out, target) -> dict of scalar terms with their weighted sum under "loss".

    STFT terms: sigshared's MultiResolutionSTFTLoss with spectral convergence + log magnitude
    (the A-weighted one multiplies both magnitudes by the IEC 61672 A-curve). LUFS: mean
    |LUFS(pred) - LUFS(target)| in LU. Parameter regularisation: mean |gain dB| / 12 and
    mean (Q - 1)^2. Adaptive (phase 1C): L1 sparsity and binary entropy of the band weights.
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
        terms["gain_reg"] = (params["gain_db"].abs() / 12).mean()
        terms["q_reg"] = ((params["q"] - 1) ** 2).mean()
        weights = {
            "stft": cfg.stft_weight,
            "a_stft": cfg.a_weighted_weight,
            "lufs": cfg.lufs_weight,
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
