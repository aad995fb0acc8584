"""Random-access block reading of audio for the streaming path, without holding a file.

`FileSource` reads any libsndfile format through `soundfile.SoundFile` (seeking, so reads may
go back; libsndfile seeks sample-accurately in WAV, AIFF, FLAC, Ogg Vorbis and MP3);
`ArraySource` serves an array in memory through the same interface; `TempSignal` is a
scratch float32 file (raw, interleaved) that a pass writes sequentially and later passes read
at random. Every `read(lo, hi)` returns (C, hi - lo) float64 with zeros outside the signal.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf


def _padded(data: np.ndarray, lo: int, hi: int, length: int) -> np.ndarray:
    """data holds samples [max(lo, 0), min(hi, length)); zero-pad it to [lo, hi)."""
    left = max(0, -lo)
    right = (hi - lo) - left - data.shape[-1]
    return np.pad(data, ((0, 0), (left, max(0, right))))


class ArraySource:
    """An in-memory signal x (C, T) at `sample_rate`."""

    def __init__(self, x: np.ndarray, sample_rate: int) -> None:
        self.x = np.asarray(x)
        self.sample_rate = int(sample_rate)
        self.channels, self.frames = self.x.shape

    def read(self, lo: int, hi: int) -> np.ndarray:
        part = self.x[:, max(0, lo) : max(0, min(hi, self.frames))]
        return _padded(np.asarray(part, np.float64), lo, hi, self.frames)


class FileSource:
    """An audio file read block by block (use as a context manager)."""

    def __init__(self, path: str | Path) -> None:
        self.file = sf.SoundFile(str(path))
        self.sample_rate = int(self.file.samplerate)
        self.channels, self.frames = int(self.file.channels), int(self.file.frames)
        self._position = 0

    def read(self, lo: int, hi: int) -> np.ndarray:
        a, b = max(0, lo), max(0, min(hi, self.frames))
        if b > a:
            if a != self._position:
                self.file.seek(a)
            data = self.file.read(b - a, dtype="float32", always_2d=True).T
            self._position = a + data.shape[-1]
        else:
            data = np.zeros((self.channels, 0), np.float32)
        return _padded(np.asarray(data, np.float64), lo, hi, self.frames)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TempSignal:
    """A float32 scratch signal of `channels` channels in `folder` (deleted on close)."""

    def __init__(self, channels: int, folder: str | Path | None = None) -> None:
        self.channels = channels
        self.file = tempfile.TemporaryFile(dir=folder)
        self.frames = 0

    def append(self, block: np.ndarray) -> None:
        """block (channels, n): the next n samples."""
        self.file.seek(0, 2)
        self.file.write(np.ascontiguousarray(np.asarray(block, np.float32).T).tobytes())
        self.frames += block.shape[-1]

    def read(self, lo: int, hi: int) -> np.ndarray:
        a, b = max(0, lo), max(0, min(hi, self.frames))
        self.file.seek(a * self.channels * 4)
        raw = np.frombuffer(self.file.read(max(0, b - a) * self.channels * 4), np.float32)
        data = raw.reshape(-1, self.channels).T.astype(np.float64)
        return _padded(data, lo, hi, self.frames)

    def close(self) -> None:
        self.file.close()
