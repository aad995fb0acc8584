"""Utterance-level acoustic functionals for speaker-independent emotion recognition.

Frame-level descriptors (25 ms Hann frames, 10 ms hop) in the spirit of eGeMAPS (Eyben et al.
2016): loudness (frame energy in dB), 13 MFCCs (on a 40-band log-mel spectrum) and their
deltas, pitch (semitones re 27.5 Hz, from the normalised autocorrelation) on voiced frames,
voicing strength, zero-crossing rate, spectral centroid, roll-off (85 %), flux and flatness,
and the band energies 0-1 kHz / 1-4 kHz ratio (alpha ratio). Each descriptor is summarised over
the utterance's sounding frames by mean, standard deviation, 10th / 50th / 90th percentiles,
the 10-90 range and the linear slope (per second); the 40 log-mel bands by mean and standard
deviation. Plus: voiced fraction, voiced segments per second (a speaking-rate proxy), and the
sounding duration.

Everything is numpy / torch (no numba): the features of one utterance take milliseconds.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from spectro_diffusion.emotion.features import stft

FRAME_S, HOP_S = 0.025, 0.010
N_MFCC, N_MELS = 13, 40
F0_MIN, F0_MAX = 60.0, 500.0
VOICING_THRESHOLD = 0.45  # normalised autocorrelation peak for a voiced frame
OCTAVE_TOLERANCE = 0.9
STATS = ("mean", "std", "p10", "p50", "p90", "range", "slope")


def _mel_filterbank(sr: int, n_fft: int, n_mels: int, fmax: float) -> np.ndarray:
    """(n_mels, 1 + n_fft/2) triangular filters on the HTK mel scale, unit peak."""

    def hz_to_mel(f):
        return 2595 * np.log10(1 + np.asarray(f) / 700)

    def mel_to_hz(m):
        return 700 * (10 ** (np.asarray(m) / 2595) - 1)

    edges = mel_to_hz(np.linspace(hz_to_mel(0), hz_to_mel(fmax), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (freqs - lower) / (centre - lower)
    fall = (upper - freqs) / (upper - centre)
    return np.maximum(0, np.minimum(rise, fall))


def _stats(x: np.ndarray, hop_s: float) -> np.ndarray:
    """The STATS of a (frames,) series (zeros when fewer than two frames)."""
    if x.size < 2:
        return np.zeros(len(STATS))
    p10, p50, p90 = np.percentile(x, [10, 50, 90])
    t = np.arange(x.size) * hop_s
    slope = np.polyfit(t, x, 1)[0]
    return np.array([x.mean(), x.std(), p10, p50, p90, p90 - p10, slope])


def _delta(x: np.ndarray) -> np.ndarray:
    """First difference over +-2 frames (the regression delta of HTK), frames on the last axis."""
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(2, 2)], mode="edge")
    return ((padded[..., 3:-1] - padded[..., 1:-3]) + 2 * (padded[..., 4:] - padded[..., :-4])) / 10


def frame_descriptors(audio: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """Frame-level descriptors of a mono clip: name -> (frames,) or (bands, frames)."""
    win = int(round(FRAME_S * sr))
    hop = int(round(HOP_S * sr))
    n_fft = 1 << (win - 1).bit_length()
    spec = stft(audio, n_fft, hop).abs().numpy()  # (F, T)
    power = spec**2
    freqs = np.linspace(0, sr / 2, spec.shape[0])
    fb = _mel_filterbank(sr, n_fft, N_MELS, min(8000.0, sr / 2))
    logmel = np.log(fb @ power + 1e-10)
    mfcc = scipy.fft.dct(logmel, type=2, axis=0, norm="ortho")[:N_MFCC]
    energy_db = 10 * np.log10(power.sum(axis=0) + 1e-10)
    total = power.sum(axis=0) + 1e-10
    centroid = (freqs[:, None] * power).sum(axis=0) / total
    cumulative = np.cumsum(power, axis=0) / total
    rolloff = freqs[np.argmax(cumulative >= 0.85, axis=0)]
    flux = np.r_[0.0, np.sqrt((np.diff(spec, axis=1) ** 2).sum(axis=0))] / (
        spec.sum(axis=0) + 1e-10
    )
    flatness = np.exp(np.log(power + 1e-10).mean(axis=0)) / (power.mean(axis=0) + 1e-10)
    low = power[freqs < 1000].sum(axis=0) + 1e-10
    mid = power[(freqs >= 1000) & (freqs < 4000)].sum(axis=0) + 1e-10
    alpha = 10 * np.log10(mid / low)

    # Time-domain frames for the zero-crossing rate and the autocorrelation pitch.
    padded = np.pad(audio, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][: spec.shape[1]]
    signs = np.signbit(frames)
    zcr = (signs[:, 1:] != signs[:, :-1]).mean(axis=1)
    centred = frames - frames.mean(axis=1, keepdims=True)
    windowed = centred * np.hanning(n_fft)
    acf = np.fft.irfft(np.abs(np.fft.rfft(windowed, 2 * n_fft, axis=1)) ** 2, axis=1)[:, :n_fft]
    # Divide by the window's own autocorrelation so a periodic signal peaks near 1 at its period.
    wacf = np.fft.irfft(np.abs(np.fft.rfft(np.hanning(n_fft), 2 * n_fft)) ** 2)[:n_fft]
    norm = acf / (acf[:, :1] + 1e-10) / (wacf / wacf[0] + 1e-10)
    lo, hi = int(sr / F0_MAX), min(int(sr / F0_MIN), n_fft // 2)
    # A periodic frame peaks at every multiple of its period; take the first lag that reaches
    # OCTAVE_TOLERANCE of the best peak, then climb to that peak (avoids sub-octave errors).
    search = norm[:, lo:hi]
    first = np.argmax(search >= OCTAVE_TOLERANCE * search.max(axis=1, keepdims=True), axis=1)
    lag = np.empty(len(first), dtype=int)
    for i, j in enumerate(first):
        stop = min(search.shape[1], j + j // 4 + 2)
        lag[i] = lo + j + int(np.argmax(search[i, j:stop]))
    strength = norm[np.arange(len(lag)), lag]
    f0_st = 12 * np.log2(sr / lag / 27.5)
    return {
        "energy_db": energy_db,
        "mfcc": mfcc,
        "logmel": logmel,
        "zcr": zcr,
        "centroid": centroid,
        "rolloff": rolloff,
        "flux": flux,
        "flatness": flatness,
        "alpha_ratio": alpha,
        "voicing": strength,
        "f0_semitones": f0_st,
    }


def utterance_functionals(audio: np.ndarray, sr: int) -> np.ndarray:
    """(D,) float64 functionals of one mono clip (see the module docstring; D = `num_features`).

    Frames within 40 dB of the loudest count as sounding; pitch statistics use the sounding
    frames whose autocorrelation peak passes VOICING_THRESHOLD.
    """
    d = frame_descriptors(audio, sr)
    sounding = d["energy_db"] > d["energy_db"].max() - 40
    voiced = sounding & (d["voicing"] > VOICING_THRESHOLD)
    parts = []
    for name in (
        "energy_db",
        "zcr",
        "centroid",
        "rolloff",
        "flux",
        "flatness",
        "alpha_ratio",
        "voicing",
    ):
        parts.append(_stats(d[name][sounding], HOP_S))
    parts.append(_stats(_delta(d["energy_db"])[sounding], HOP_S))
    for row in d["mfcc"]:
        parts.append(_stats(row[sounding], HOP_S))
    for row in _delta(d["mfcc"]):
        parts.append(_stats(row[sounding], HOP_S))
    parts.append(_stats(d["f0_semitones"][voiced], HOP_S))
    parts.append(_stats(_delta(d["f0_semitones"])[voiced], HOP_S))
    logmel = d["logmel"][:, sounding] if sounding.sum() >= 2 else np.zeros((N_MELS, 2))
    parts.append(logmel.mean(axis=1))
    parts.append(logmel.std(axis=1))
    onsets = np.count_nonzero(np.diff(voiced.astype(int)) == 1)
    seconds = max(sounding.sum() * HOP_S, HOP_S)
    parts.append(np.array([voiced.sum() / max(sounding.sum(), 1), onsets / seconds, seconds]))
    return np.concatenate(parts)
