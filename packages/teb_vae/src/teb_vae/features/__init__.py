"""Features of a 20-minute CTG window: scattering y_st and phase harmonics y_ph (FHR), x_ph (UP).

`FeatureExtractor` turns normalised FHR / UP windows (B, N) into three (B, C, N / T) tensors,
default C = 76 and N / T = 4800 / 16 = 300. The transforms use centred (non-causal) filters, so
each channel c is read `delay_c` samples late: delay_c is `delay_sigmas` times the sum of the
time-domain standard deviations of the filters cascaded in that channel. Feature step i of
channel c is the coefficient centred at sample T(i+1) - 1 - delay_c, which depends on raw
samples up to T(i+1) - 1 only (up to Gaussian tails, below 1e-2 of the peak at 3 sigmas), so
the forecast from sample T(i+1) onward never sees its own future. Before the window start the
signal is extended with its first sample. Fine scales (short filters) are therefore almost
current and coarse ones lag, as they must.
"""

from __future__ import annotations

import math

import torch

from sigshared.errors import ConfigError
from teb_vae.config import FeatureConfig
from teb_vae.features.filterbank import SIGMA0, FilterBank, constant_q_params, first_n_params
from teb_vae.features.phase_harmonic import phase_harmonic_features, phase_harmonic_pairs
from teb_vae.features.scattering import scattering1d, second_order_paths

LOG_EPS = 1e-3


def feature_channels(cfg: FeatureConfig) -> tuple[int, int]:
    """(scattering channels, phase-harmonic channels) that `cfg` gives, without building
    any filter."""
    p1 = constant_q_params(cfg.st_j, cfg.st_q1)
    p2 = constant_q_params(cfg.st_j, cfg.st_q2)
    paths = second_order_paths([p[0] for p in p1], [p[0] for p in p2])
    pairs = phase_harmonic_pairs(cfg.ph_n_filters, cfg.ph_max_gap)
    return 1 + len(p1) + len(paths), 1 + cfg.ph_n_filters + 2 * len(pairs)


def _time_sigma(sigma_f: float) -> float:
    """Time-domain standard deviation (samples) of a Gaussian of frequency width sigma_f."""
    return 1.0 / (2 * math.pi * sigma_f)


class FeatureExtractor:
    """Batched torch feature extraction on any device; see the module docstring."""

    def __init__(self, cfg: FeatureConfig, device: torch.device | str = "cpu") -> None:
        self.cfg = cfg
        self.n_fft = 2 ** math.ceil(math.log2(cfg.window * 1.7))
        p1 = constant_q_params(cfg.st_j, cfg.st_q1)
        p2 = constant_q_params(cfg.st_j, cfg.st_q2)
        pph = first_n_params(cfg.ph_n_filters, cfg.ph_q)
        t = cfg.decimation
        self.st1 = FilterBank.build(self.n_fft, p1, t).to(device)
        self.st2 = FilterBank.build(self.n_fft, p2, t).to(device)
        self.ph = FilterBank.build(self.n_fft, pph, t).to(device)
        self.paths = second_order_paths(self.st1.xi, self.st2.xi)
        self.pairs = phase_harmonic_pairs(len(pph), cfg.ph_max_gap)
        phi = _time_sigma(SIGMA0 / t)
        w1 = [_time_sigma(s) for s in self.st1.sigma]
        w2 = [_time_sigma(s) for s in self.st2.sigma]
        wp = [_time_sigma(s) for s in self.ph.sigma]
        st_w = [phi] + [a + phi for a in w1] + [w1[a] + w2[b] + phi for a, b in self.paths]
        pair_w = [max(wp[a], wp[b]) + phi for a, b in self.pairs]
        ph_w = [phi] + [a + phi for a in wp] + pair_w + pair_w

        def delays(widths: list[float]) -> torch.Tensor:
            return torch.tensor([math.ceil(cfg.delay_sigmas * w) for w in widths], device=device)

        self.st_delays, self.ph_delays = delays(st_w), delays(ph_w)
        self.max_delay = int(max(self.st_delays.max(), self.ph_delays.max()))
        if self.max_delay >= cfg.window:
            raise ConfigError(
                f"features.st_j = {cfg.st_j}: the coarsest filters read {self.max_delay} samples "
                f"late, more than features.window ({cfg.window}); lower features.st_j"
            )
        self.device = device

    @property
    def st_channels(self) -> int:
        return 1 + len(self.st1.xi) + len(self.paths)

    @property
    def ph_channels(self) -> int:
        return 1 + len(self.ph.xi) + 2 * len(self.pairs)

    @property
    def steps(self) -> int:
        return self.cfg.window // self.cfg.decimation

    def _extended(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, max_delay + N): the first sample repeated before the window."""
        return torch.cat([x[:, :1].expand(-1, self.max_delay), x], dim=1)

    def _causal_sample(self, feats: torch.Tensor, delays: torch.Tensor) -> torch.Tensor:
        """(B, C, max_delay + N) centred coefficients -> (B, C, N/T): channel c, step i is
        read at extended index max_delay + T(i+1) - 1 - delay_c."""
        t = self.cfg.decimation
        ends = torch.arange(t - 1, self.cfg.window, t, device=feats.device) + self.max_delay
        idx = (ends[None, :] - delays[:, None]).expand(feats.shape[0], -1, -1)
        return feats.gather(2, idx)

    def scattering(self, fhr_n: torch.Tensor) -> torch.Tensor:
        """(B, N) normalised FHR -> (B, st_channels, N/T): S0, then log(eps + S1, S2)."""
        full = scattering1d(self._extended(fhr_n), self.st1, self.st2, self.paths)
        s = self._causal_sample(full, self.st_delays)
        return torch.cat([s[:, :1], torch.log(LOG_EPS + s[:, 1:].clamp(min=0))], dim=1)

    def phase_harmonics(self, x_n: torch.Tensor) -> torch.Tensor:
        """(B, N) normalised signal -> (B, ph_channels, N/T)."""
        full = phase_harmonic_features(self._extended(x_n), self.ph, self.pairs)
        return self._causal_sample(full, self.ph_delays)

    @torch.no_grad()
    def __call__(self, fhr_n: torch.Tensor, up_n: torch.Tensor) -> dict[str, torch.Tensor]:
        """Normalised FHR and UP (B, N) -> {"y_st", "y_ph", "x_ph"}, each (B, C, N/T) float32."""
        if fhr_n.shape[-1] != self.cfg.window or up_n.shape != fhr_n.shape:
            raise ValueError(
                f"expected FHR and UP windows of shape (B, {self.cfg.window}), "
                f"got {tuple(fhr_n.shape)} and {tuple(up_n.shape)}"
            )
        fhr = fhr_n.to(self.device, torch.float32)
        up = up_n.to(self.device, torch.float32)
        return {
            "y_st": self.scattering(fhr),
            "y_ph": self.phase_harmonics(fhr),
            "x_ph": self.phase_harmonics(up),
        }
