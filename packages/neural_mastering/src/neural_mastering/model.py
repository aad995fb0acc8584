"""The mastering network: TCN encoder -> z, white-box EQ decoders, Wave-U-Net residual decoder.

Phases (see the design document): "1A" EQ only, "1B" EQ + residual, "1C" adaptive-band EQ +
residual. Shapes: audio (B, C, T) with C = 1 or 2 at the model's sample rate; the encoder hears
the channel mean, the same EQ is applied to every channel and the residual path runs on each
channel separately (conditioned on the same z).

Deviations from the document, on purpose: frequencies are mapped log-uniformly over
20 Hz .. min(20 kHz, 0.45 fs) (hearing is logarithmic; a linear map puts almost every band
above 1 kHz), the outer bands are low / high shelves, and the EQ has a make-up gain head
(tanh * 24 dB) so that a level change is one interpretable number rather than every band
boosted at once. FiLM starts at identity (gamma = 1 + Linear(z)) and the residual's 1x1 output
starts at zero, so phases 1B / 1C begin training from the EQ-only model's behaviour.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from neural_mastering.config import ModelConfig
from neural_mastering.dsp.eq import apply_eq_fft, band_coefficients
from neural_mastering.metrics import OCTAVE_CENTRES_HZ

F_MIN_HZ, F_MAX_HZ = 20.0, 20000.0
GAIN_RANGE_DB, MAKEUP_RANGE_DB = 12.0, 24.0
Q_MIN, Q_MAX = 0.5, 5.0


class TCNBlock(nn.Module):
    """Two dilated k=3 convs with BatchNorm; residual (1x1 projection when widths differ)."""

    def __init__(self, c_in: int, c_out: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(c_in, c_out, 3, padding=dilation, dilation=dilation),
            nn.BatchNorm1d(c_out),
            nn.ReLU(),
            nn.Conv1d(c_out, c_out, 3, padding=dilation, dilation=dilation),
            nn.BatchNorm1d(c_out),
        )
        self.skip = nn.Identity() if c_in == c_out else nn.Conv1d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.skip(x))


def octave_band_power(x: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """Mean power per sample of x (B, C, T) (channel mean) in each octave band of
    `metrics.OCTAVE_CENTRES_HZ` (31.25 Hz .. 16 kHz), from one periodogram: (B, 10).

    Per-sample means, so that spans of different lengths average (weighted by length) to the
    power of the whole signal."""
    # One-sided spectrum: each positive-frequency bin stands for itself and its mirror.
    power = 2 * torch.fft.rfft(x.mean(1)).abs().pow(2) / x.shape[-1] ** 2  # (B, F)
    f = torch.fft.rfftfreq(x.shape[-1], 1 / sample_rate).to(x.device)
    centres = torch.as_tensor(OCTAVE_CENTRES_HZ, dtype=f.dtype, device=x.device)[:, None]
    masks = ((f >= centres / math.sqrt(2)) & (f < centres * math.sqrt(2))).to(power.dtype)
    return power @ masks.T


# Octave balances below this share of the energy (dB) read as this (silence, empty octaves).
BALANCE_FLOOR_DB = -80.0


class TCNEncoder(nn.Module):
    """(B, 1, T) -> z (B, latent): two stride-4 k=15 convs, dilated blocks 1/2/4/8, mean pool.

    With `model.balance_input` the head also hears the input's octave balance (each octave's
    share of the energy in dB, `octave_band_power`), through a linear map added to z: the
    held-out diagnosis found the convolutional features alone gave one EQ curve for every
    de-mastering chain (the tilt of the input did not reach the EQ). The band powers ride
    along `features` as constant channels, so the excerpt / chunk averaging of
    `mastering.track_latent` averages powers, and `latent` turns the average into the balance
    of the whole song. The balance is a ratio, so z stays independent of the input's level.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.sample_rate = cfg.sample_rate
        s0, s1 = cfg.stem_channels
        self.stem = nn.Sequential(
            nn.Conv1d(1, s0, 15, stride=4, padding=7),
            nn.BatchNorm1d(s0),
            nn.ReLU(),
            nn.Conv1d(s0, s1, 15, stride=4, padding=7),
            nn.BatchNorm1d(s1),
            nn.ReLU(),
        )
        widths = [s1, *cfg.tcn_channels]
        self.blocks = nn.Sequential(
            *(TCNBlock(widths[i], widths[i + 1], 2**i) for i in range(len(cfg.tcn_channels)))
        )
        self.head = nn.Linear(widths[-1], cfg.latent_dim)
        self.balance_linear = (
            nn.Linear(len(OCTAVE_CENTRES_HZ), cfg.latent_dim) if cfg.balance_input else None
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, T) -> frame features (B, C, ~T/16) before pooling (with the balance input,
        the last 10 channels are the octave band powers, constant over the frames)."""
        h = self.blocks(self.stem(x))
        if self.balance_linear is None:
            return h
        bands = octave_band_power(x, self.sample_rate).to(h.dtype)
        return torch.cat([h, bands[:, :, None].expand(-1, -1, h.shape[-1])], dim=1)

    def latent(self, pooled: torch.Tensor) -> torch.Tensor:
        """Frame features averaged over time (B, C) -> z (B, latent)."""
        if self.balance_linear is None:
            return self.head(pooled)
        n = len(OCTAVE_CENTRES_HZ)
        h, bands = pooled[:, :-n], pooled[:, -n:].float().clamp_min(0)
        share = bands / bands.sum(-1, keepdim=True).clamp_min(1e-30)
        balance_db = 10 * torch.log10(share.clamp_min(10 ** (BALANCE_FLOOR_DB / 10)))
        # /20: shares of -80..0 dB become inputs of -4..0.
        return self.head(h) + self.balance_linear(balance_db.to(h.dtype) / 20)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.latent(self.features(x).mean(-1))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


class ParametricDecoder(nn.Module):
    """z -> K bands of (frequency Hz, gain dB, Q) and a make-up gain in dB."""

    def __init__(self, cfg: ModelConfig, num_bands: int) -> None:
        super().__init__()
        self.num_bands = num_bands
        self.f_max = min(F_MAX_HZ, 0.45 * cfg.sample_rate)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.latent_dim, cfg.mlp_hidden),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.mlp_hidden, cfg.mlp_hidden),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
        )
        self.freq_head = nn.Linear(cfg.mlp_hidden, num_bands)
        self.gain_head = nn.Linear(cfg.mlp_hidden, num_bands)
        self.q_head = nn.Linear(cfg.mlp_hidden, num_bands)
        self.makeup_head = nn.Linear(cfg.mlp_hidden, 1)
        with torch.no_grad():
            # Start with bands spread evenly on the log axis, flat gains and Q near 1.
            spread = [(k + 0.5) / num_bands for k in range(num_bands)]
            self.freq_head.bias.copy_(torch.tensor([_logit(p) for p in spread]))
            for head in (self.freq_head, self.gain_head, self.q_head, self.makeup_head):
                head.weight.mul_(0.1)
            self.gain_head.bias.zero_()
            self.makeup_head.bias.zero_()
            self.q_head.bias.fill_(_logit((1.0 - Q_MIN) / (Q_MAX - Q_MIN)))

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """z (B, latent) -> freq_hz, gain_db, q (B, K) and makeup_db (B,)."""
        h = self.mlp(z)
        # log-uniform: f = f_min * (f_max / f_min) ** sigmoid(.)
        freq = F_MIN_HZ * (self.f_max / F_MIN_HZ) ** torch.sigmoid(self.freq_head(h))
        return {
            "freq_hz": freq,
            "gain_db": torch.tanh(self.gain_head(h)) * GAIN_RANGE_DB,
            "q": Q_MIN + torch.sigmoid(self.q_head(h)) * (Q_MAX - Q_MIN),
            "makeup_db": torch.tanh(self.makeup_head(h))[:, 0] * MAKEUP_RANGE_DB,
        }


class AdaptiveParametricDecoder(ParametricDecoder):
    """ParametricDecoder over `max_bands` bands whose gains are scaled by a soft band selector."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg, cfg.max_bands)
        self.band_selector = nn.Sequential(
            nn.Linear(cfg.latent_dim, cfg.selector_hidden),
            nn.ReLU(),
            nn.Linear(cfg.selector_hidden, cfg.max_bands),
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """As ParametricDecoder, plus band_weights (B, K) in [0, 1]; gain_db is the gated gain."""
        params = super().forward(z)
        weights = self.band_selector(z)
        params["ungated_gain_db"] = params["gain_db"]
        params["gain_db"] = params["gain_db"] * weights
        params["band_weights"] = weights
        return params


def sparsity_loss(band_weights: torch.Tensor) -> torch.Tensor:
    """L1 of the band weights (B, K), mean over items: fewer active bands."""
    return band_weights.abs().sum(-1).mean()


def entropy_loss(band_weights: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Binary entropy of the band weights, mean over items and bands: decisive on / off."""
    w = band_weights.clamp(eps, 1 - eps)
    return -(w * w.log() + (1 - w) * (1 - w).log()).mean()


def band_usage(
    band_weights: torch.Tensor, threshold: float = 0.5
) -> dict[str, list[float] | float]:
    """Band-usage statistics of (B, K) weights: mean weight per band and active bands per item."""
    return {
        "mean_weight_per_band": band_weights.mean(0).tolist(),
        "active_bands_per_item": float((band_weights > threshold).sum(-1).float().mean()),
    }


class WaveUNetBlock(nn.Module):
    """Conv(k) -> BatchNorm -> ReLU, then FiLM from z: x * (1 + gamma(z)) + beta(z)."""

    def __init__(self, c_in: int, c_out: int, latent_dim: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2),
            nn.BatchNorm1d(c_out),
            nn.ReLU(),
        )
        self.film_gamma = nn.Linear(latent_dim, c_out)
        self.film_beta = nn.Linear(latent_dim, c_out)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        return h * (1 + self.film_gamma(z).unsqueeze(-1)) + self.film_beta(z).unsqueeze(-1)


class ResidualDecoder(nn.Module):
    """Wave-U-Net: (B, 1, T) audio and z (B, latent) -> residual (B, 1, T), any T.

    Down path: blocks of widths unet_channels[:-1], each followed by AvgPool(2); bottleneck of
    width unet_channels[-1]; up path: linear upsampling, concatenation with the skip, block.
    T is zero-padded to a multiple of 2^levels and the output cropped back.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        widths, k, d = cfg.unet_channels, cfg.unet_kernel, cfg.latent_dim
        self.levels = len(widths) - 1
        ins = [1, *widths[:-2]]
        self.down = nn.ModuleList(
            WaveUNetBlock(ins[i], widths[i], d, k) for i in range(self.levels)
        )
        self.bottleneck = WaveUNetBlock(widths[-2], widths[-1], d, k)
        self.up = nn.ModuleList(
            WaveUNetBlock(widths[i + 1] + widths[i], widths[i], d, k)
            for i in reversed(range(self.levels))
        )
        self.out = nn.Conv1d(widths[0], 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        t = x.shape[-1]
        multiple = 2**self.levels
        h = F.pad(x, (0, (-t) % multiple))
        skips = []
        for block in self.down:
            h = block(h, z)
            skips.append(h)
            h = F.avg_pool1d(h, 2)
        h = self.bottleneck(h, z)
        for block, skip in zip(self.up, reversed(skips)):
            h = F.interpolate(h, size=skip.shape[-1], mode="linear", align_corners=False)
            h = block(torch.cat([h, skip], dim=1), z)
        return self.out(h)[..., :t]


class MasteringModel(nn.Module):
    """Encoder + (adaptive) parametric EQ [+ residual]; see the module docstring."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.phase = cfg.phase
        self.encoder = TCNEncoder(cfg)
        if cfg.phase == "1C":
            self.eq = AdaptiveParametricDecoder(cfg)
        else:
            self.eq = ParametricDecoder(cfg, cfg.num_bands)
        self.residual = ResidualDecoder(cfg) if cfg.phase in ("1B", "1C") else None

    def eq_coefficients(self, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Cascade coefficients (B, K, 3) for the predicted bands (outer bands are shelves)."""
        return band_coefficients(
            params["freq_hz"], params["gain_db"], params["q"], self.cfg.sample_rate
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> z (B, latent) from the channel mean."""
        return self.encoder(x.mean(1, keepdim=True))

    def residual_path(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Residual of each channel of x (B, C, T) under z (B, latent): (B, C, T)."""
        if self.residual is None:
            return torch.zeros_like(x)
        b, c, t = x.shape
        r = self.residual(x.reshape(b * c, 1, t), z.repeat_interleave(c, dim=0))
        return r.reshape(b, c, t)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | dict[str, torch.Tensor]]:
        """x (B, C, T) -> {"output", "eq_output", "residual": (B, C, T), "params": {...}}.

        The EQ runs on the FFT grid (training path); `mastering.master_track` runs the exact
        IIR path on whole tracks.
        """
        z = self.encode(x)
        params = self.eq(z)
        b, a = self.eq_coefficients(params)
        gain = 10 ** (params["makeup_db"] / 20)
        eq_out = apply_eq_fft(x, b, a, pad=self.cfg.fft_pad) * gain[:, None, None]
        residual = self.residual_path(x, z)
        return {
            "output": eq_out + residual,
            "eq_output": eq_out,
            "residual": residual,
            "params": params,
        }
