"""Master a whole track of any length with a trained model (the inference path).

1. z: the encoder's frame features are averaged over the whole track (computed chunk by
   chunk, weighted by frame count), so one set of EQ parameters holds for the whole song.
   A track longer than `latent_s` (default 60 s) is heard through evenly spaced 2 s
   excerpts totalling `latent_s` instead: the encoder is most of phase 1A's cost, and a
   sample of a third of a 3-minute song moves the EQ curve by a small fraction of a dB (the
   tolerance is tested with the shipped model); `latent_s=None` hears every sample.
2. EQ: the predicted cascade runs as exact IIR second-order sections (scipy sosfilt) over the
   whole track, the same on every channel, times the make-up gain.
3. Residual (1B / 1C): each channel in overlapping chunks; every chunk carries `context`
   extra samples on both sides that are discarded (longer than the Wave-U-Net's receptive
   field) and neighbouring chunks are cross-faded with complementary raised-cosine ramps over
   `overlap` samples, so there are no seams. Chunk starts are multiples of 2^levels so the
   pooling grid matches whole-file processing.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from neural_mastering.audio_io import resample
from neural_mastering.checkpoint import TrainedMastering
from neural_mastering.dsp.eq import apply_eq_sos
from neural_mastering.metrics import lufs, true_peak
from neural_mastering.model import MasteringModel
from sigshared.errors import ConfigError


@dataclass
class MasteredTrack:
    """Output audio (C, T) float32 at the model rate, the EQ parameters and the latent."""

    audio: np.ndarray
    eq_output: np.ndarray
    params: dict[str, np.ndarray]
    b: np.ndarray
    a: np.ndarray


EXCERPT_S = 2.0


def latent_spans(t: int, sample_rate: int, chunk: int, latent_s: float | None) -> list[range]:
    """Sample spans the encoder hears: the whole track in chunks, or evenly spaced excerpts."""
    budget = t if latent_s is None else int(latent_s * sample_rate)
    if budget >= t:
        return [range(s, min(t, s + chunk)) for s in range(0, t, chunk)]
    n = max(1, round(budget / (EXCERPT_S * sample_rate)))
    length = budget // n
    starts = np.linspace(0, t - length, n).round().astype(int)
    return [range(s, s + length) for s in starts]


@torch.no_grad()
def track_latent(
    model: MasteringModel,
    x: np.ndarray,
    chunk: int,
    device: torch.device,
    latent_s: float | None = None,
) -> torch.Tensor:
    """z (1, latent) of a track x (C, T): encoder features averaged over `latent_spans`."""
    mono = torch.from_numpy(np.ascontiguousarray(x.mean(0), dtype=np.float32))
    total, frames = None, 0
    for span in latent_spans(mono.shape[-1], model.cfg.sample_rate, chunk, latent_s):
        piece = mono[span.start : span.stop].to(device)[None, None]
        feats = model.encoder.features(piece)  # (1, C, F)
        s = feats.sum(-1)
        total = s if total is None else total + s
        frames += feats.shape[-1]
    return model.encoder.head(total / frames)


def _ramp(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)


@torch.no_grad()
def residual_chunked(
    model: MasteringModel,
    x: np.ndarray,
    z: torch.Tensor,
    chunk: int,
    overlap: int,
    context: int,
    device: torch.device,
    progress: bool = False,
) -> np.ndarray:
    """The residual path over x (C, T) in cross-faded overlapping chunks; (C, T) float32."""
    c, t = x.shape
    align = 2**model.residual.levels
    hop = max(align, (chunk - overlap) // align * align)
    context = -(-context // align) * align
    out = np.zeros((c, t), dtype=np.float64)
    weight = np.zeros(t, dtype=np.float64)
    starts = list(range(0, max(t - overlap, 1), hop))
    bar = tqdm(starts, desc="residual", disable=not (progress and sys.stderr.isatty()), leave=False)
    for start in bar:
        end = min(t, start + chunk)
        lo, hi = max(0, start - context), min(t, end + context)
        piece = torch.from_numpy(np.ascontiguousarray(x[:, lo:hi], dtype=np.float32)).to(device)
        r = model.residual_path(piece[None], z)[0].cpu().numpy()[:, start - lo : end - lo]
        w = np.ones(end - start)
        n_fade = min(overlap, end - start)
        if start > 0:
            w[:n_fade] = _ramp(n_fade)
        if end < t:
            w[-n_fade:] = np.minimum(w[-n_fade:], _ramp(n_fade)[::-1])
        out[:, start:end] += r * w
        weight[start:end] += w
        if end == t:
            break
    return (out / np.maximum(weight, 1e-12)).astype(np.float32)


@torch.no_grad()
def master_track(
    model: MasteringModel,
    x: np.ndarray,
    chunk_s: float = 10.0,
    overlap_s: float = 0.25,
    context_s: float = 0.05,
    device: torch.device | str = "cpu",
    progress: bool = False,
    latent_s: float | None = 60.0,
) -> MasteredTrack:
    """Master x (C, T) float at the model's sample rate; see the module docstring."""
    device = torch.device(device)
    model.eval().to(device)
    sr = model.cfg.sample_rate
    chunk = max(int(chunk_s * sr), 4096)
    z = track_latent(model, x, chunk, device, latent_s)
    params = model.eq(z)
    b, a = model.eq_coefficients(params)
    gain = 10 ** (float(params["makeup_db"][0]) / 20)
    eq_out = (apply_eq_sos(x, b[0], a[0]) * gain).astype(np.float32)
    out = eq_out
    if model.residual is not None:
        overlap, context = int(overlap_s * sr), int(context_s * sr)
        out = eq_out + residual_chunked(model, x, z, chunk, overlap, context, device, progress)
    return MasteredTrack(
        audio=out,
        eq_output=eq_out,
        params={k: v[0].cpu().numpy() for k, v in params.items()},
        b=b[0].cpu().numpy().astype(np.float64),
        a=a[0].cpu().numpy().astype(np.float64),
    )


