"""Audio files in and out (soundfile / libsndfile) and high-quality resampling.

Resampling uses scipy.signal.resample_poly (a Kaiser-windowed polyphase FIR) with the exact
rational ratio of the two rates.
"""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf

from sigshared.errors import DataError, OutputError

MAX_CHANNELS = 2


def load_audio(path: str | Path, max_channels: int = MAX_CHANNELS) -> tuple[np.ndarray, int]:
    """Read any libsndfile format -> (float32 (C, T), sample rate). Bad input -> DataError."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"audio file not found: {p}")
    if not p.is_file():
        raise DataError(f"not a file: {p}")
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise DataError(
            f"{p} is not readable audio ({err}); give a WAV, FLAC, OGG, MP3 or AIFF file"
        ) from None
    if data.shape[0] == 0:
        raise DataError(f"{p} holds 0 samples; give a file with audio in it")
    if data.shape[1] > max_channels:
        raise DataError(
            f"{p} has {data.shape[1]} channels; expected mono or stereo (at most {max_channels})"
        )
    bad = ~np.isfinite(data)
    if bad.any():
        t, c = np.argwhere(bad)[0]
        raise DataError(f"{p} holds NaN or Inf (first at sample {t}, channel {c}); fix the file")
    return np.ascontiguousarray(data.T), int(sr)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample along the last axis from sr_in to sr_out Hz (identity when equal), float32."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    g = gcd(int(sr_in), int(sr_out))
    y = scipy.signal.resample_poly(x, sr_out // g, sr_in // g, axis=-1)
    return y.astype(np.float32)


# Output formats by extension: libsndfile's format name and the subtype written.
WRITE_FORMATS = {
    ".wav": ("WAV", "PCM_24"),
    ".flac": ("FLAC", "PCM_24"),
    ".aiff": ("AIFF", "PCM_24"),
    ".aif": ("AIFF", "PCM_24"),
    ".ogg": ("OGG", "VORBIS"),
}
WRITE_SUFFIXES = tuple(WRITE_FORMATS)


BIT_DEPTHS = ("16", "24", "32f")
_SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}


def check_audio_file(path: str | Path, max_channels: int = MAX_CHANNELS) -> None:
    """DataError unless `path` is a readable audio file with 1..max_channels channels and at
    least one sample; reads the header only."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"audio file not found: {p}")
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise DataError(
            f"{p} is not readable audio ({err}); give a WAV, FLAC, OGG, MP3 or AIFF file"
        ) from None
    if info.frames == 0:
        raise DataError(f"{p} holds 0 samples; give a file with audio in it")
    if info.channels > max_channels:
        raise DataError(
            f"{p} has {info.channels} channels; expected mono or stereo (at most {max_channels})"
        )


def tpdf_dither_16(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """x (C, T) float in [-1, 1) quantised to 16-bit integers with TPDF dither: the sum of two
    independent uniform +-0.5 LSB noises added before rounding (decorrelates the quantisation
    error from the signal). Returns int16 (C, T)."""
    scale = 32768.0
    noise = rng.uniform(-0.5, 0.5, x.shape) + rng.uniform(-0.5, 0.5, x.shape)
    return np.clip(np.round(np.asarray(x, np.float64) * scale + noise), -32768, 32767).astype(
        np.int16
    )


def write_audio(
    path: str | Path,
    x: np.ndarray,
    sample_rate: int,
    fmt: str | None = None,
    bit_depth: str = "24",
    rng: np.random.Generator | None = None,
) -> Path:
    """Write (C, T) float audio to `path` in the format of `fmt` (an extension such as ".wav";
    default: the path's own). WAV / AIFF: 16-bit (TPDF dither), 24-bit or 32-bit float; FLAC:
    16 or 24-bit; OGG: Vorbis (bit depth does not apply)."""
    p = Path(path)
    key = (fmt or p.suffix).lower()
    if key not in WRITE_FORMATS:
        raise OutputError(
            f"cannot write {p}: unknown audio format {key!r}; "
            f"use one of {', '.join(WRITE_SUFFIXES)}"
        )
    check_bit_depth(key, bit_depth)
    container, subtype = WRITE_FORMATS[key]
    data = np.asarray(x, dtype=np.float64)
    if container != "OGG":
        subtype = _SUBTYPES[bit_depth]
        if bit_depth == "16":
            data = tpdf_dither_16(data, rng if rng is not None else np.random.default_rng(0))
    sf.write(str(p), data.T, int(sample_rate), subtype=subtype, format=container)
    return p


def check_bit_depth(suffix: str, bit_depth: str) -> None:
    """OutputError when the format of `suffix` cannot hold `bit_depth`."""
    if bit_depth not in BIT_DEPTHS:
        raise OutputError(f"bit depth must be one of {', '.join(BIT_DEPTHS)}; got {bit_depth!r}")
    if suffix.lower() == ".flac" and bit_depth == "32f":
        raise OutputError("FLAC holds integer samples only; write 32-bit float to .wav or .aiff")


class AudioWriter:
    """An audio file written block by block in the format of `fmt` (as `write_audio`: 16-bit
    with TPDF dither, 24-bit, 32-bit float, or Vorbis); use as a context manager."""

    def __init__(
        self,
        path: str | Path,
        sample_rate: int,
        channels: int,
        fmt: str,
        bit_depth: str = "24",
        rng: np.random.Generator | None = None,
    ) -> None:
        key = fmt.lower()
        if key not in WRITE_FORMATS:
            raise OutputError(
                f"cannot write {path}: unknown audio format {key!r}; "
                f"use one of {', '.join(WRITE_SUFFIXES)}"
            )
        check_bit_depth(key, bit_depth)
        container, subtype = WRITE_FORMATS[key]
        self.dither = container != "OGG" and bit_depth == "16"
        if container != "OGG":
            subtype = _SUBTYPES[bit_depth]
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.file = sf.SoundFile(
            str(path), "w", int(sample_rate), channels, subtype=subtype, format=container
        )

    def write(self, block: np.ndarray) -> None:
        """block (C, n) float, the next n samples."""
        data = tpdf_dither_16(block, self.rng) if self.dither else np.asarray(block, np.float64)
        self.file.write(data.T)

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()
