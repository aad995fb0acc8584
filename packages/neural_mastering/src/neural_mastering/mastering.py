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
4. `master_audio` (what `mastering-infer` runs) wraps this: the network hears the input
   normalised to REFERENCE_LUFS, a guard drops a residual that misbehaves, and
   `delivery.deliver` sets loudness and true peak.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import scipy.signal
import torch
from tqdm.auto import tqdm

from neural_mastering.audio_io import resample
from neural_mastering.checkpoint import TrainedMastering
from neural_mastering.delivery import MIN_DURATION_S, Delivered, deliver
from neural_mastering.dsp.eq import apply_eq_sos
from neural_mastering.metrics import lufs
from neural_mastering.model import MasteringModel
from neural_mastering.reference import balance_db, distance_db, match_balance
from sigshared.errors import ConfigError, DataError


@dataclass
class MasteredTrack:
    """Output audio (C, T) float32 at the model rate (EQ output + residual), both parts, the
    EQ parameters and the cascade's coefficients."""

    audio: np.ndarray
    eq_output: np.ndarray
    residual: np.ndarray | None
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
    return model.encoder.latent(total / frames)


def _ramp(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)


def crossfade_weights(start: int, end: int, length: int, overlap: int) -> np.ndarray:
    """Weights (end - start,) of the residual chunk [start, end) of a signal of `length`
    samples: raised-cosine fades of `overlap` samples where a neighbouring chunk overlaps
    (none at the signal's ends), 1 elsewhere."""
    w = np.ones(end - start)
    n_fade = min(overlap, end - start)
    if start > 0:
        w[:n_fade] = _ramp(n_fade)
    if end < length:
        w[-n_fade:] = np.minimum(w[-n_fade:], _ramp(n_fade)[::-1])
    return w


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
        w = crossfade_weights(start, end, t, overlap)
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
    eq_amount: float = 1.0,
) -> MasteredTrack:
    """Master x (C, T) float at the model's sample rate; see the module docstring.

    `eq_amount` (0..1) scales every band's predicted gain in dB (0: a flat EQ)."""
    device = torch.device(device)
    model.eval().to(device)
    sr = model.cfg.sample_rate
    chunk = max(int(chunk_s * sr), 4096)
    z = track_latent(model, x, chunk, device, latent_s)
    params = model.eq(z)
    params["gain_db"] = params["gain_db"] * eq_amount
    b, a = model.eq_coefficients(params)
    gain = 10 ** (float(params["makeup_db"][0]) / 20)
    eq_out = (apply_eq_sos(x, b[0], a[0]) * gain).astype(np.float32)
    out, residual = eq_out, None
    if model.residual is not None:
        overlap, context = int(overlap_s * sr), int(context_s * sr)
        residual = residual_chunked(model, x, z, chunk, overlap, context, device, progress)
        out = eq_out + residual
    return MasteredTrack(
        audio=out,
        eq_output=eq_out,
        residual=residual,
        params={k: v[0].cpu().numpy() for k, v in params.items()},
        b=b[0].cpu().numpy().astype(np.float64),
        a=a[0].cpu().numpy().astype(np.float64),
    )


# The loudness the network hears: the median of its training inputs (de-mastered synthetic
# crops: 10th-90th percentile -27.7 .. -19.0, median -22.1 LUFS). Normalising every input to it
# makes the EQ independent of the input's level.
REFERENCE_LUFS = -22.0
# Residual guard: the residual is dropped (EQ only) when its RMS comes within 6 dB of the EQ
# output's, or below 125 Hz within 6 dB of the EQ output's energy there (rumble), or when it
# is not finite. A sound residual is a correction, tens of dB under the signal.
RESIDUAL_MAX_DB = -6.0
RESIDUAL_LOW_MAX_DB = -6.0
RESIDUAL_LOW_HZ = 125.0


@dataclass
class MasteringResult:
    """A mastered song at its own rate and length: the delivered audio and what the last stage
    did (`delivery.Delivered`), the model-rate track (EQ parameters, coefficients), the gain
    that normalised the input for the network, and the residual guard's verdict."""

    delivered: Delivered
    track: MasteredTrack
    input_gain_db: float
    residual: dict[str, float | bool | str]
    balance_distance_db: dict[str, float] | None = None

    @property
    def audio(self) -> np.ndarray:
        return self.delivered.audio


def check_settings(
    target_lufs: float,
    ceiling_db: float,
    chunk_s: float,
    latent_s: float,
    mix: float = 1.0,
    eq_amount: float = 1.0,
) -> None:
    """ConfigError naming the value of a `master_audio` setting that is non-finite or out of
    range."""
    for name, value in (
        ("target loudness", target_lufs),
        ("ceiling", ceiling_db),
        ("chunk length", chunk_s),
        ("latent excerpt length", latent_s),
        ("mix", mix),
        ("EQ amount", eq_amount),
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
    if not (0 <= mix <= 1 and 0 <= eq_amount <= 1):
        raise ConfigError(f"mix and EQ amount must be in [0, 1]; got {mix}, {eq_amount}")


def _energy_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-30))


