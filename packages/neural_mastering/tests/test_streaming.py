"""Streaming through a file in blocks: the same output for any block size (and a single
block, the whole-file pass), the delivery guarantees, and the streamed meters and limiter
against their whole-signal versions."""

import numpy as np
import pytest
import soundfile as sf
import torch

from neural_mastering.blockio import ArraySource, FileSource, TempSignal
from neural_mastering.checkpoint import TrainedMastering
from neural_mastering.config import load
from neural_mastering.dsp.limiter import StreamLimiter, envelope_span, limit
from neural_mastering.dsp.loudness import integrated_loudness, loudness_range, short_term_max
from neural_mastering.dsp.meter import FFTPeakMeter, LoudnessMeter, fir_segment_peak
from neural_mastering.metrics import lufs, true_peak, true_peak_fft_db
from neural_mastering.streaming import master_stream


def _run(trained, x, sr, block, **kw):
    out = []
    result = master_stream(trained, ArraySource(x, sr), out.append, block=block, **kw)
    return np.concatenate(out, axis=1), result


@pytest.mark.parametrize(("phase", "sr"), [("1A", 44100), ("1B", 48000)])
def test_any_block_size_gives_the_whole_file_output(phase, sr, tiny_model):
    model = tiny_model(phase)
    trained = TrainedMastering(
        model=model, config=load("tiny", [f"model.phase={phase}"]), path=None
    )
    rng = np.random.default_rng(3)
    t = int(2.7 * sr) + 13
    x = (0.1 * rng.standard_normal((2, t)) * np.linspace(0.2, 1.5, t)).astype(np.float32)
    # chunk_s=1: the residual runs in three cross-faded chunks (resampled from 48 kHz).
    kw = dict(target_lufs=-9.0, ceiling_db=-1.0, chunk_s=1.0, mix=0.8)
    whole, r_whole = _run(trained, x, sr, 10**7, **kw)
    # 20001 divides neither the length nor the envelope's, meters' or residual's grids.
    blocks, r_blocks = _run(trained, x, sr, 20001, **kw)
    assert whole.shape == x.shape
    # The scratch files hold float32: a 1e-16 difference can round one sample to the next
    # float32 value (6e-8 at 1.0).
    np.testing.assert_allclose(blocks, whole, rtol=0, atol=1e-6)
    assert r_blocks.reduction_max_db == pytest.approx(r_whole.reduction_max_db, abs=1e-6)
    assert abs(lufs(whole, sr) - -9.0) <= 0.3
    assert true_peak_fft_db(whole) <= -1.0 and true_peak(whole) <= -1.0
    assert np.abs(whole.mean(1)).max() < 1e-4
    assert r_whole.reduction_max_db > 0  # -9 LUFS from noise needs limiting


SPANS = ((-7, 10), (4990, 5012), (100, 2000), (0, 5000), (6000, 6010), (30, 40))


def test_scratch_signal_reads_any_span(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, (2, 5000)).astype(np.float32)
    scratch = TempSignal(2, tmp_path)
    scratch.append(x[:, :3000])
    scratch.append(x[:, 3000:])
    for lo, hi in SPANS:
        np.testing.assert_array_equal(
            scratch.read(lo, hi), np.pad(x, ((0, 0), (10, 1010)))[:, lo + 10 : hi + 10]
        )
    scratch.close()


@pytest.mark.parametrize(
    ("fmt", "subtype"), [("WAV", "FLOAT"), ("FLAC", None), ("OGG", None), ("MP3", None)]
)
def test_file_source_seeks_sample_accurately_in_every_input_format(tmp_path, fmt, subtype):
    rng = np.random.default_rng(0)
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, rng.uniform(-0.5, 0.5, (5000, 2)), 44100, format=fmt, subtype=subtype)
    whole, _ = sf.read(path, dtype="float32", always_2d=True)
    with FileSource(path) as src:
        assert src.frames == len(whole)
        padded = np.pad(whole.T.astype(np.float64), ((0, 0), (10, src.frames + 1010)))
        # Backwards and forwards, as the streaming passes and the latent excerpts read.
        for lo, hi in SPANS[::-1] + SPANS:
            np.testing.assert_array_equal(src.read(lo, hi), padded[:, lo + 10 : hi + 10])


def test_streamed_limiter_equals_the_whole_signal_limiter():
    sr, t = 44100, 70001
    x = 0.3 * np.random.default_rng(1).standard_normal((2, t))
    x[:, 30000:40000] *= 4
    ref = limit(x, sr, -1.0, gain_db=4.0)
    lim = StreamLimiter(sr, -1.0, 4.0)
    src = ArraySource(x, sr)
    parts = []
    for s in range(0, t, 9999):
        e = min(t, s + 9999)
        env = envelope_span(src.read, t, s - lim.n, e + lim.n, lim.floor)
        parts.append(lim.apply(x[:, s:e], env).audio)
    np.testing.assert_allclose(np.concatenate(parts, 1), ref.audio, atol=1e-9)


def test_streamed_meters_equal_the_whole_signal_meters():
    sr, t = 44100, 44100 * 7 + 5
    x = 0.2 * np.random.default_rng(2).standard_normal((2, t)) * np.linspace(0.05, 1, t)
    meter, fft = LoudnessMeter(sr, 2), FFTPeakMeter()
    for s in range(0, t, 12345):
        meter.feed(x[:, s : s + 12345])
        fft.feed(x[:, s : s + 12345])
    whole = torch.from_numpy(x)
    assert meter.integrated() == pytest.approx(float(integrated_loudness(whole, sr)), abs=1e-9)
    assert meter.loudness_range() == pytest.approx(loudness_range(whole, sr), abs=1e-9)
    assert meter.short_term_max() == pytest.approx(short_term_max(whole, sr), abs=1e-9)
    # The streamed meters' FFTs are float32 (dsp.interp): 1e-6 dB.
    assert fft.true_peak_db() == pytest.approx(true_peak_fft_db(x), abs=1e-5)
    src = ArraySource(x, sr)
    spans = range(0, t, 30000)
    fir = max(fir_segment_peak(src.read(s - 1024, s + 31024), 1024, t, s) for s in spans)
    assert true_peak(x) - 1e-5 <= 20 * np.log10(fir) <= true_peak(x) + 0.02
