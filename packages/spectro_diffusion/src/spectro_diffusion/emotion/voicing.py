"""Pitch and voicing of a clip with librosa's probabilistic YIN (pyin, Mauch & Dixon 2014).

pyin is the tracker the field trusts for speech F0 and the one issue 15 names; its HMM
decoding is numba code, compiled on the first call in a process (seconds), which is why only
the evaluation uses it (the training / generation path never does).
"""

from __future__ import annotations

import librosa
import numpy as np

F0_MIN, F0_MAX = 65.0, 500.0  # Hz: covers EmoDB's male and female voices, shouting included


def pitch_track(audio: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(samples,) clip -> (times (frames,) in s, f0 (frames,) in Hz with NaN where unvoiced,
    voiced flags (frames,) bool). Frames of 64 ms every 16 ms (centred)."""
    frame = int(2 ** np.ceil(np.log2(0.064 * sr)))
    hop = frame // 4
    f0, voiced, _ = librosa.pyin(
        audio.astype(np.float64),
        fmin=F0_MIN,
        fmax=F0_MAX,
        sr=sr,
        frame_length=frame,
        hop_length=hop,
    )
    times = librosa.times_like(f0, sr=sr, hop_length=hop)
    return times, f0, voiced.astype(bool)


def voiced_fraction(audio: np.ndarray, sr: int) -> float:
    """Share of all frames of the clip that pyin calls voiced; 0 for a silent clip."""
    if not np.abs(audio).max() > 0:
        return 0.0
    return float(pitch_track(audio, sr)[2].mean())