def residual_verdict(track: MasteredTrack, sample_rate: int) -> dict[str, float | bool | str]:
    """Whether the residual may be kept: its level against the EQ output's, overall and below
    125 Hz (dB), and the reason when it may not (see RESIDUAL_MAX_DB)."""
    if track.residual is None:
        return {"used": False, "reason": "the model has no residual path"}
    r, e = track.residual, track.eq_output
    if not np.isfinite(r).all():
        return {"used": False, "reason": "the residual is not finite"}
    sos = scipy.signal.butter(4, RESIDUAL_LOW_HZ, fs=sample_rate, output="sos")
    ratio = _energy_db(r) - _energy_db(e)
    low = _energy_db(scipy.signal.sosfilt(sos, r.mean(0))) - _energy_db(
        scipy.signal.sosfilt(sos, e.mean(0))
    )
    verdict: dict[str, float | bool | str] = {"level_db": ratio, "low_level_db": low}
    if ratio > RESIDUAL_MAX_DB:
        verdict |= {"used": False, "reason": f"residual {ratio:+.1f} dB against the EQ output"}
    elif low > RESIDUAL_LOW_MAX_DB:
        verdict |= {"used": False, "reason": f"residual {low:+.1f} dB below 125 Hz"}
    else:
        verdict |= {"used": True, "reason": ""}
    return verdict


def master_audio(
    trained: TrainedMastering,
    x: np.ndarray,
    sample_rate: int,
    target_lufs: float = -14.0,
    ceiling_db: float = -1.0,
    chunk_s: float = 10.0,
    latent_s: float = 60.0,
    mix: float = 1.0,
    eq_amount: float = 1.0,
    reference_db: np.ndarray | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> MasteringResult:
    """Master x (C, T) at `sample_rate`.

    1. the input, at the model rate, is normalised to REFERENCE_LUFS (silence: left as is);
    2. `master_track` (EQ scaled by `eq_amount`, plus the residual if `residual_verdict`
       keeps it);
    3. back to the input's rate and length, the normalising gain undone;
    4. `mix` (0..1): the processed signal blended with the loudness-matched original;
       with `reference_db` (a `reference.reference_balance`), a matching filter then moves
       its third-octave balance to the references' (distances before / after reported);
    5. `delivery.deliver`: DC block, loudness to `target_lufs`, true-peak limit at
       `ceiling_db`.
    latent_s 0 hears the whole song.
    """
    check_settings(target_lufs, ceiling_db, chunk_s, latent_s, mix, eq_amount)
    if x.shape[-1] < MIN_DURATION_S * sample_rate:
        raise DataError(
            f"the audio lasts {x.shape[-1] / sample_rate:.3f} s; mastering needs at least "
            f"{MIN_DURATION_S} s to measure its loudness"
        )
    model_sr = trained.config.model.sample_rate
    at_model = resample(x, sample_rate, model_sr)
    level = lufs(at_model, model_sr)
    norm_db = REFERENCE_LUFS - level if np.isfinite(level) else 0.0
    track = master_track(
        trained.model,
        at_model * np.float32(10 ** (norm_db / 20)),
        chunk_s=chunk_s,
        device=device,
        latent_s=latent_s or None,
        progress=progress,
        eq_amount=eq_amount,
    )
    verdict = residual_verdict(track, model_sr)
    processed = track.audio if verdict["used"] else track.eq_output
    y = resample(processed, model_sr, sample_rate) * 10 ** (-norm_db / 20)
    y = np.pad(y, ((0, 0), (0, max(0, x.shape[1] - y.shape[1]))))[:, : x.shape[1]]
    if mix < 1:
        match = lufs(y, sample_rate) - lufs(x, sample_rate)
        match = match if np.isfinite(match) else 0.0
        y = mix * y + (1 - mix) * x * 10 ** (match / 20)
    distances = None
    if reference_db is not None:
        before = distance_db(balance_db(x, sample_rate), reference_db)
        y = match_balance(y, sample_rate, reference_db)
    delivered = deliver(y, sample_rate, target_lufs, ceiling_db)
    if reference_db is not None:
        after = distance_db(balance_db(delivered.audio, sample_rate), reference_db)
        distances = {"input": before, "output": after}
    return MasteringResult(
        delivered=delivered,
        track=track,
        input_gain_db=float(norm_db),
        residual=verdict,
        balance_distance_db=distances,
    )
