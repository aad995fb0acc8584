"""Forecasting a whole recording with a trained model, and writing the results.

A recording is cleaned and normalised, cut into 20-minute windows (stride = the window, plus a
last window aligned to the end; or the one window ending at a chosen minute), turned into
features and run through the model. Every step of a window issues a 2-minute forecast; they are
placed on the window's timeline by `teb_vae.forecast`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sigshared.errors import DataError
from teb_vae.checkpoint import TrainedTeb
from teb_vae.data import CTGWindowDataset, Recording, compute_features, windows_at
from teb_vae.features.preprocess import (
    FHR_SCALE,
    FS,
    Cleaned,
    clean_ctg,
    denormalize_fhr,
    normalize_fhr,
)
from teb_vae.forecast import assemble_all
from teb_vae.state import forecast_state


def window_starts(n: int, window: int) -> list[int]:
    """Non-overlapping windows from 0, plus one ending at the last sample if needed."""
    starts = list(range(0, n - window + 1, window))
    if starts[-1] + window < n:
        starts.append(n - window)
    return starts


@dataclass
class RecordForecast:
    """Forecasts of one recording. W windows, S' steps per window, H horizon samples, N window
    samples: mu_bpm / std_bpm (W, S', H); issued_at_sample (W, S') (the first forecast
    sample); mean_forecast_bpm / mean_std_bpm (W, N) (all forecasts covering each sample,
    averaged; NaN where none does); the cleaned recording and the windows' dataset."""

    name: str
    window_start: list[int]
    issued_at_sample: np.ndarray
    mu_bpm: np.ndarray
    std_bpm: np.ndarray
    mean_forecast_bpm: np.ndarray
    mean_std_bpm: np.ndarray
    clean: Cleaned
    dataset: CTGWindowDataset
    states: list[np.ndarray]

    def calibration(self, trained: TrainedTeb, i: int) -> Callable:
        """(mu, logvar) (1, S, H) normalised -> calibrated, for window i's steps (what
        `plotting.plot_sample` draws)."""
        start, t = self.window_start[i], trained.cfg.model.decimation_factor
        state = self.states[i]
        issue = start + (np.arange(len(state)) + 1) * t - 1
        last_n = torch.as_tensor(normalize_fhr(self.clean.fhr[issue]))[None]

        def calibrate(mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return trained.adjust_mean(mu, last_n, state), trained.scale_logvar(logvar, state)

        return calibrate


@torch.no_grad()
def forecast_recording(
    trained: TrainedTeb,
    rec: Recording,
    at_minute: float | None = None,
    device: torch.device | str = "cpu",
) -> RecordForecast:
    """Forecasts from every step of every window, or only the one issued at `at_minute`
    (the forecast from the latest step whose inputs end by that minute, in the window that
    ends there, so that it has the longest history)."""
    model, cfg = trained.model, trained.cfg
    w, n = cfg.features.window, len(rec.fhr)
    if n < w:
        raise DataError(
            f"{rec.name} is {n / FS / 60:.1f} minutes long ({n} samples); the model needs at "
            f"least {w / FS / 60:g} minutes ({w} samples at 4 Hz)"
        )
    clean = clean_ctg(rec.fhr, rec.up)
    if not clean.valid.any():
        raise DataError(
            f"{rec.name}: the FHR channel holds no valid sample (all 0 or out of 50..220 bpm)"
        )
    starts = window_starts(n, w)
    sample = None
    if at_minute is not None:
        sample = int(round(at_minute * 60 * FS)) - 1
        if not 0 <= sample < n:
            raise DataError(
                f"minute {at_minute:g} is outside {rec.name} (0 .. {n / FS / 60:.1f} minutes)"
            )
        starts = [max(0, min(sample + 1 - w, n - w))]
    windows = windows_at(rec.name, clean, starts, w)
    feats = compute_features(windows, cfg.features, None, device)
    ds = CTGWindowDataset(windows, feats, trained.stats, cfg.model.validity_channels > 0)
    t_dec = cfg.model.decimation_factor
    issued, mus, stds, means, bands, states = [], [], [], [], [], []
    for i in range(len(ds)):
        batch = {k: v[None].to(device) for k, v in ds[i].items()}
        full = model.predict_raw_signal(batch["x_ph"], batch["y_st"], batch["y_ph"])
        issue = starts[i] + (np.arange(full["raw_signal_mu"].shape[1]) + 1) * t_dec - 1
        state = forecast_state(clean.fhr, clean.valid, issue)
        states.append(state)
        last_n = torch.as_tensor(normalize_fhr(clean.fhr[issue]))[None]
        full["raw_signal_mu"] = trained.adjust_mean(full["raw_signal_mu"], last_n, state)
        full["raw_signal_logvar"] = trained.scale_logvar(full["raw_signal_logvar"], state)
        asm = assemble_all(full["raw_signal_mu"], full["raw_signal_logvar"], w, t_dec)
        if sample is not None:
            r = model.predict_single_timestep(
                batch["x_ph"], batch["y_st"], batch["y_ph"], sample - starts[0], w
            )
            j = r["decimated_timestep"]
            mu, lv = (
                trained.adjust_mean(
                    r["raw_signal_mu"][:, None], last_n[:, j : j + 1], state[j][None]
                ),
                trained.scale_logvar(r["raw_signal_logvar"][:, None], state[j][None]),
            )
            issued.append(np.array([starts[0] + (r["decimated_timestep"] + 1) * t_dec]))
        else:
            mu, lv = full["raw_signal_mu"], full["raw_signal_logvar"]
            issued.append(starts[i] + (np.arange(mu.shape[1]) + 1) * t_dec)
        mus.append(denormalize_fhr(mu[0].cpu().numpy()))
        stds.append(FHR_SCALE * torch.exp(0.5 * lv[0]).cpu().numpy())
        means.append(denormalize_fhr(asm["mu_pr_means"][0].cpu().numpy()))
        bands.append(FHR_SCALE * np.exp(0.5 * asm["log_var_means"][0].cpu().numpy()))
    return RecordForecast(
        rec.name,
        starts,
        np.stack(issued),
        np.stack(mus),
        np.stack(stds),
        np.stack(means),
        np.stack(bands),
        clean,
        ds,
        states,
    )


def write_forecast_npz(fc: RecordForecast, path: Path) -> None:
    """forecast.npz: window_start, issued_at_sample, mu_bpm, std_bpm, mean_forecast_bpm,
    mean_std_bpm (shapes in `RecordForecast`)."""
    with open(path, "wb") as f:
        np.savez(
            f,
            window_start=np.array(fc.window_start),
            issued_at_sample=fc.issued_at_sample,
            mu_bpm=fc.mu_bpm,
            std_bpm=fc.std_bpm,
            mean_forecast_bpm=fc.mean_forecast_bpm,
            mean_std_bpm=fc.mean_std_bpm,
        )


def write_forecast_csv(fc: RecordForecast, path: Path) -> None:
    """forecast.csv: one row per window sample with the (cleaned) FHR, mean forecast and std."""
    w = fc.mean_forecast_bpm.shape[1]
    rows = ["window,sample,time_s,fhr_bpm,mean_forecast_bpm,std_bpm"]
    for i, s in enumerate(fc.window_start):
        for k in range(w):
            rows.append(
                f"{i},{s + k},{(s + k) / FS:.2f},{fc.clean.fhr[s + k]:.2f},"
                f"{fc.mean_forecast_bpm[i, k]:.3f},{fc.mean_std_bpm[i, k]:.3f}"
            )
    path.write_text("\n".join(rows) + "\n")
