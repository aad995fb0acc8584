"""Master a file of any length in bounded memory: the chain of `mastering.master_audio`,
streamed through the file in blocks (`mastering-infer` runs this for every song unless
`--reference` is given).

Memory holds a few blocks, never the song: what needs the whole song is measured in passes
that keep only running sums, and the intermediate signals go to float32 scratch files.

1. input pass: integrated loudness (`dsp.meter.LoudnessMeter`, K-weighting state carried);
   the network hears the song normalised to `mastering.REFERENCE_LUFS`;
2. latent: the encoder hears `mastering.latent_spans` excerpts (read by seeking, resampled
   to the model rate one excerpt at a time); one EQ per song, designed at the file's rate;
3. processing pass: the EQ as IIR sections with their state carried (scipy sosfilt `zi`)
   and, for a model with a residual, the Wave-U-Net on overlapping chunks (`chunk_s`, each
   with context either side, resampled to the model rate and back, cross-faded with
   raised-cosine ramps); the residual guard's energies are summed on the way;
4. mix and DC pass: `mix` blend with the loudness-matched original, the 5 Hz high-pass
   (state carried), its loudness (the first guess of the gain), the mean summed and removed
   in the next passes;
5. delivery (`delivery.deliver`, pass by pass): each loudness iteration is a pass of the
   look-ahead limiter (`dsp.limiter.StreamLimiter`, state carried), whose envelope
   (`dsp.limiter.envelope_span`'s, on its own grid) is computed once, in the first
   iteration, into a scratch file the next iterations read (`_EnvelopeStore`); then the
   over-removal passes, the true peak (`_peaks`: the envelope's, the 64-tap FIR meter's and
   the 8x FFT meter's, from one FFT per grid block), and the writing pass (mean removed,
   trim) into `write`.

The true-peak work (oversampling by FFT) is most of the time: `dsp.interp` does it in
float32, one spectrum per block shared by the interpolators, and every pruning is one that
keeps the readings exact where they matter (see `_peaks`).

Every stage either carries its state or works on a fixed grid of its own (envelope blocks,
residual chunks, meter windows), so the output does not depend on `block` (tested against a
single-block pass). Differences from `master_audio` (which holds the song): the EQ runs at
the file's rate rather than at the model's, the network's normalising gain is measured at the
file's rate, and the last trim reads the limiter's envelope (ideal 4x interpolation) besides
the 64-tap FIR meter and the 8x FFT meter (each block by block, with its neighbours).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.signal
import torch
from tqdm.auto import tqdm

from neural_mastering.audio_io import resample
from neural_mastering.checkpoint import TrainedMastering
from neural_mastering.delivery import (
    CHECK_MARGIN_DB,
    DC_CUTOFF_HZ,
    LIMITER_MARGIN_DB,
    LOUDNESS_TOLERANCE_LU,
    MAX_ITERATIONS,
    MIN_DURATION_S,
    TRIM_MARGIN_DB,
)
from neural_mastering.dsp import interp
from neural_mastering.dsp.eq import band_coefficients, to_sos
from neural_mastering.dsp.limiter import BLOCK as GRID
from neural_mastering.dsp.limiter import (
    HALO,
    StreamLimiter,
    block_envelope,
    block_segment,
    envelope_span,
    grid_envelope_max,
    oversampled,
)
from neural_mastering.dsp.meter import (
    FFTPeakMeter,
    LoudnessMeter,
    SpectrumMeter,
    fir_segment_peak,
)
from neural_mastering.mastering import (
    REFERENCE_LUFS,
    RESIDUAL_LOW_HZ,
    RESIDUAL_LOW_MAX_DB,
    RESIDUAL_MAX_DB,
    check_settings,
    crossfade_weights,
    latent_spans,
)
from sigshared.errors import DataError

BLOCK = 16 * 16384  # samples per block of the passes (~6 s at 44.1 kHz)
TRACE_POINTS = 2000
FIR_MARGIN_DB = 1.0
FFT_FACTOR = 8  # the independent meter's oversampling (metrics.true_peak_fft_db)
# A signal band-limited to fs/2 falls from its peak M no faster than M cos(pi fs t) (Bernstein's
# inequality, f'^2 + (pi fs)^2 f^2 <= (pi fs M)^2, which the block's periodic interpolation
# obeys); a 4x grid point lies within 1/(8 fs) of the peak, so M <= grid max / cos(pi / 8)
# (+0.69 dB). The 1e-4 covers float32 rounding.
BAND_LIMIT_BOUND = 1.0001 / math.cos(math.pi / 8)
# The limiter's envelope is computed once for the loudness iterations, exact down to this
# many dB under the first iteration's level; an iteration whose gain rises further
# recomputes it.
ENVELOPE_SLACK_DB = 6.0


@dataclass
class StreamedMaster:
    """What `master_stream` did to a song (the audio went to `write`): the EQ (parameters, and
    the cascade's coefficients at `sample_rate`), the network's input gain, the residual
    guard's verdict, the delivery stage's gain, loudness, true peak, limiter reduction (max,
    mean, a trace of maxima over `TRACE_POINTS` bins), and level statistics before / after
    (`measure=True` adds the spectra, the loudness range and the true peaks of the input)."""

    sample_rate: int
    frames: int
    params: dict[str, np.ndarray]
    b: np.ndarray
    a: np.ndarray
    input_gain_db: float
    residual: dict[str, float | bool | str]
    gain_db: float
    lufs: float
    true_peak_db: float
    reduction_max_db: float
    reduction_mean_db: float
    trace: tuple[np.ndarray, np.ndarray]
    iterations: int
    silent: bool
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    spectra: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


class _Levels:
    """Loudness, loudness range, momentary / short-term maxima, sample peak, RMS and, with
    `peaks`, the 8x FFT true peak and the spectrum of a signal fed in blocks."""

    def __init__(self, sr: int, channels: int, full: bool) -> None:
        self.loudness = LoudnessMeter(sr, channels)
        self.fft = FFTPeakMeter() if full else None
        self.spectrum = SpectrumMeter(sr) if full else None
        self.peak, self.square, self.count = 0.0, 0.0, 0

    def feed(self, x: np.ndarray) -> None:
        self.loudness.feed(x)
        self.peak = max(self.peak, float(np.abs(x).max(initial=0.0)))
        self.square += float(np.square(x).sum())
        self.count += x.size
        for meter in (self.fft, self.spectrum):
            if meter is not None:
                meter.feed(x)

    def stats(self) -> dict[str, float]:
        rms = math.sqrt(self.square / max(self.count, 1)) + 1e-12
        out = {
            "lufs": self.loudness.integrated(),
            "loudness_range_lu": self.loudness.loudness_range(),
            "momentary_max_lufs": self.loudness.momentary_max(),
            "short_term_max_lufs": self.loudness.short_term_max(),
            "crest_factor_db": float(20 * np.log10(self.peak / rms + 1e-12)),
        }
        if self.fft is not None:
            out["true_peak_8x_dbtp"] = self.fft.true_peak_db()
        return out


class _Passes:
    """The passes over one song: block ranges, the progress bar."""

    def __init__(self, frames: int, block: int, progress: bool) -> None:
        self.frames, self.block = frames, block
        self.progress = progress and sys.stderr.isatty()

    def ranges(self, desc: str, step: int | None = None):
        step = step or self.block
        spans = [(s, min(self.frames, s + step)) for s in range(0, self.frames, step)]
        return tqdm(spans, desc=desc, unit="block", leave=False, disable=not self.progress)


def _channels(read: Callable, channels: int) -> Callable:
    """read(lo, hi) of the first `channels` channels only."""

    def first(lo: int, hi: int) -> np.ndarray:
        return read(lo, hi)[:channels]

    return first


def _centred(read: Callable, mean: np.ndarray, frames: int) -> Callable:
    """read(lo, hi) with `mean` (one value per channel) removed from its first channels inside
    the signal (the others, such as a reduction channel, as they are)."""

    def centred(lo: int, hi: int) -> np.ndarray:
        x = read(lo, hi)
        a, b = min(max(0, -lo), hi - lo), max(0, min(hi, frames) - lo)
        x[: len(mean), a:b] -= mean[:, None]
        return x

    return centred


@torch.no_grad()
def _latent(trained, source, norm: float, chunk_in: int, latent_s: float | None, device):
    """z (1, latent) from the encoder's features over the latent spans, each excerpt read,
    resampled to the model rate and normalised on its own."""
    model, model_sr = trained.model, trained.config.model.sample_rate
    total, frames = None, 0
    for span in latent_spans(source.frames, source.sample_rate, chunk_in, latent_s):
        x = source.read(span.start, span.stop).mean(0, keepdims=True) * norm
        piece = torch.from_numpy(resample(x, source.sample_rate, model_sr)).to(device)[None]
        feats = model.encoder.features(piece)
        total = feats.sum(-1) if total is None else total + feats.sum(-1)
        frames += feats.shape[-1]
    return model.encoder.latent(total / frames)


@torch.no_grad()
def _residual_chunk(trained, x: np.ndarray, z, norm: float, sr: int, device) -> np.ndarray:
    """The residual of x (C, n) at rate sr (heard normalised by `norm`, returned at the
    file's level and rate)."""
    model_sr = trained.config.model.sample_rate
    piece = torch.from_numpy(resample(x * norm, sr, model_sr)).to(device)
    r = trained.model.residual_path(piece[None], z)[0].cpu().numpy()
    back = resample(r, model_sr, sr).astype(np.float64) / norm
    return np.pad(back, ((0, 0), (0, max(0, x.shape[-1] - back.shape[-1]))))[:, : x.shape[-1]]


def _process(trained, source, sos, makeup, z, norm, chunk_s, device, passes, scratch, loudness):
    """Pass 3: EQ (and residual) of the whole source into a scratch signal holding the EQ
    output and, for a residual model, the residual; returns it, the loudness of the EQ
    output and of EQ + residual (NaN for a model without residual unless `loudness`: only
    the `mix` blend needs it), and the guard's energies."""
    from neural_mastering.blockio import TempSignal

    sr, c, t = source.sample_rate, source.channels, source.frames
    has_residual = trained.model.residual is not None
    store = TempSignal(2 * c if has_residual else c, scratch)
    zi = np.zeros((sos.shape[0], c, 2))
    meters = [LoudnessMeter(sr, c), LoudnessMeter(sr, c)]
    low = scipy.signal.butter(4, RESIDUAL_LOW_HZ, fs=sr, output="sos")
    zl = np.zeros((2, low.shape[0], 2))
    energy = np.zeros(4)  # residual, EQ output, both below RESIDUAL_LOW_HZ

    def eq(x: np.ndarray) -> np.ndarray:
        nonlocal zi
        y, zi = scipy.signal.sosfilt(sos, x, axis=-1, zi=zi)
        return y * makeup

    if not has_residual:
        for s, e in passes.ranges("EQ"):
            y = eq(source.read(s, e))
            store.append(y)
            if loudness:
                meters[0].feed(y)
        level = meters[0].integrated() if loudness else math.nan
        return store, level, level, None
    chunk = max(int(chunk_s * sr), 4096)
    overlap, context = int(0.25 * sr), int(0.05 * sr) + 64
    hop = chunk - overlap
    pending = np.zeros((c, 0))
    weight = np.zeros(0)
    for start, _ in passes.ranges("EQ + residual", hop):
        end = min(t, start + chunk)
        window = source.read(start - context, end + context)
        r = _residual_chunk(trained, window, z, norm, sr, device)[
            :, context : context + end - start
        ]
        w = crossfade_weights(start, end, t, overlap)
        grow = end - start - pending.shape[-1]
        pending = np.pad(pending, ((0, 0), (0, grow)))
        weight = np.pad(weight, (0, grow))
        pending += r * w
        weight += w
        stop = min(t, start + hop) if end < t else t
        done = stop - start
        res = pending[:, :done] / np.maximum(weight[:done], 1e-12)
        pending, weight = pending[:, done:], weight[done:]
        y = eq(window[:, context : context + done])
        store.append(np.concatenate([y, res]))
        meters[0].feed(y)
        meters[1].feed(y + res)
        for i, sig in enumerate((res, y)):
            lowpassed, zl[i] = scipy.signal.sosfilt(low, sig.mean(0), zi=zl[i])
            energy[i] += np.square(sig).sum()
            energy[2 + i] += np.square(lowpassed).sum()
        if end == t:
            break
    return store, meters[0].integrated(), meters[1].integrated(), energy


def _verdict(energy: np.ndarray | None) -> dict[str, float | bool | str]:
    """`mastering.residual_verdict` from the summed energies."""
    if energy is None:
        return {"used": False, "reason": "the model has no residual path"}
    if not np.isfinite(energy).all():
        return {"used": False, "reason": "the residual is not finite"}
    with np.errstate(divide="ignore"):
        ratio = float(10 * np.log10((energy[0] + 1e-30) / (energy[1] + 1e-30)))
        low = float(10 * np.log10((energy[2] + 1e-30) / (energy[3] + 1e-30)))
    verdict: dict[str, float | bool | str] = {"level_db": ratio, "low_level_db": low}
    if ratio > RESIDUAL_MAX_DB:
        return verdict | {
            "used": False,
            "reason": f"residual {ratio:+.1f} dB against the EQ output",
        }
    if low > RESIDUAL_LOW_MAX_DB:
        return verdict | {"used": False, "reason": f"residual {low:+.1f} dB below 125 Hz"}
    return verdict | {"used": True, "reason": ""}


class _EnvelopeStore:
    """The limiter's envelope (`dsp.limiter.envelope_span`) of the signal `read` gives, exact
    above `floor`: each grid block computed once, when a pass first reaches it, into a float32
    scratch file that later passes over the same signal read back."""

    def __init__(self, read: Callable, frames: int, floor: float, scratch) -> None:
        from neural_mastering.blockio import TempSignal

        self.read, self.frames, self.floor = read, frames, floor
        self.store = TempSignal(1, scratch)
        self.blocks = -(-frames // GRID)
        self.done = 0

    def span(self, lo: int, hi: int) -> np.ndarray:
        """The envelope (hi - lo,) float64, 0 outside the signal."""
        while self.done < min(self.blocks, -(-hi // GRID)):
            start = self.done * GRID
            env = block_envelope(block_segment(self.read, self.done), self.floor)
            self.store.append(env[None, : min(GRID, self.frames - start)])
            self.done += 1
        return self.store.read(lo, hi)[0]

    def close(self) -> None:
        self.store.close()


def _limit_pass(
    read,
    channels,
    sr,
    threshold_db,
    gain_db,
    envelope: _EnvelopeStore,
    passes,
    scratch,
    desc,
    reduction_in=False,
    meter=None,
):
    """One limiter pass over read (audio channels, and the running reduction in channel
    `channels` when `reduction_in`) into a new scratch signal of audio + reduction; the
    envelope of the audio channels from `envelope`; returns the scratch signal and the sum of
    each audio channel."""
    from neural_mastering.blockio import TempSignal

    out = TempSignal(channels + 1, scratch)
    sums = np.zeros(channels)
    lim = StreamLimiter(sr, threshold_db, gain_db)
    n = lim.n
    for s, e in passes.ranges(desc):
        env = envelope.span(s - n, e + n)
        block = read(s, e)
        step = lim.apply(block[:channels], env)
        total = step.reduction_db + (block[channels] if reduction_in else 0.0)
        out.append(np.concatenate([step.audio, total[None]]))
        sums += step.audio.sum(-1)
        if meter is not None:
            meter.feed(step.audio)
    return out, sums


def _peaks(read: Callable, frames: int, passes: _Passes, floor: float) -> tuple[float, float]:
    """(largest linear value of the limiter's envelope, the largest of the 64-tap FIR meter's
    and the 8x FFT meter's readings in dBTP) of the signal `read` gives, on the envelope's
    grid, which is the 8x meter's (`metrics.true_peak_fft_db`): one FFT per block serves the
    ideal interpolations (the 4x envelope's grid is every other point of the 8x one) and the
    FIR meter. Each pruning below leaves max(envelope, meters) exact wherever it exceeds
    `floor`:
    - blocks whose bound (`dsp.limiter.oversampled`) stays under `floor` are not oversampled;
    - the 8x meter skips blocks whose 4x grid, times BAND_LIMIT_BOUND, stays under the largest
      reading so far: the band-limited block can not peak higher than that between the 4x
      grid's points;
    - the FIR meter runs only on blocks whose envelope comes within FIR_MARGIN_DB of the
      largest envelope value so far (it reads within 0.2 dB of the ideal envelope, its
      parabola's overshoot on noise-like content near Nyquist)."""
    env_peak, fir_peak, fft_peak = 0.0, 0.0, 0.0
    margin = 10 ** (FIR_MARGIN_DB / 20)
    for s, e in passes.ranges("true peak", GRID):
        segment = read(s - HALO, s + GRID + HALO)
        n = segment.shape[-1]
        largest = float(np.abs(segment[:, HALO : HALO + e - s]).max())
        fft_peak = max(fft_peak, largest)
        if not oversampled(segment, floor):
            env_peak = max(env_peak, largest)
            continue
        spec = interp.spectrum(segment)
        up8 = None
        if largest * BAND_LIMIT_BOUND >= max(env_peak, fir_peak, fft_peak) or e - s < GRID:
            up8 = interp.ideal(spec, n, FFT_FACTOR)  # likely needed: it holds the 4x grid too
            up4 = up8[:, :: FFT_FACTOR // 4]
        else:
            up4 = interp.ideal(spec, n, 4)
        block_peak = grid_envelope_max(segment, up4, e - s)
        env_peak = max(env_peak, block_peak)
        if up8 is None:
            bound = max(float(up4.max()), float(-up4.min())) * BAND_LIMIT_BOUND
            if bound >= max(env_peak, fir_peak, fft_peak):
                up8 = interp.ideal(spec, n, FFT_FACTOR)
        if up8 is not None:
            if e - s < GRID:  # the 8x meter's last block ends HALO after the signal
                short = segment[:, : e - s + 2 * HALO]
                up8 = interp.ideal(interp.spectrum(short), short.shape[-1], FFT_FACTOR)
            core = up8[:, FFT_FACTOR * HALO : FFT_FACTOR * (HALO + e - s)]
            fft_peak = max(fft_peak, float(core.max()), float(-core.min()))
        if block_peak * margin >= max(env_peak, fir_peak, floor):
            fir_peak = max(fir_peak, fir_segment_peak(segment, HALO, frames, s, spec))
    return env_peak, 20 * np.log10(max(fir_peak, fft_peak, 1e-12))


@torch.no_grad()
def master_stream(
    trained: TrainedMastering,
    source,
    write: Callable[[np.ndarray], None],
    target_lufs: float = -14.0,
    ceiling_db: float = -1.0,
    chunk_s: float = 10.0,
    latent_s: float = 60.0,
    mix: float = 1.0,
    eq_amount: float = 1.0,
    device: torch.device | str = "cpu",
    block: int = BLOCK,
    scratch: str | None = None,
    progress: bool = False,
    measure: bool = False,
) -> StreamedMaster:
    """Master `source` (a `blockio` source: sample_rate, channels, frames, read(lo, hi)) into
    `write`, called with consecutive (C, n) float64 blocks; see the module docstring.
    Scratch files go to `scratch` (default: the system's temporary folder)."""
    from neural_mastering.blockio import TempSignal

    check_settings(target_lufs, ceiling_db, chunk_s, latent_s, mix, eq_amount)
    sr, c, t = source.sample_rate, source.channels, source.frames
    if t < MIN_DURATION_S * sr:
        raise DataError(
            f"the audio lasts {t / sr:.3f} s; mastering needs at least {MIN_DURATION_S} s to "
            "measure its loudness"
        )
    device = torch.device(device)
    trained.model.eval().to(device)
    passes = _Passes(t, block, progress)
    before = _Levels(sr, c, measure)
    before_env = 0.0
    for s, e in passes.ranges("measuring"):
        before.feed(source.read(s, e))
        if measure:
            before_env = max(before_env, float(envelope_span(source.read, t, s, e).max()))
    level = before.loudness.integrated()
    norm_db = REFERENCE_LUFS - level if np.isfinite(level) else 0.0
    norm = 10 ** (norm_db / 20)
    chunk_in = max(int(chunk_s * sr), 4096)
    z = _latent(trained, source, norm, chunk_in, latent_s or None, device)
    params = trained.model.eq(z)
    params["gain_db"] = params["gain_db"] * eq_amount
    freq = params["freq_hz"].clamp(max=0.45 * sr)
    b, a = band_coefficients(freq, params["gain_db"], params["q"], sr)
    sos, makeup = to_sos(b[0], a[0]), 10 ** (float(params["makeup_db"][0]) / 20)
    scratches: list[TempSignal] = []
    try:
        store, eq_lufs, full_lufs, energy = _process(
            trained, source, sos, makeup, z, norm, chunk_s, device, passes, scratch, mix < 1
        )
        scratches.append(store)
        verdict = _verdict(energy)
        processed_lufs = full_lufs if verdict["used"] else eq_lufs
        match = processed_lufs - level
        match = 10 ** (match / 20) if np.isfinite(match) else 1.0
        # Pass 4: mix, DC high-pass, the mean.
        dc = scipy.signal.butter(2, DC_CUTOFF_HZ, "highpass", fs=sr, output="sos")
        zi = np.zeros((dc.shape[0], c, 2))
        pre = TempSignal(c, scratch)
        scratches.append(pre)
        total = np.zeros(c)
        # The loudness of the DC-blocked signal before its mean is removed: only the first
        # guess of the gain (the iterations measure what they reach).
        meter = LoudnessMeter(sr, c)
        for s, e in passes.ranges("mix + DC"):
            part = store.read(s, e)
            y = part[:c] + (part[c:] if verdict["used"] else 0.0)
            if mix < 1:
                y = mix * y + (1 - mix) * source.read(s, e) * match
            y, zi = scipy.signal.sosfilt(dc, y, axis=-1, zi=zi)
            pre.append(y)
            meter.feed(y)
            total += y.sum(-1)
        store.close()
        y_read = _centred(pre.read, total / t, t)
        level_y = meter.integrated()
        silent = not np.isfinite(level_y)
        gain, iterations = 0.0, 0
        if silent:

            def copy_read(lo: int, hi: int) -> np.ndarray:
                return np.concatenate([y_read(lo, hi), np.zeros((1, hi - lo))])

            envelope = _EnvelopeStore(y_read, t, np.inf, scratch)
            scratches.append(envelope)
            current, sums = _limit_pass(
                copy_read, c, sr, 200.0, 0.0, envelope, passes, scratch, "copy", reduction_in=True
            )
            scratches.append(current)
        else:
            threshold = ceiling_db - LIMITER_MARGIN_DB
            gain, previous = target_lufs - level_y, None
            current, envelope, env_gain = None, None, -np.inf
            while iterations < MAX_ITERATIONS:
                iterations += 1
                meter = LoudnessMeter(sr, c)
                if current is not None:
                    current.close()
                if gain > env_gain + ENVELOPE_SLACK_DB:
                    if envelope is not None:
                        envelope.close()
                    env_gain = gain
                    floor = 10 ** ((threshold - gain - ENVELOPE_SLACK_DB) / 20)
                    envelope = _EnvelopeStore(y_read, t, floor, scratch)
                    scratches.append(envelope)
                current, sums = _limit_pass(
                    y_read,
                    c,
                    sr,
                    threshold,
                    gain,
                    envelope,
                    passes,
                    scratch,
                    f"limiter {iterations}",
                    meter=meter,
                )
                reached = meter.integrated()
                if abs(reached - target_lufs) <= LOUDNESS_TOLERANCE_LU:
                    break
                slope = 1.0
                if previous is not None and gain != previous[0]:
                    slope = float(
                        np.clip((reached - previous[1]) / (gain - previous[0]), 0.05, 1.0)
                    )
                previous = (gain, reached)
                gain += (target_lufs - reached) / slope
            scratches.append(current)
        pre.close()
        # Over-removal (`dsp.limiter.remove_overs`) on the signal with its mean removed; the
        # true peak of the last one sets the trim.
        over = 10 ** ((ceiling_db - CHECK_MARGIN_DB) / 20)
        floor = over * 10 ** (-1 / 20)
        for overs in range(5):
            final_read = _centred(current.read, sums / t, t)
            audio_read = _channels(final_read, c)
            env_peak, meters_db = _peaks(audio_read, t, passes, floor)
            if max(env_peak, 10 ** (meters_db / 20)) < floor:  # quiet: measure every block
                env_peak, meters_db = _peaks(audio_read, t, passes, 0.0)
            if env_peak <= over or overs == 4:
                break
            aim = 20 * np.log10(over) - 0.005
            envelope = _EnvelopeStore(audio_read, t, 10 ** (aim / 20), scratch)
            scratches.append(envelope)
            nxt, sums = _limit_pass(
                final_read, c, sr, aim, 0.0, envelope, passes, scratch, "overs", reduction_in=True
            )
            current.close()
            current = nxt
            scratches.append(current)
        peak = max(20 * np.log10(max(env_peak, 1e-12)), meters_db)
        trim = 0.0
        if peak > ceiling_db - TRIM_MARGIN_DB:
            trim = ceiling_db - TRIM_MARGIN_DB - peak
            gain, peak = gain + trim, peak + trim
        after = _Levels(sr, c, measure)
        edges = np.linspace(0, t, min(TRACE_POINTS, t) + 1).astype(int)
        trace = np.zeros(len(edges) - 1)
        red_max, red_sum = 0.0, 0.0
        for s, e in passes.ranges("writing"):
            part = final_read(s, e)
            y = part[:c] * 10 ** (trim / 20)
            write(y)
            after.feed(y)
            red = part[c]
            red_max, red_sum = max(red_max, float(red.max())), red_sum + float(red.sum())
            # The trace bins this block touches, and where each starts in it.
            first, last = np.searchsorted(edges, [s, e - 1], side="right") - 1
            starts = np.maximum(edges[first : last + 1], s) - s
            span = slice(first, last + 1)
            trace[span] = np.maximum(trace[span], np.maximum.reduceat(red, starts))
    finally:
        for sig in scratches:
            sig.close()
    before_stats, after_stats = before.stats(), after.stats()
    if measure:
        before_stats["true_peak_dbtp"] = float(20 * np.log10(max(before_env, 1e-12)))
    after_stats["true_peak_dbtp"] = float(peak)
    spectra = {}
    if measure:
        spectra = {"before": before.spectrum.psd(), "after": after.spectrum.psd()}
    return StreamedMaster(
        sample_rate=sr,
        frames=t,
        params={k: v[0].cpu().numpy() for k, v in params.items()},
        b=b[0].cpu().numpy().astype(np.float64),
        a=a[0].cpu().numpy().astype(np.float64),
        input_gain_db=float(norm_db),
        residual=verdict,
        gain_db=float(gain),
        lufs=after_stats["lufs"],
        true_peak_db=float(peak),
        reduction_max_db=red_max,
        reduction_mean_db=red_sum / t,
        trace=(edges[:-1] / sr, trace),
        iterations=iterations,
        silent=silent,
        before=before_stats,
        after=after_stats,
        spectra=spectra,
    )
