"""Built-in synthetic music: seeded multi-track songs, mixed and lightly mastered.

Model of a song (all choices drawn from `numpy.random.default_rng(seed)`):
- tempo 85..140 BPM, a minor or major key, a four-chord progression, one chord per bar;
- drums: kick = sine sweeping 150 -> 45 Hz with an exponential decay on beats 1 and 3 (plus
  random off-beat kicks); snare = band-passed noise burst (1-5 kHz) with a 180 Hz body on 2
  and 4; hi-hat = high-passed noise bursts (>7 kHz) on eighths with random accents;
- bass: the chord root, two octaves down, as a 5-harmonic tone with a low-pass-like 1/k^2
  roll-off and a pluck envelope, on eighths with random rests;
- chords: three voices with 8 harmonics (amplitude 1/k, slight detune) and an attack /
  release envelope per bar;
- lead: a random walk on the scale, one note per beat or eighth, sine + 2 harmonics with
  vibrato and a short attack;
- mix with random stem gains, then "light mastering": gentle tanh saturation and a peak
  normalisation to -1 dBFS, so that every song is a plausible mastered target.
Output: mono float32 in [-1, 1] at `sample_rate`.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = ((0, 5, 3, 4), (0, 3, 4, 0), (0, 4, 5, 3), (5, 3, 0, 4))


def _midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _place(track: np.ndarray, sound: np.ndarray, start: int) -> None:
    end = min(len(track), start + len(sound))
    if start < end:
        track[start:end] += sound[: end - start]


def _tone(freq: float, dur: int, sr: int, harmonics: np.ndarray, detune: float = 0.0) -> np.ndarray:
    t = np.arange(dur) / sr
    out = np.zeros(dur)
    for k, amp in enumerate(harmonics, start=1):
        f = freq * k * (1 + detune)
        if f < 0.45 * sr:
            out += amp * np.sin(2 * np.pi * f * t)
    return out


def synth_song(seed: int, duration_s: float, sample_rate: int = 44100) -> np.ndarray:
    """A seeded synthetic song (T,) = round(duration_s * sample_rate) samples, float32."""
    rng = np.random.default_rng(seed)
    sr = sample_rate
    n = int(round(duration_s * sr))
    beat = int(sr * 60 / rng.uniform(85, 140))
    scale = MAJOR if rng.random() < 0.5 else MINOR
    root = 45 + int(rng.integers(0, 12))
    progression = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    drums, bass, chords, lead = (np.zeros(n) for _ in range(4))
    bar = 4 * beat
    n_bars = n // bar + 1
    t_kick = np.arange(int(0.35 * sr)) / sr
    sweep = 45 + 105 * np.exp(-t_kick * 30)
    kick = np.sin(2 * np.pi * np.cumsum(sweep) / sr) * np.exp(-t_kick * 9)
    hp = scipy.signal.butter(4, 7000, "highpass", fs=sr, output="sos")
    bp = scipy.signal.butter(2, [1000, 5000], "bandpass", fs=sr, output="sos")
    snare_len = int(0.2 * sr)
    t_snare = np.arange(snare_len) / sr
    for b in range(n_bars):
        start = b * bar
        degree = progression[b % 4]
        chord_root = root + scale[degree]
        for beat_i in range(4):
            s = start + beat_i * beat
            if beat_i in (0, 2) or rng.random() < 0.15:
                _place(drums, kick * rng.uniform(0.8, 1.0), s + (beat // 2 if beat_i % 2 else 0))
            if beat_i in (1, 3):
                noise = scipy.signal.sosfilt(bp, rng.standard_normal(snare_len))
                body = np.sin(2 * np.pi * 180 * t_snare)
                _place(drums, (0.5 * noise + 0.4 * body) * np.exp(-t_snare * 25), s)
            for half in (0, 1):
                hat = scipy.signal.sosfilt(hp, rng.standard_normal(int(0.05 * sr)))
                env = np.exp(-np.arange(len(hat)) / sr * 80)
                _place(drums, hat * env * rng.uniform(0.15, 0.4), s + half * (beat // 2))
                if rng.random() < 0.85:
                    dur = beat // 2
                    env = np.exp(-np.arange(dur) / sr * 6)
                    h = 1 / np.arange(1, 6) ** 2
                    _place(bass, _tone(_midi_hz(chord_root - 12), dur, sr, h) * env, s + half * dur)
        voices = [chord_root + 12 + scale[(degree + k) % 7] - scale[degree] for k in (0, 2, 4)]
        env = np.minimum(1, np.arange(bar) / (0.05 * sr)) * np.exp(-np.arange(bar) / sr * 0.8)
        for v in voices:
            h = 1 / np.arange(1, 9)
            _place(chords, _tone(_midi_hz(v), bar, sr, h, rng.uniform(-0.002, 0.002)) * env, start)
        step = beat if rng.random() < 0.5 else beat // 2
        pos = int(rng.integers(0, 7))
        for s in range(start, start + bar, step):
            pos = int(np.clip(pos + rng.integers(-2, 3), 0, 13))
            note = root + 24 + 12 * (pos // 7) + scale[pos % 7]
            t = np.arange(step) / sr
            vib = 1 + 0.004 * np.sin(2 * np.pi * 5.5 * t)
            phase = 2 * np.pi * np.cumsum(_midi_hz(note) * vib) / sr
            tone = np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.1 * np.sin(3 * phase)
            env = np.minimum(1, t / 0.01) * np.exp(-t * 3)
            _place(lead, tone * env, s)
    stems = [drums, bass, chords, lead]
    gains = [
        rng.uniform(0.7, 1.0),
        rng.uniform(0.5, 0.9),
        rng.uniform(0.15, 0.3),
        rng.uniform(0.2, 0.4),
    ]
    mix = sum(g * s / (np.abs(s).max() + 1e-9) for g, s in zip(gains, stems))
    drive = rng.uniform(1.0, 2.0)
    mastered = np.tanh(drive * mix / (np.abs(mix).max() + 1e-9))
    mastered *= 10 ** (-1 / 20) / (np.abs(mastered).max() + 1e-9)
    return mastered.astype(np.float32)