def finalize_level(
    x: np.ndarray,
    sample_rate: int,
    target_lufs: float | None,
    ceiling_db: float,
    margin_db: float = 0.01,
) -> tuple[np.ndarray, float]:
    """Loudness-normalise x (C, T) to target_lufs (None: keep), then lower the gain as far as
    needed so the true peak stays `margin_db` below `ceiling_db` dBTP.

    Returns (scaled audio float32, total gain in dB). Silence is left as it is. The true peak
    is linear in the gain, so one correction is exact; the margin absorbs 24-bit rounding.
    """
    gain_db = 0.0
    if target_lufs is not None:
        level = lufs(x, sample_rate)
        if np.isfinite(level):
            gain_db = target_lufs - level
    peak = true_peak(x) + gain_db
    if peak > ceiling_db - margin_db:
        gain_db -= peak - (ceiling_db - margin_db)
    return (x * 10 ** (gain_db / 20)).astype(np.float32), gain_db


# How far below the target loudness the output may land before it counts as capped (LU).
LOUDNESS_TOLERANCE_LU = 0.1


@dataclass
class MasteringResult:
    """A mastered song at its own rate and length: audio (C, T) float32, the model-rate track
    (EQ parameters, coefficients), the final gain in dB and whether the ceiling capped it."""

    audio: np.ndarray
    track: MasteredTrack
    gain_db: float
    ceiling_limited: bool


def check_settings(target_lufs: float, ceiling_db: float, chunk_s: float, latent_s: float) -> None:
    """ConfigError naming the value of a `master_audio` setting that is non-finite or out of
    range."""
    for name, value in (
        ("target loudness", target_lufs),
        ("ceiling", ceiling_db),
        ("chunk length", chunk_s),
        ("latent excerpt length", latent_s),
    ):
        if not math.isfinite(value):
            raise ConfigError(f"the {name} must be a finite number; got {value}")
    if not -70 <= target_lufs <= 0:
        raise ConfigError(f"the target loudness must be in [-70, 0] LUFS; got {target_lufs}")
    if not -20 <= ceiling_db <= 0:
        raise ConfigError(f"the true-peak ceiling must be in [-20, 0] dBTP; got {ceiling_db}")
    if chunk_s < 1:
        raise ConfigError(f"the chunk length must be >= 1 second; got {chunk_s}")
    if latent_s < 0:
        raise ConfigError(f"the latent excerpt length must be >= 0 seconds; got {latent_s}")


def master_audio(
    trained: TrainedMastering,
    x: np.ndarray,
    sample_rate: int,
    target_lufs: float = -14.0,
    ceiling_db: float = -1.0,
    chunk_s: float = 10.0,
    latent_s: float = 60.0,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> MasteringResult:
    """Master x (C, T) at `sample_rate`: resample to the model rate, `master_track`, back to
    the input's rate and length, then `finalize_level`. latent_s 0 hears the whole song."""
    check_settings(target_lufs, ceiling_db, chunk_s, latent_s)
    model_sr = trained.config.model.sample_rate
    track = master_track(
        trained.model,
        resample(x, sample_rate, model_sr),
        chunk_s=chunk_s,
        device=device,
        latent_s=latent_s or None,
        progress=progress,
    )
    y = resample(track.audio, model_sr, sample_rate)
    y = np.pad(y, ((0, 0), (0, max(0, x.shape[1] - y.shape[1]))))[:, : x.shape[1]]
    y, gain_db = finalize_level(y, sample_rate, target_lufs, ceiling_db)
    reached = lufs(y, sample_rate)
    capped = bool(np.isfinite(reached) and reached < target_lufs - LOUDNESS_TOLERANCE_LU)
    return MasteringResult(audio=y, track=track, gain_db=gain_db, ceiling_limited=capped)
