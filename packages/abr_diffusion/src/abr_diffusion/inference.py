"""Generation and denoising with a trained model, and writing their outputs.

generate: samples for each condition, in µV (the checkpoint's amplitude model gives each
    sample the offset and scale a recording with those parameters has on average).
denoise:  each recording is z-scored, noised to step t (or, without added noise, taken as
    the step-t state itself) and brought back by the model (the sampler from t, or with 0
    steps the one-step x0 estimate), in µV with the recording's own offset and scale.

Every file is written under a temporary name and renamed, so a failure leaves no partial file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from abr_diffusion.checkpoint import TrainedModel
from abr_diffusion.data import to_uv, zscore_signals
from abr_diffusion.evaluation import SamplingOptions
from abr_diffusion.model import make_cond
from abr_diffusion.peaks import peak_latencies
from abr_diffusion.plots import plot_best_worst, plot_signals
from abr_diffusion.synthetic import ABRData
from sigshared.diffusion import q_sample
from sigshared.files import atomic_output


@dataclass
class Generated:
    """conditions (N rows, raw), sample (N,) index per condition, signals in µV and z units
    (N, T) at `sample_rate` Hz, latencies (N, W) ms of the waves named in `waves`."""

    conditions: pd.DataFrame
    sample: np.ndarray
    signals_uv: np.ndarray
    signals_z: np.ndarray
    sample_rate: float
    waves: list[str]
    latencies_ms: np.ndarray


@dataclass
class Denoised:
    """The input recordings (on the model's grid) and their denoised versions (N, T) µV."""

    data: ABRData
    denoised_uv: np.ndarray


def generate(
    trained: TrainedModel,
    conditions: pd.DataFrame,
    num_samples: int = 1,
    seed: int = 0,
    sampling: SamplingOptions | None = None,
) -> Generated:
    """`num_samples` signals for each row of raw `conditions`; seeded."""
    cfg = trained.config
    cond = conditions.loc[conditions.index.repeat(num_samples)].reset_index(drop=True)
    z = torch.from_numpy(trained.encoder.transform(cond))
    gen = torch.Generator().manual_seed(seed)
    x_T = torch.randn((len(cond), 1, cfg.data.seq_len), generator=gen)
    kwargs = (sampling or SamplingOptions()).kwargs()
    out_z = trained.generate(z, x_T, generator=gen, **kwargs)[:, 0].cpu().numpy()
    mean, std = trained.amplitude.predict(z.numpy())
    uv = to_uv(out_z, mean, std)
    sample = np.tile(np.arange(num_samples), len(conditions))
    rate, windows = cfg.data.sample_rate, cfg.peaks.windows
    lat = peak_latencies(uv, rate, windows)
    return Generated(cond, sample, uv, out_z, rate, [w for w, _, _ in windows], lat)


@torch.no_grad()
def denoise(
    trained: TrainedModel,
    data: ABRData,
    t: int,
    num_inference_steps: int | None = None,
    seed: int = 0,
    add_noise: bool = True,
) -> Denoised:
    """Bring each recording back from diffusion step `t`: with the config's sampler from t
    (DDIM or DDPM; `num_inference_steps` None: the config's), or with 0 steps the one-step
    x0 estimate.

    add_noise True: the z-scored recording is taken as clean and noised to step t (SDEdit).
    add_noise False: the z-scored recording is itself taken as the state x_t, its own noise
    standing for the diffusion noise. That is the forward process's marginal when the noise
    holds 1 - alpha_bar_t of the recording's variance: the clean part then has std
    sqrt(alpha_bar_t) of the recording's, so the (unit-variance) estimate is scaled back by
    the recording's std times sqrt(alpha_bar_t), not by the recording's std.
    """
    z, mean, std = zscore_signals(data.signals.astype(np.float64))
    device = trained.device
    x0 = torch.from_numpy(z.astype(np.float32))[:, None].to(device)
    static = torch.from_numpy(trained.encoder.transform(data.conditions)).to(device)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(x0.shape, generator=gen).to(device)
    t_batch = torch.full((len(x0),), t, dtype=torch.long, device=device)
    schedule = trained.diffusion.schedule
    x_t = q_sample(schedule, x0, t_batch, noise) if add_noise else x0
    if num_inference_steps == 0:
        rec = trained.diffusion.predict_x0(x_t, t_batch, make_cond(static))
    else:
        sampler = trained.config.diffusion.sampler
        # Starting from a partly noised signal is defined for DDIM and DDPM only.
        rec = trained.generate(
            static,
            x_t,
            num_inference_steps=num_inference_steps,
            sampler=sampler if sampler != "dpmpp_2m" else "ddim",
            eta=0.0,
            t_start=t,
        )
    scale = std if add_noise else std * float(schedule.alphas_cumprod[t].sqrt())
    return Denoised(data, to_uv(rec[:, 0].cpu().numpy(), mean, scale))


def _signal_frame(conditions: pd.DataFrame, signals_uv: np.ndarray) -> pd.DataFrame:
    sig = pd.DataFrame(signals_uv, columns=[f"s{i}" for i in range(signals_uv.shape[1])])
    return pd.concat([conditions.reset_index(drop=True), sig], axis=1)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, index=False)


