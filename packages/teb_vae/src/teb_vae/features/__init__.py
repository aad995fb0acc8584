"""Features of a CTG window: scattering y_st and phase harmonics y_ph (FHR), x_ph (UP).

`FeatureExtractor` turns normalised FHR / UP windows (B, N) into three (B, C, N / T) tensors,
default C = 76 and N / T = 4800 / 16 = 300. Every filter is a truncated causal FIR
(`teb_vae.features.filterbank.FilterBank`), so feature step i, evaluated at sample T(i+1) - 1,
depends on raw samples up to T(i+1) - 1 only, exactly: each channel is the centred coefficient
of a sample `delay` earlier, delay = the sum of the half-widths (`delay_sigmas` time sigmas) of
the filters cascaded in it. Fine scales (short filters) are almost current and coarse ones
lag, as they must. Before the window start the signal is extended with its first sample
(`history` samples of it, enough for the longest cascade); a stream holding the real history
instead (`extract`) gets the same values a batch pass over the whole record does.
"""

from __future__ import annotations

import torch

from sigshared.errors import ConfigError
from teb_vae.config import FeatureConfig
from teb_vae.features.filterbank import (
    FilterBank,
    constant_q_params,
    first_n_params,
    lowpass_taps,
)
from teb_vae.features.phase_harmonic import phase_harmonic_features, phase_harmonic_pairs
from teb_vae.features.scattering import Cascade, rate_of, scattering1d, second_order_paths

LOG_EPS = 1e-3


def feature_channels(cfg: FeatureConfig) -> tuple[int, int]:
    """(scattering channels, phase-harmonic channels) that `cfg` gives, without building
    any filter."""
    p1 = constant_q_params(cfg.st_j, cfg.st_q1)
    p2 = constant_q_params(cfg.st_j, cfg.st_q2)
    paths = second_order_paths([p[0] for p in p1], [p[0] for p in p2])
    pairs = phase_harmonic_pairs(cfg.ph_n_filters, cfg.ph_max_gap)
    return 1 + len(p1) + len(paths), 1 + cfg.ph_n_filters + 2 * len(pairs)


class FeatureExtractor:
    """Batched torch feature extraction on any device; see the module docstring."""

    def __init__(self, cfg: FeatureConfig, device: torch.device | str = "cpu") -> None:
        self.cfg = cfg
        t, d = cfg.decimation, cfg.delay_sigmas
        p1 = constant_q_params(cfg.st_j, cfg.st_q1)
        p2 = constant_q_params(cfg.st_j, cfg.st_q2)
        pph = first_n_params(cfg.ph_n_filters, cfg.ph_q)
        self.st1 = FilterBank.build(p1, t, d).to(device)
        self.st_rates = [rate_of(xi, s, t, cfg.oversampling) for xi, s in p1]
        self.second = {r: Cascade.build(p2, t, r, d).to(device) for r in sorted(set(self.st_rates))}
        self.ph = FilterBank.build(pph, t, d).to(device)
        self.ph_rates = [rate_of(xi, s, t, cfg.oversampling) for xi, s in pph]
        self.ph_lowpass = {
            r: lowpass_taps(t / r, d).to(device, torch.float32) for r in sorted({1, *self.ph_rates})
        }
        self.paths = second_order_paths(self.st1.xi, [p[0] for p in p2])
        self.pairs = phase_harmonic_pairs(len(pph), cfg.ph_max_gap)
        # samples read back from an output sample by the longest cascade, plus the grid
        # alignment (`scattering.aligned`)
        l1, lph = self.st1.psi.shape[-1], self.ph.psi.shape[-1]
        need = max(
            *(l1 + r * (c.bank.psi.shape[-1] + len(c.bank.phi)) for r, c in self.second.items()),
            *(2 * lph + r * len(f) for r, f in self.ph_lowpass.items()),
        )
        self.history = -(-(need + t) // t) * t
        if self.history > cfg.window:
            raise ConfigError(
                f"features.st_j = {cfg.st_j}: the coarsest cascade reads {need} samples back, "
                f"more than features.window ({cfg.window}); lower features.st_j"
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

    def extract(self, fhr_n: torch.Tensor, up_n: torch.Tensor, steps: int) -> dict:
        """Signals (B, history + steps T) whose first `history` samples are the past ->
        {"y_st", "y_ph", "x_ph"}: (B, C, steps) at the last `steps` output samples."""
        t = self.cfg.decimation
        if fhr_n.shape[-1] < self.history + steps * t or up_n.shape != fhr_n.shape:
            raise ValueError(
                f"expected FHR and UP of shape (B, >= {self.history + steps * t}), "
                f"got {tuple(fhr_n.shape)} and {tuple(up_n.shape)}"
            )
        fhr = fhr_n.to(self.device, torch.float32)
        up = up_n.to(self.device, torch.float32)
        st = self._scattering(fhr, steps)

        def ph(x: torch.Tensor) -> torch.Tensor:
            return phase_harmonic_features(
                x, self.ph, self.ph_lowpass, self.ph_rates, self.pairs, steps, t
            )

        return {
            "y_st": st,
            "y_ph": ph(fhr),
            "x_ph": ph(up),
        }

    def _scattering(self, fhr: torch.Tensor, steps: int) -> torch.Tensor:
        """(B, history + steps T) -> y_st (B, C, steps): S0, then log(eps + S1, S2)."""
        t = self.cfg.decimation
        st = scattering1d(fhr, self.st1, self.second, self.st_rates, self.paths, steps, t)
        return torch.cat([st[:, :1], torch.log(LOG_EPS + st[:, 1:].clamp(min=0))], dim=1)

    @torch.no_grad()
    def scattering_only(self, fhr_n: torch.Tensor) -> torch.Tensor:
        """Normalised FHR windows (B, N) -> y_st alone (B, C, N/T) (what kymatio's
        Scattering1D computes, for the speed comparison in benchmarks/)."""
        return self._scattering(self.extended(fhr_n.to(self.device, torch.float32)), self.steps)

    def extended(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, history + N): the first sample repeated before the signal."""
        return torch.cat([x[:, :1].expand(-1, self.history), x], dim=1)

    @torch.no_grad()
    def __call__(self, fhr_n: torch.Tensor, up_n: torch.Tensor) -> dict[str, torch.Tensor]:
        """Normalised FHR and UP (B, N) -> {"y_st", "y_ph", "x_ph"}, each (B, C, N/T) float32."""
        if fhr_n.shape[-1] != self.cfg.window or up_n.shape != fhr_n.shape:
            raise ValueError(
                f"expected FHR and UP windows of shape (B, {self.cfg.window}), "
                f"got {tuple(fhr_n.shape)} and {tuple(up_n.shape)}"
            )
        return self.extract(self.extended(fhr_n), self.extended(up_n), self.steps)
