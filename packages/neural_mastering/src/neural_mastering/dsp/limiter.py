"""A true-peak, look-ahead brickwall limiter (numpy, offline over a whole signal).

Why written here: pedalboard's `Limiter` (JUCE's) is a fast compressor on sample peaks, with
no look-ahead and no true-peak detection, so it can neither guarantee a true-peak ceiling nor
avoid distorting the attack; no other maintained Python package offers one.

The gain is computed in dB of reduction, per sample, shared by all channels (linked, so the
stereo image does not move):

1. envelope e[n]: the largest |interpolated value| of any channel within one sample of n
   (`true_peak_envelope`: ideal 4x interpolation, `dsp.interp`);
2. required reduction A[n] = max(0, 20 log10 e[n] - threshold);
3. look-ahead hold H[n] = max(A[n .. n+L-1]), L = look-ahead samples;
4. release R[n] = max(H[n], R[n-1] * r), r = exp(-1 / release samples): an exponential
   return of the reduction in dB, computed without a loop in the log domain
   (log R[n] = n log r + cummax(log H[m] - m log r));
5. attack S[n] = mean(R[n-L+1 .. n]): a linear fade into each reduction over L samples.

S[n] >= A[n] for every n: each of the L values averaged holds a window that contains n, so
every sample is reduced at least as far as its envelope requires, and the fade starts L
samples before the peak (the look-ahead). Samples before the start count as unreduced input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage

from neural_mastering.dsp import interp

OVERSAMPLING = 4
# Envelope blocks: samples per block and discarded context either side (the FFT's wrap).
# (The grid of the independent 8x meter, `metrics.true_peak_fft_db`: the streamed peak check
# computes both from one FFT per block.)
BLOCK, HALO = 1 << 15, 2048
# Pruning bound: an interpolated value is taken to be at most BOUND (+6 dB) times the largest
# |sample| within BOUND_REACH samples (a 64-tap-per-phase interpolator's L1 norm is 1.9).
BOUND, BOUND_REACH = 2.0, 64


def oversampled(segment: np.ndarray, floor: float) -> bool:
    """Whether `block_envelope` oversamples this grid segment: its bound (`BOUND` times its
    largest |sample| within `BOUND_REACH` of the block) reaches `floor`."""
    reach = np.abs(segment[:, HALO - BOUND_REACH : HALO + BLOCK + BOUND_REACH]).max()
    return bool(reach * BOUND >= floor)


def grid_envelope(segment: np.ndarray, up: np.ndarray) -> np.ndarray:
    """The envelope (BLOCK,) of one grid block from its `segment` (C, BLOCK + 2 HALO) and the
    segment's ideal 4x interpolation `up` (C, 4 (BLOCK + 2 HALO))."""
    core = np.abs(segment[:, HALO : HALO + BLOCK]).max(0)
    # The grid points of samples HALO - 1 .. HALO + BLOCK - 1, with one neighbour either side.
    lo, hi = (HALO - 1) * OVERSAMPLING, (HALO + BLOCK) * OVERSAMPLING
    lifted = interp.lift_maxima(np.abs(up[:, lo - 1 : hi + 1]))[:, 1:-1].max(0)
    # The grid points in [n, n+1) belong to sample n; the envelope takes (n-1, n+1).
    # (strided maxima: numpy reduces a short last axis slowly)
    per_sample = lifted[0::OVERSAMPLING]
    for phase in range(1, OVERSAMPLING):
        per_sample = np.maximum(per_sample, lifted[phase::OVERSAMPLING])
    return np.maximum(core, np.maximum(per_sample[1:], per_sample[:-1]))


def grid_envelope_max(segment: np.ndarray, up: np.ndarray, count: int = BLOCK) -> float:
    """max of `grid_envelope(segment, up)[:count]`, lifting only the grid points that can
    reach it (`interp.lifted_max`)."""
    core = float(np.abs(segment[:, HALO : HALO + count]).max(initial=0.0))
    lo, hi = (HALO - 1) * OVERSAMPLING, (HALO + count) * OVERSAMPLING
    return max(core, interp.lifted_max(np.abs(up[:, lo - 1 : hi + 1])))