def _write_npz(path: Path, **arrays: np.ndarray) -> None:
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def _labels(conditions: pd.DataFrame) -> list[str]:
    return [", ".join(f"{k} {v}" for k, v in row.items()) for row in conditions.to_dict("records")]


def write_generated(gen: Generated, waves: list[tuple[str, float, float]], out: Path) -> list[Path]:
    """generated.csv (conditions, sample, sample_rate_hz, wave latencies, s0..), generated.npz
    and plots/generated.png."""
    frame = _signal_frame(gen.conditions, gen.signals_uv)
    n = gen.conditions.shape[1]
    frame.insert(n, "sample", gen.sample)
    frame.insert(n + 1, "sample_rate_hz", gen.sample_rate)
    for j, wave in enumerate(gen.waves):
        frame.insert(n + 2 + j, f"wave_{wave}_ms", gen.latencies_ms[:, j])
    _write_csv(frame, out / "generated.csv")
    _write_npz(
        out / "generated.npz",
        signals_uv=gen.signals_uv,
        signals_z=gen.signals_z,
        sample_rate_hz=np.float64(gen.sample_rate),
        latencies_ms=gen.latencies_ms,
        waves=np.array(gen.waves),
    )
    k = min(len(gen.signals_uv), 12)
    labels = _labels(gen.conditions.iloc[:k])
    plot = plot_signals(
        gen.signals_uv[:k],
        gen.sample_rate,
        waves,
        labels,
        "generated ABRs",
        out / "plots" / "generated.png",
    )
    return [out / "generated.csv", out / "generated.npz", plot]


def write_denoised(den: Denoised, t: int, out: Path) -> list[Path]:
    """denoised.csv (patient_id, conditions, sample_rate_hz, s0..), denoised.npz (input and
    output µV on the model's grid) and plots/denoised.png (best and worst by change)."""
    data = den.data
    frame = _signal_frame(data.conditions, den.denoised_uv)
    frame.insert(0, "patient_id", data.patient_id)
    frame.insert(data.conditions.shape[1] + 1, "sample_rate_hz", data.sample_rate)
    _write_csv(frame, out / "denoised.csv")
    _write_npz(
        out / "denoised.npz",
        input_uv=data.signals,
        denoised_uv=den.denoised_uv,
        sample_rate_hz=np.float64(data.sample_rate),
    )
    std = np.maximum(data.signals.std(axis=1), 1e-8)
    change = (((den.denoised_uv - data.signals) / std[:, None]) ** 2).mean(1)
    plot = plot_best_worst(
        data.signals,
        den.denoised_uv,
        data.sample_rate,
        change,
        f"denoised from t={t}",
        out / "plots" / "denoised.png",
    )
    return [out / "denoised.csv", out / "denoised.npz", plot]
