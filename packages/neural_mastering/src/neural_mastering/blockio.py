"""Random-access block reading of audio for the streaming path, without holding a file.

`FileSource` reads any libsndfile format through `soundfile.SoundFile` (reads may overlap,
go back or jump; see its docstring for how compressed formats are handled);
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
    if left == 0 and right <= 0:
        return data
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


# Containers libsndfile seeks in exactly; in Ogg Vorbis (and compressed formats generally) a
# seek near the end of a file can land thousands of samples early and read nothing (libsndfile
# 1.2.2), so those are decoded forwards only.
EXACT_SEEK = ("WAV", "WAVEX", "W64", "RF64", "AIFF", "AIFC", "CAF", "AU", "FLAC")
LOOKBACK = 1 << 17  # decoded samples kept for reads that step back (overlapping windows)


class FileSource:
    """An audio file read block by block (use as a context manager).

    Reads may overlap and go back: the last LOOKBACK decoded samples are kept; a read
    further back reopens the file. Forward jumps seek in EXACT_SEEK containers and decode
    and discard in the others (MP3, Ogg Vorbis, ...).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.file = sf.SoundFile(self.path)
        self.sample_rate = int(self.file.samplerate)
        self.channels, self.frames = int(self.file.channels), int(self.file.frames)
        self.exact_seek = self.file.format in EXACT_SEEK
        self._kept = np.zeros((self.channels, 0), np.float32)  # samples [_start, _position)
        self._start = self._position = 0

    def _jump(self, to: int) -> None:
        """Continue decoding at sample `to` with nothing kept."""
        if self.exact_seek:
            self.file.seek(to)
        else:
            if to < self._position:
                self.file.close()
                self.file = sf.SoundFile(self.path)
                self._position = 0
            while self._position < to:
                got = len(self.file.read(min(to - self._position, LOOKBACK), dtype="float32"))
                if got == 0:  # the end came early
                    break
                self._position += got
        self._kept = np.zeros((self.channels, 0), np.float32)
        self._start = self._position = to

    def read(self, lo: int, hi: int) -> np.ndarray:
        a, b = max(0, lo), max(0, min(hi, self.frames))
        if b <= a:
            return _padded(np.zeros((self.channels, 0)), lo, hi, self.frames)
        if a < self._start or a > self._position:
            self._jump(a)
        if b > self._position:
            more = self.file.read(b - self._position, dtype="float32", always_2d=True).T
            self._kept = np.concatenate([self._kept, more], axis=1)
            self._position += more.shape[-1]
            drop = max(0, self._kept.shape[-1] - max(LOOKBACK, b - a))
            self._kept, self._start = self._kept[:, drop:], self._start + drop
        data = self._kept[:, a - self._start : b - self._start]
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