def block_envelope(segment: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """The envelope (BLOCK,) of one grid block from its `segment` (C, BLOCK + 2 HALO): the
    block's samples with HALO samples either side (zeros beyond the signal's ends). See
    `true_peak_envelope`; every block of the grid is computed alone, so a signal streamed
    through in any block size gets the same envelope."""
    if not oversampled(segment, floor):
        return np.abs(segment[:, HALO : HALO + BLOCK]).max(0)
    up = interp.ideal(interp.spectrum(segment), segment.shape[-1], OVERSAMPLING)
    return grid_envelope(segment, up)


def block_segment(read, k: int) -> np.ndarray:
    """The segment (C, BLOCK + 2 HALO) of grid block k that `read(lo, hi)` gives."""
    return read(k * BLOCK - HALO, (k + 1) * BLOCK + HALO)


def envelope_span(read, length: int, start: int, stop: int, floor: float = 0.0) -> np.ndarray:
    """`true_peak_envelope` of the samples [start, stop) of a signal of `length` samples that
    `read(lo, hi)` returns as (C, hi - lo), zeros outside [0, length); the envelope is 0
    outside too. Computes the grid blocks the span touches."""
    out = np.zeros(stop - start)
    for blk in range(max(0, start // BLOCK), min(-(-length // BLOCK), -(-stop // BLOCK))):
        lo = blk * BLOCK
        env = block_envelope(block_segment(read, blk), floor)
        env[max(0, length - lo) :] = 0.0
        a, b = max(start, lo), min(stop, lo + BLOCK)
        out[a - start : b - start] = env[a - lo : b - lo]
    return out


def true_peak_envelope(x: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Linked true-peak envelope of x (C, T): (T,) float64, the largest |value| of any channel
    at sample n or on the 4x band-limited interpolation grid within one sample of it, each grid
    maximum refined by a parabola through it and its neighbours.

    The interpolation is the ideal (periodic sinc) one, by FFT in float32 (`dsp.interp`), of
    blocks with `HALO` samples either side (silence beyond the file's ends): a FIR
    interpolator's transition band reads content near the Nyquist frequency low (0.05-0.1 dB
    on saturated, bright mixes), and the ceiling must hold for an ideal reconstruction. Exact
    wherever it exceeds `floor`; elsewhere it may read |x| instead: blocks whose bound
    (`BOUND` times their largest |sample| with its neighbourhood) stays below `floor` are not
    oversampled.
    """
    x64 = np.asarray(x, np.float64)
    t = x64.shape[-1]

    def read(lo: int, hi: int) -> np.ndarray:
        return np.pad(
            x64[:, max(0, lo) : max(0, hi)], ((0, 0), (max(0, -lo), max(0, hi - max(t, lo))))
        )

    return envelope_span(read, t, 0, t, floor)


@dataclass
class LimiterResult:
    """Limited audio (C, T) and the gain reduction per sample (T,) in dB (>= 0)."""

    audio: np.ndarray
    reduction_db: np.ndarray


def reduction_curve(required_db: np.ndarray, lookahead: int, release: float) -> np.ndarray:
    """Steps 3-5 of the module docstring: the reduction S (T,) dB from A (T,) dB, with the
    look-ahead `lookahead` samples and the release time constant `release` samples."""
    t, n = len(required_db), max(1, int(lookahead))
    padded = np.concatenate([np.zeros(n), required_db, np.zeros(n)])
    hold = scipy.ndimage.maximum_filter1d(padded, n, origin=-(n // 2), mode="constant")
    log_r = -1.0 / max(release, 1.0)
    m = np.arange(len(hold), dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_hold = np.where(hold > 0, np.log(np.maximum(hold, 1e-300)), -np.inf)
    released = np.exp(m * log_r + np.maximum.accumulate(log_hold - m * log_r))
    released = np.maximum(released, hold)
    csum = np.concatenate([[0.0], np.cumsum(released)])
    # mean(released[j .. j+n-1]); sample i sits at padded index i + n, so its mean over
    # released[i+1 .. i+n] is window j = i + 1.
    smoothed = (csum[n:] - csum[:-n]) / n
    return smoothed[1 : 1 + t]


def limit(
    x: np.ndarray,
    sample_rate: int,
    threshold_db: float,
    lookahead_ms: float = 5.0,
    release_ms: float = 60.0,
    envelope: np.ndarray | None = None,
    gain_db: float = 0.0,
) -> LimiterResult:
    """Limit x (C, T) * 10^(gain_db/20) so its true-peak envelope stays at or below
    threshold_db dBFS. `envelope` (of x without the gain) can be passed in to save its
    computation when the same signal is limited at several gains."""
    env = (
        true_peak_envelope(x, 10 ** ((threshold_db - gain_db) / 20))
        if envelope is None
        else envelope
    )
    with np.errstate(divide="ignore"):
        level = 20 * np.log10(np.maximum(env, 1e-12)) + gain_db
    required = np.maximum(0.0, level - threshold_db)
    lookahead = round(lookahead_ms * 1e-3 * sample_rate)
    reduction = reduction_curve(required, lookahead, release_ms * 1e-3 * sample_rate)
    gain = 10 ** ((gain_db - reduction) / 20)
    return LimiterResult(audio=(x * gain).astype(np.float64), reduction_db=reduction)


def remove_overs(
    y: np.ndarray,
    sample_rate: int,
    threshold_db: float,
    lookahead_ms: float = 5.0,
    release_ms: float = 60.0,
    max_passes: int = 4,
) -> LimiterResult:
    """Limit y (C, T) again, from its own envelope, until no true peak exceeds threshold_db.

    Why: `limit` computes its gain from the envelope of its input, and multiplying by a gain
    that moves changes the interpolated values between samples a little (up to 0.3 dB on
    white noise limited by 5 dB); each pass reduces only what is still over, so two or three
    passes reach the threshold. Returns the audio and the extra reduction in dB.
    """
    total = np.zeros(y.shape[-1])
    threshold = 10 ** (threshold_db / 20)
    for _ in range(max_passes):
        env = true_peak_envelope(y, threshold)
        if env.max() <= threshold:
            break
        # Aim 0.005 dB lower, so that float rounding does not leave a 1e-7 over for another pass.
        step = limit(y, sample_rate, threshold_db - 0.005, lookahead_ms, release_ms, envelope=env)
        y, total = step.audio, total + step.reduction_db
    return LimiterResult(audio=y, reduction_db=total)


class StreamLimiter:
    """`limit` over consecutive blocks, with the release and attack state carried across
    block boundaries: the same reduction as `reduction_curve` on the whole signal (to float
    rounding; tested).

    With H[k] = max A[k .. k+L-1] (the look-ahead hold), R[k] = max(H[k], r R[k-1]) (the
    release) and S[k] = mean R[k-L+1 .. k] (the attack), a block [s, e) needs A over
    [s - L, e + L), the carried R[s-1] and the L - 1 values of R before s; the first block
    also computes R over the L samples before the start (the look-ahead reaches back there).
    """

    def __init__(
        self,
        sample_rate: int,
        threshold_db: float,
        gain_db: float = 0.0,
        lookahead_ms: float = 5.0,
        release_ms: float = 60.0,
    ) -> None:
        self.threshold_db, self.gain_db = threshold_db, gain_db
        self.n = max(1, round(lookahead_ms * 1e-3 * sample_rate))
        self.log_r = -1.0 / max(release_ms * 1e-3 * sample_rate, 1.0)
        self.carry = 0.0
        self.history: np.ndarray | None = None

    @property
    def floor(self) -> float:
        """Envelope values below this need no oversampling (see `true_peak_envelope`)."""
        return 10 ** ((self.threshold_db - self.gain_db) / 20)

    def reduction(self, envelope: np.ndarray) -> np.ndarray:
        """Gain reduction (e - s,) dB of the next block from the envelope over [s - L, e + L)
        of the signal without the gain."""
        n = self.n
        # Only samples over the floor need a reduction (the logarithms are the cost here).
        over = envelope > self.floor
        required = np.zeros(len(envelope))
        if over.any():
            level = 20 * np.log10(envelope[over]) + self.gain_db
            required[over] = np.maximum(0.0, level - self.threshold_db)
            hold = scipy.ndimage.maximum_filter1d(required, n, origin=-(n // 2), mode="constant")
        else:
            hold = required
        first = self.history is None
        hold = hold[: len(required) - n] if first else hold[n : len(required) - n]
        m = np.arange(len(hold), dtype=np.float64)
        released = hold
        if hold.any():
            with np.errstate(divide="ignore"):
                log_hold = np.where(hold > 0, np.log(np.maximum(hold, 1e-300)), -np.inf)
            accumulated = np.maximum.accumulate(log_hold - m * self.log_r)
            released = np.maximum(np.exp(m * self.log_r + accumulated), hold)
        if self.carry > 0:
            released = np.maximum(released, self.carry * np.exp((m + 1) * self.log_r))
        series = released[1:] if first else np.concatenate([self.history, released])
        csum = np.concatenate([[0.0], np.cumsum(series)])
        smoothed = (csum[n:] - csum[:-n]) / n
        self.carry = float(released[-1]) if released.size else self.carry
        self.history = series[len(series) - (n - 1) :]
        return smoothed

    def apply(self, block: np.ndarray, envelope: np.ndarray) -> LimiterResult:
        """The limited block (C, e - s) from the block and its envelope over [s - L, e + L)."""
        reduction = self.reduction(envelope)
        if reduction.any():
            gain = np.exp((self.gain_db - reduction) * (np.log(10) / 20))
        else:  # (one multiplier: the exponentials are the cost)
            gain = 10 ** (self.gain_db / 20)
        return LimiterResult(audio=np.asarray(block, np.float64) * gain, reduction_db=reduction)
