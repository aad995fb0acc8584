"""Audio <-> log-mel images: load, resample, trim, fix length, log-mel, [-1, 1] scaling, cache,
and the way back (mel -> linear magnitude -> Griffin-Lim) with its spectral convergence.

The STFT, its inverse, Griffin-Lim, silence trimming, the mel filterbank and its
non-negative least-squares inverse are written here on torch / numpy with librosa's
conventions (periodic Hann window, centred frames, zero padding; `librosa.effects.trim`'s
rule; `librosa.filters.mel`'s Slaney scale and area normalisation; the NNLS problem of
`librosa.feature.inverse.mel_to_stft`): importing librosa's spectral modules loads and
compiles their numba code, 10-25 s on the first call in every process (measured on the
project's CPU, `benchmarks/bench_gl_startup.py`), longer than a whole generation. The
functions here start in milliseconds; the tests hold them to librosa's results. librosa is
still used for resampling (preprocessing only).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch

from sigshared.files import unique_temp_path


@dataclass(frozen=True)
class MelSettings:
    """How a clip becomes an (n_mels, n_frames) image. The duration is n_frames * hop / sr."""

    sample_rate: int = 22_050
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 128
    n_frames: int = 128
    fmin: float = 0.0
    fmax: float = 8000.0
    trim_top_db: float = 40.0
    top_db: float = 80.0  # dynamic range kept below the dataset's maximum

    @property
    def num_samples(self) -> int:
        """Samples of the fixed-length clip whose STFT (centred) has n_frames frames."""
        return (self.n_frames - 1) * self.hop_length

    def key(self) -> str:
        """A short hash of the settings, used to key cached features."""
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


class AudioReadError(ValueError):
    """A file that is not readable audio, or holds no usable signal."""


def trim_silence(
    audio: np.ndarray, top_db: float, frame_length: int = 2048, hop_length: int = 512
) -> np.ndarray:
    """`audio` without its leading and trailing frames quieter than `top_db` below the loudest.

    Frames are centred (zero padding of frame_length / 2 at both ends); a frame counts as
    sound when its mean square is within `top_db` of the loudest frame's, and the kept span
    runs from the first sound frame's start to the last one's end, as librosa.effects.trim.
    """
    n_frames = 1 + len(audio) // hop_length
    padded = np.pad(audio, frame_length // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop_length]
    mse = (frames[:n_frames].astype(np.float64) ** 2).mean(axis=1)
    db = 10 * np.log10(np.maximum(mse, 1e-10) / max(mse.max(), 1e-10))
    sound = np.flatnonzero(db > -top_db)
    if sound.size == 0:
        return audio[:0]
    return audio[sound[0] * hop_length : min(len(audio), (sound[-1] + 1) * hop_length)]


def load_clip(path: str | Path, s: MelSettings) -> np.ndarray:
    """Mono float32 clip of exactly `s.num_samples` samples at `s.sample_rate`.

    Resampled, silence at both ends trimmed (`trim_top_db` below the peak), then cropped
    (centre) or zero-padded (end) to the fixed duration.
    """
    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises its own LibsndfileError / RuntimeError
        raise AudioReadError(f"cannot read audio file {path}: {err}") from None
    audio = audio.mean(axis=1)
    if audio.size == 0 or not np.isfinite(audio).all():
        raise AudioReadError(f"audio file {path} is empty or holds NaN/Inf samples")
    if sr != s.sample_rate:
        audio = librosa.resample(audio, orig_sr=sr, target_sr=s.sample_rate)
    if np.abs(audio).max() > 0:
        audio = trim_silence(audio, s.trim_top_db)
    n = s.num_samples
    if audio.size >= n:
        start = (audio.size - n) // 2
        return audio[start : start + n].astype(np.float32)
    return np.pad(audio, (0, n - audio.size)).astype(np.float32)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    linear = f / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, linear)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    """Inverse of `_hz_to_mel`."""
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * 200.0 / 3)


def mel_filterbank(s: MelSettings) -> np.ndarray:
    """(n_mels, 1 + n_fft/2) float64 triangular filters, as `librosa.filters.mel` (Slaney
    scale, each filter normalised to unit area: 2 / bandwidth), from fmin to fmax."""
    freqs = np.linspace(0, s.sample_rate / 2, 1 + s.n_fft // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(s.fmin), _hz_to_mel(s.fmax), s.n_mels + 2))
    width = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / width[:-1, None]
    upper = ramps[2:] / width[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def _window(n_fft: int) -> torch.Tensor:
    # float64 throughout: clips are short, and the inversion loop of Griffin-Lim gains from it.
    return torch.hann_window(n_fft, periodic=True, dtype=torch.float64)


def stft(audio: np.ndarray | torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """(samples,) -> (1 + n_fft/2, frames) complex128 STFT as `librosa.stft` computes it:
    periodic Hann window, frames centred with n_fft/2 zeros of padding at both ends."""
    x = torch.as_tensor(audio, dtype=torch.float64)
    return torch.stft(
        x,
        n_fft,
        hop_length,
        window=_window(n_fft),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )


def istft(spec: torch.Tensor, n_fft: int, hop_length: int, length: int) -> torch.Tensor:
    """Inverse of `stft` (weighted overlap-add), `length` samples, float64."""
    return torch.istft(spec, n_fft, hop_length, window=_window(n_fft), center=True, length=length)


def mel_db(audio: np.ndarray, s: MelSettings) -> np.ndarray:
    """(num_samples,) clip -> (n_mels, n_frames) power mel spectrogram in dB (ref 1.0)."""
    power = stft(audio, s.n_fft, s.hop_length).abs().numpy() ** 2
    mel = mel_filterbank(s).astype(np.float32) @ power[:, : s.n_frames]
    return (10 * np.log10(np.maximum(mel, 1e-10))).astype(np.float32)


def scale_db(db: np.ndarray, db_max: float, top_db: float) -> np.ndarray:
    """dB -> [-1, 1]: [db_max - top_db, db_max] maps linearly to [-1, 1], outside clipped."""
    return (2 * (np.clip(db, db_max - top_db, db_max) - (db_max - top_db)) / top_db - 1).astype(
        np.float32
    )


def unscale_db(x: np.ndarray, db_max: float, top_db: float) -> np.ndarray:
    """Inverse of `scale_db` on [-1, 1] (inputs outside are clipped first)."""
    return ((np.clip(x, -1, 1) + 1) / 2 * top_db + db_max - top_db).astype(np.float32)


def cached_mel_db(path: str | Path, s: MelSettings, cache_dir: str | Path | None) -> np.ndarray:
    """`mel_db(load_clip(path))`, cached as NPY keyed by the file (path, size, mtime) and the
    settings, so a changed file or setting never returns a stale image."""
    path = Path(path)
    if cache_dir is None:
        return mel_db(load_clip(path, s), s)
    st = path.stat()
    ident = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{s.key()}"
    name = hashlib.sha1(ident.encode()).hexdigest()[:16] + ".npy"
    cache = Path(cache_dir) / name
    if cache.is_file():
        return np.load(cache)
    db = mel_db(load_clip(path, s), s)
    cache.parent.mkdir(parents=True, exist_ok=True)
    # A name unique to this process and call: two commands filling one cache never collide,
    # and the rename makes the finished file appear whole.
    tmp = unique_temp_path(cache)
    with open(tmp, "wb") as f:
        np.save(f, db)
    tmp.replace(cache)
    return db


def nnls(a: np.ndarray, b: np.ndarray, n_iter: int = 100) -> np.ndarray:
    """argmin_{X >= 0} ||a X - b||_F for a (m, n) and b (m, T): (n, T) float64.

    Accelerated projected gradient (FISTA, Beck & Teboulle 2009) from the clipped
    pseudo-inverse solution, as librosa's `util.nnls` starts its L-BFGS-B. The columns are
    independent and the solution scales with its column, so each column is solved at unit peak
    and scaled back: quiet frames converge as fast as loud ones.
    """
    a_t = torch.from_numpy(np.asarray(a, dtype=np.float64))
    b_t = torch.from_numpy(np.asarray(b, dtype=np.float64))
    scale = b_t.abs().amax(dim=0, keepdim=True).clamp_min(1e-300)
    b_t = b_t / scale
    step = 1.0 / float(torch.linalg.matrix_norm(a_t, ord=2)) ** 2  # 1 / Lipschitz constant
    x = (torch.linalg.pinv(a_t) @ b_t).clamp_min(0)
    y, t = x, 1.0
    for _ in range(n_iter):
        x_next = (y - step * (a_t.T @ (a_t @ y - b_t))).clamp_min(0)
        t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
        y = x_next + ((t - 1) / t_next) * (x_next - x)
        x, t = x_next, t_next
    return (x * scale).numpy()


def mel_to_magnitude(db: np.ndarray, s: MelSettings) -> np.ndarray:
    """(n_mels, T) power-mel dB -> (1 + n_fft/2, T) linear STFT magnitude: the non-negative
    power spectrum whose mel projection is closest (least squares), square-rooted."""
    power_mel = 10.0 ** (db.astype(np.float64) / 10)
    return np.sqrt(nnls(mel_filterbank(s), power_mel))


def spectral_convergence(magnitude: np.ndarray, audio: np.ndarray, s: MelSettings) -> float:
    """|| S - |STFT(audio)| ||_F / || S ||_F over the frames of S (0 = perfect)."""
    got = stft(audio, s.n_fft, s.hop_length).abs().numpy()
    t = min(got.shape[1], magnitude.shape[1])
    diff = magnitude[:, :t] - got[:, :t]
    return float(np.linalg.norm(diff) / max(np.linalg.norm(magnitude[:, :t]), 1e-12))


def griffin_lim(
    db: np.ndarray, s: MelSettings, n_iter: int = 60, momentum: float = 0.99, seed: int = 0
) -> tuple[np.ndarray, float]:
    """(n_mels, T) dB -> (audio of (T - 1) * hop samples, spectral convergence).

    The mel image is turned into a linear magnitude, then the fast Griffin-Lim of Perraudin
    et al. (2013) estimates a phase, as `librosa.griffinlim` does: random initial phases,
    c_n = STFT(ISTFT(S e^{i phi})), t_n = c_n - momentum / (1 + momentum) * c_{n-1},
    phi = angle(t_n). The convergence is measured against that linear magnitude.
    """
    magnitude = mel_to_magnitude(db, s)
    mag = torch.from_numpy(magnitude.astype(np.float64))
    length = (db.shape[1] - 1) * s.hop_length
    rng = np.random.default_rng(seed)
    angles = torch.from_numpy(np.exp(2j * np.pi * rng.random(magnitude.shape)))
    previous = torch.zeros_like(angles)
    for _ in range(n_iter):
        rebuilt = stft(istft(mag * angles, s.n_fft, s.hop_length, length), s.n_fft, s.hop_length)
        accelerated = rebuilt - momentum / (1 + momentum) * previous
        angles = accelerated / (accelerated.abs() + 1e-16)
        previous = rebuilt
    audio = istft(mag * angles, s.n_fft, s.hop_length, length).numpy().astype(np.float32)
    return audio, spectral_convergence(magnitude, audio, s)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> str | None:
    """Peak-normalise to 0.95 and write 16-bit PCM; a silent or non-finite clip is not
    written and the reason is returned instead (None on success)."""
    if not np.isfinite(audio).all():
        return "non-finite samples"
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak < 1e-6:
        return "silent (peak below 1e-6)"
    sf.write(str(path), 0.95 * audio / peak, sample_rate, subtype="PCM_16")
    return None
