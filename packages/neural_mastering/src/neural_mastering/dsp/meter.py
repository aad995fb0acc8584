"""Streaming level meters: BS.1770 loudness (integrated, momentary / short-term maxima, EBU
Tech 3342 loudness range), the independent 8x FFT true-peak meter, and a mean spectrum, fed
block by block so a file of any length is measured in bounded memory.

`LoudnessMeter` K-weights with the exact IIR sections of `dsp.loudness` (scipy sosfilt, the
filter state carried from block to block, so any block size gives the whole-signal result to
float rounding) and keeps only the per-window mean squares (one value per 100 ms hop); the
gating and percentiles are those of `dsp.loudness`, applied to those values.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal

from neural_mastering.dsp import interp
from neural_mastering.dsp.eq import to_sos
from neural_mastering.dsp.loudness import (
    ABSOLUTE_GATE_LUFS,
    BLOCK_S,
    CHANNEL_WEIGHTS,
    LRA_PERCENTILES,
    LRA_RELATIVE_GATE_LU,
    OVERLAP,
    RELATIVE_GATE_LU,
    SHORT_TERM_S,
    WINDOW_HOP_S,
    k_weighting_coefficients,
)


def _lufs(power: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(power > 0, -0.691 + 10 * np.log10(np.maximum(power, 1e-300)), -np.inf)


class _Windows:
    """Mean of a running power signal over windows of `size` samples every `hop` samples."""

    def __init__(self, size: int, hop: int) -> None:
        self.size, self.hop = size, hop
        self.next_start = 0
        self.means: list[np.ndarray] = []

    def feed(self, csum: np.ndarray, tail_start: int) -> int:
        """Emit every window inside [tail_start, tail_start + len(csum) - 1), csum being the
        running power's cumulative sum there from 0; return the first sample still needed."""
        end = tail_start + len(csum) - 1
        last = end - self.size
        if last >= self.next_start:
            starts = np.arange(self.next_start, last + 1, self.hop)
            local = starts - tail_start
            self.means.append((csum[local + self.size] - csum[local]) / self.size)
            self.next_start = int(starts[-1]) + self.hop
        return self.next_start

    def values(self) -> np.ndarray:
        return np.concatenate(self.means) if self.means else np.zeros(0)


class LoudnessMeter:
    """BS.1770-4 / EBU R128 loudness of audio fed as consecutive (C, n) blocks."""

    def __init__(self, sample_rate: int, channels: int) -> None:
        b, a = k_weighting_coefficients(sample_rate)
        self.sos = to_sos(b, a)
        self.zi = np.zeros((self.sos.shape[0], channels, 2))
        self.weights = np.asarray(CHANNEL_WEIGHTS[:channels])[:, None]
        self.gating = _Windows(
            round(BLOCK_S * sample_rate), round(BLOCK_S * (1 - OVERLAP) * sample_rate)
        )
        self.momentary = _Windows(round(BLOCK_S * sample_rate), round(WINDOW_HOP_S * sample_rate))
        self.short = _Windows(round(SHORT_TERM_S * sample_rate), round(WINDOW_HOP_S * sample_rate))
        self.tail = np.zeros(0)
        self.tail_start = 0

    def feed(self, block: np.ndarray) -> None:
        """block: (C, n) float, the next n samples."""
        y, self.zi = scipy.signal.sosfilt(
            self.sos, np.asarray(block, np.float64), axis=-1, zi=self.zi
        )
        self.tail = np.concatenate([self.tail, (y * y * self.weights).sum(0)])
        csum = np.concatenate([[0.0], np.cumsum(self.tail)])
        keep = min(w.feed(csum, self.tail_start) for w in (self.gating, self.momentary, self.short))
        drop = keep - self.tail_start
        if drop > 0:
            self.tail, self.tail_start = self.tail[drop:], keep

    def integrated(self) -> float:
        """Gated integrated loudness, LUFS (-inf when no block passes the gates)."""
        power = self.gating.values()
        block = _lufs(power)
        above = (block >= ABSOLUTE_GATE_LUFS) & (power > 0)
        if not above.any():
            return -math.inf
        relative = float(_lufs(np.array([power[above].mean()]))[0]) + RELATIVE_GATE_LU
        gated = above & (block > relative)
        return float(_lufs(np.array([power[gated].mean()]))[0]) if gated.any() else -math.inf

    def momentary_max(self) -> float:
        v = self.momentary.values()
        return float(_lufs(v).max()) if v.size else -math.inf

    def short_term_max(self) -> float:
        v = self.short.values()
        return float(_lufs(v).max()) if v.size else -math.inf

    def loudness_range(self) -> float:
        """EBU Tech 3342 loudness range, LU (as `dsp.loudness.loudness_range`)."""
        values = _lufs(self.short.values())
        values = values[values >= ABSOLUTE_GATE_LUFS]
        if values.size == 0:
            return 0.0
        relative = float(_lufs(np.array([(10 ** ((values + 0.691) / 10)).mean()]))[0])
        values = values[values >= relative + LRA_RELATIVE_GATE_LU]
        low, high = np.percentile(values, LRA_PERCENTILES)
        return float(high - low)


