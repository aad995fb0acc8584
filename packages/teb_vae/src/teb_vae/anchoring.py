"""Holding the forecast near the last valid sample while a deceleration is under way.

Why: inside a deceleration the network pulls its forecast back toward the recent level faster
than the FHR recovers (test records, shipped model of session 13: MAE 19.4 bpm on the
deceleration samples of forecasts issued inside one, persistence 12.8). A forecast issued
when the last valid sample is in a deceleration (`teb_vae.state`, entry in_decel) is moved
toward that sample by a fraction per 15 s horizon bin,

    mu' = mu + lambda_b (last - mu),

lambda_b in [0, 1] the value on a 0.025 grid with the least absolute error over the valid
targets of such forecasts in the validation windows (the targets that recover as well as
those that stay down). Other forecasts are unchanged. Linear, so it applies to normalised
and bpm forecasts alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

GRID = np.linspace(0.0, 1.0, 41)


@dataclass
class DecelAnchor:
    """weight (B,): lambda per horizon bin; bin_len: horizon samples per bin."""

    weight: np.ndarray
    bin_len: int

    def apply(self, mu, last, in_decel):
        """mu (..., H) (numpy or torch), last (...) the last valid FHR in mu's units,
        in_decel (...) 0 / 1 -> mu (..., H) moved toward `last` where in_decel is 1."""
        w = self.weight_at(np.arange(mu.shape[-1]))
        if isinstance(mu, torch.Tensor):
            w = torch.as_tensor(w, dtype=mu.dtype, device=mu.device)
            last = torch.as_tensor(last, dtype=mu.dtype, device=mu.device)
            in_decel = torch.as_tensor(in_decel, dtype=mu.dtype, device=mu.device)
        return mu + w * in_decel[..., None] * (last[..., None] - mu)

    def weight_at(self, k: np.ndarray) -> np.ndarray:
        """lambda (same shape as k) of horizon samples k (0-based)."""
        return self.weight[np.minimum(k // self.bin_len, len(self.weight) - 1)]

    def to_state(self) -> dict:
        return {"weight": self.weight.tolist(), "bin_len": self.bin_len}

    @classmethod
    def from_state(cls, s: dict) -> DecelAnchor:
        return cls(np.asarray(s["weight"], np.float64), int(s["bin_len"]))


def fit_decel_anchor(
    mu: np.ndarray,
    last: np.ndarray,
    target: np.ndarray,
    horizon_index: np.ndarray,
    bin_len: int,
    n_bins: int,
) -> DecelAnchor:
    """From the M valid targets of forecasts issued inside a deceleration: mu, last, target,
    horizon_index (M,). A bin without such targets keeps lambda 0."""
    b = horizon_index // bin_len
    weight = np.zeros(n_bins)
    for k in range(n_bins):
        m = b == k
        if m.any():
            gap, err = (last - mu)[m], (target - mu)[m]
            cost = [np.abs(err - g * gap).sum() for g in GRID]
            weight[k] = GRID[int(np.argmin(cost))]
    return DecelAnchor(weight, bin_len)
