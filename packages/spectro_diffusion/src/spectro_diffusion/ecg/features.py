"""The four arrays of one ECG window, as `ecg-prepare` writes them.

Definitions (window x of L samples at fs Hz; image of H frequency rows x W time columns):

- `images`: log power scalogram, image[f, w] = log(mean over the samples of column w of
  |CWT_f(x)|^2 + EPS). The CWT uses a complex Morlet wavelet (omega0 = 6) at H frequencies
  spaced logarithmically from fmin to fmax (row 0 = fmin). It is normalised so that a
  sinusoid of amplitude A at a row's centre frequency gives |CWT| ~= A, i.e. power A^2.
- `freq_embeddings`: log time-averaged power per frequency row,
  freq[f] = log(mean_w exp(image[f, w])) = log(mean over all samples of |CWT_f|^2 + EPS),
  a known function of the image (`freq_from_image`), exact because every column averages the
  same number of samples.
- `amp_init`: the window z-scored (zero mean, unit standard deviation), resampled to W samples
  with a polyphase anti-aliasing filter (`scipy.signal.resample_poly`).
- `emb_init`: the image averaged over a coarse grid of blocks (8 x 8 by default) and repeated
  back to H x W (nearest neighbour), so it carries the layout of the image but not its detail.

The CWT is computed here in the frequency domain with numpy because `scipy.signal.cwt` was
removed in SciPy 1.15 and PyWavelets is not a dependency; it is a few lines (Torrence & Compo
1998, Eq. 4 with the analytic Morlet, Table 1).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import resample_poly

EPS = 1e-8
MORLET_W0 = 6.0


def morlet_frequencies(fmin: float, fmax: float, n: int) -> np.ndarray:
    """(n,) centre frequencies in Hz, log-spaced from fmin to fmax (ascending)."""
    if not 0 < fmin < fmax:
        raise ValueError(f"need 0 < fmin < fmax, got fmin={fmin}, fmax={fmax}")
    return np.geomspace(fmin, fmax, n)


def morlet_cwt(x: np.ndarray, fs: float, freqs: np.ndarray, w0: float = MORLET_W0) -> np.ndarray:
    """Complex Morlet CWT of x (L,) -> (len(freqs), L), amplitude-normalised.

    In the frequency domain the analytic Morlet at scale s is 2 exp(-(s omega - w0)^2 / 2) for
    omega > 0, with s = w0 / (2 pi f) so its peak sits at f; the factor 2 makes a real sinusoid
    A cos(2 pi f t) map to |CWT| = A at the matching row. The signal is reflect-padded by half
    its length on both sides to tame edge effects.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    pad = n // 2
    xp = np.pad(x, pad, mode="reflect") if n > 1 else x
    spectrum = np.fft.fft(xp)
    omega = 2 * np.pi * np.fft.fftfreq(xp.shape[-1], d=1.0 / fs)
    scales = w0 / (2 * np.pi * np.asarray(freqs, dtype=np.float64))
    arg = scales[:, None] * omega[None, :] - w0
    kernel = np.where(omega[None, :] > 0, 2.0 * np.exp(-0.5 * arg**2), 0.0)
    coeffs = np.fft.ifft(spectrum[None, :] * kernel, axis=-1)
    return coeffs[:, pad : pad + n]


def scalogram_image(
    x: np.ndarray, fs: float, freqs: np.ndarray, width: int, w0: float = MORLET_W0
) -> np.ndarray:
    """Window x (L,) -> log power image (len(freqs), width); L must be a multiple of width."""
    n = x.shape[-1]
    if n % width:
        raise ValueError(f"window length {n} must be a multiple of the image width {width}")
    power = np.abs(morlet_cwt(x, fs, freqs, w0)) ** 2
    pooled = power.reshape(len(freqs), width, n // width).mean(axis=-1)
    return np.log(pooled + EPS)


def freq_from_image(image: np.ndarray) -> np.ndarray:
    """(..., H, W) log power image -> (..., H): log of the time-averaged power per row."""
    m = image.max(axis=-1, keepdims=True)
    return (m + np.log(np.mean(np.exp(image - m), axis=-1, keepdims=True)))[..., 0]


def amp_init_from_window(x: np.ndarray, width: int) -> np.ndarray:
    """Window x (L,) -> (width,): z-scored, then polyphase-resampled to `width` samples."""
    x = np.asarray(x, dtype=np.float64)
    z = (x - x.mean()) / max(float(x.std()), 1e-12)
    return resample_poly(z, width, x.shape[-1])


def coarse_image(image: np.ndarray, grid: int) -> np.ndarray:
    """(H, W) -> (H, W): means over a grid x grid set of blocks, repeated back to H x W."""
    h, w = image.shape
    if h % grid or w % grid:
        raise ValueError(f"image {h}x{w} cannot be split into a {grid}x{grid} grid of blocks")
    blocks = image.reshape(grid, h // grid, grid, w // grid).mean(axis=(1, 3))
    return np.repeat(np.repeat(blocks, h // grid, axis=0), w // grid, axis=1)


def window_arrays(
    x: np.ndarray,
    fs: float,
    freqs: np.ndarray,
    width: int,
    grid: int,
    w0: float = MORLET_W0,
) -> dict[str, np.ndarray]:
    """The four float32 arrays of one window: images (H, W), freq_embeddings (H,),
    amp_init (W,), emb_init (H, W)."""
    image = scalogram_image(x, fs, freqs, width, w0)
    return {
        "images": image.astype(np.float32),
        "freq_embeddings": freq_from_image(image).astype(np.float32),
        "amp_init": amp_init_from_window(x, width).astype(np.float32),
        "emb_init": coarse_image(image, grid).astype(np.float32),
    }