class FFTPeakMeter:
    """The independent true-peak meter of `metrics.true_peak_fft_db` (FFT interpolation to
    `factor` x the rate of `block`-sample blocks with `halo` samples either side, discarded)
    fed as consecutive (C, n) blocks; the same grid as the whole-signal function, so the same
    reading (to float32 rounding, 1e-6 dB: the FFTs are `dsp.interp`'s). With `floor`, a
    block whose bound (twice its largest |sample|, halo included) stays under both `floor` and
    the peak found so far is not oversampled: the reading is exact whenever it exceeds
    `floor`."""

    def __init__(
        self, factor: int = 8, block: int = 1 << 15, halo: int = 2048, floor: float = 0.0
    ) -> None:
        self.factor, self.block, self.halo, self.floor = factor, block, halo, floor
        self.buffer: np.ndarray | None = None  # samples from block start - halo on
        self.peak = 0.0

    def _measure(self, segment: np.ndarray, keep: int) -> None:
        largest = float(np.abs(segment).max(initial=0.0))
        if self.floor > 0 and 2 * largest < max(self.floor, self.peak):
            self.peak = max(self.peak, largest)
            return
        up = interp.ideal(interp.spectrum(segment), segment.shape[-1], self.factor)
        core = up[:, self.factor * self.halo : self.factor * (self.halo + keep)]
        self.peak = max(self.peak, float(core.max()), float(-core.min()), largest)

    def feed(self, block: np.ndarray) -> None:
        block = np.asarray(block, np.float64)
        if self.buffer is None:
            self.buffer = np.zeros((block.shape[0], self.halo))
        self.buffer = np.concatenate([self.buffer, block], axis=-1)
        while self.buffer.shape[-1] >= self.block + 2 * self.halo:
            self._measure(self.buffer[:, : self.block + 2 * self.halo], self.block)
            self.buffer = self.buffer[:, self.block :]

    def true_peak_db(self) -> float:
        """Flush the last block (silence after the end) and return the reading in dBTP."""
        if self.buffer is not None and self.buffer.shape[-1] > self.halo:
            keep = self.buffer.shape[-1] - self.halo
            pad = np.pad(self.buffer, ((0, 0), (0, self.halo)))
            self._measure(pad, keep)
            self.buffer = self.buffer[:, :0]
        return float(20 * np.log10(max(self.peak, 1e-12)))


class SpectrumMeter:
    """Welch's mean power spectral density (Hann, `nperseg` samples, half overlap, mean
    removed per segment: scipy.signal.welch's defaults) of the channel mean, fed in blocks."""

    def __init__(self, sample_rate: int, nperseg: int = 8192) -> None:
        self.sr, self.nperseg = sample_rate, nperseg
        self.buffer = np.zeros(0)
        self.total: np.ndarray | None = None
        self.count = 0

    def feed(self, block: np.ndarray) -> None:
        self.buffer = np.concatenate([self.buffer, np.asarray(block, np.float64).mean(0)])
        step = self.nperseg // 2
        n = (len(self.buffer) - self.nperseg) // step + 1
        if n <= 0:
            return
        span = self.buffer[: (n - 1) * step + self.nperseg]
        f, _, sxx = scipy.signal.spectrogram(
            span, self.sr, window="hann", nperseg=self.nperseg, noverlap=step
        )
        self.freqs = f
        s = sxx.sum(-1)
        self.total = s if self.total is None else self.total + s
        self.count += n
        self.buffer = self.buffer[n * step :]

    def psd(self) -> tuple[np.ndarray, np.ndarray]:
        """(frequencies Hz, mean PSD); one short segment when the signal was shorter."""
        if self.total is None:
            return scipy.signal.welch(
                self.buffer, self.sr, nperseg=min(self.nperseg, len(self.buffer))
            )
        return self.freqs, self.total / self.count


def fir_segment_peak(
    segment: np.ndarray, halo: int, length: int, start: int, spec: np.ndarray | None = None
) -> float:
    """Linear true peak of the samples [start, start + n) of a signal of `length` samples, from
    their `segment` (C, n + 2 halo) with `halo` >= 64 samples either side (zeros outside
    [0, length)) and its `interp.spectrum` when the caller has it, by
    `dsp.loudness.true_peak_db`'s 64-tap-per-phase interpolator, every local maximum of the
    4x grid (one sample either side included) lifted to its parabola's vertex (that meter
    lifts only the largest grid value of each group of blocks, so this reads at least as
    high, to float32 rounding (1e-5 dB), within its 0.02 dB accuracy). The maximum over
    consecutive spans is the whole signal's reading."""
    factor, n = 4, segment.shape[-1] - 2 * halo
    spec = interp.spectrum(segment) if spec is None else spec
    up = interp.fir(spec, segment.shape[-1], factor)
    lo, hi = (halo - 1) * factor, (halo + n + 1) * factor
    # The grid points inside the signal: positions [0, length * factor).
    first = (start - 1) * factor
    a = lo + max(0, -first)
    b = lo + min(hi - lo, length * factor - first)
    top = interp.lifted_max(np.abs(up[:, a - 1 : b + 1])) if b > a else 0.0
    return max(top, float(np.abs(segment[:, halo : halo + n]).max(initial=0.0)))
