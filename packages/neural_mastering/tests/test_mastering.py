"""Whole-track inference: IIR path = training path, chunking without seams, level
independence, the residual guard, any finite input, EQ amount and mix."""

import dataclasses

import numpy as np
import pytest
import torch

from neural_mastering.checkpoint import load_trained
from neural_mastering.delivery import deliver
from neural_mastering.dsp.eq import magnitude_db
from neural_mastering.mastering import (
    latent_spans,
    master_audio,
    master_track,
    residual_verdict,
    track_latent,
)
from neural_mastering.metrics import lufs, true_peak
from neural_mastering.synthetic import synth_song
from sigshared.errors import DataError


@pytest.mark.parametrize("phase", ["1A", "1B"])
def test_iir_inference_matches_the_training_forward_away_from_edges(phase, tiny_model):
    model = tiny_model(phase)
    x = 0.2 * np.random.default_rng(1).standard_normal((1, 12000)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)[None])["output"][0].numpy()
    got = master_track(model, x, chunk_s=1000.0).audio
    core = slice(1000, -1000)
    assert np.abs(got[:, core] - ref[:, core]).max() < 1e-3 * np.abs(ref).max()


def test_chunked_equals_whole_file_away_from_seams(tiny_model):
    model = tiny_model("1B")
    sr = model.cfg.sample_rate
    x = 0.2 * np.random.default_rng(2).standard_normal((2, int(3.3 * sr))).astype(np.float32)
    whole = master_track(model, x, chunk_s=100.0)
    # 1 s chunks (the minimum is 4096 samples) with 0.1 s cross-fades: three seams.
    chunked = master_track(model, x, chunk_s=1.0, overlap_s=0.1, context_s=0.02)
    diff = np.abs(chunked.audio - whole.audio).max()
    assert diff < 1e-3 * np.abs(whole.audio).max()
    np.testing.assert_allclose(chunked.params["gain_db"], whole.params["gain_db"], atol=1e-2)


@pytest.fixture(scope="module")
def shipped():
    return load_trained()


def _stereo_song(seconds, seed=1, sr=44100):
    s = synth_song(seed, seconds, sr)
    return np.stack([s, np.roll(s, 29)]).astype(np.float32)


def _eq_curve(result, sr=44100):
    """The EQ cascade's magnitude (dB) of a MasteringResult or a MasteredTrack."""
    track = getattr(result, "track", result)
    f = torch.logspace(np.log10(20), np.log10(20000), 200)
    b, a = torch.from_numpy(track.b), torch.from_numpy(track.a)
    return magnitude_db(b, a, f, sr).numpy()


def test_eq_is_independent_of_the_input_level(shipped):
    x = 0.3 * _stereo_song(3.0)
    curves = [
        _eq_curve(master_audio(shipped, x * np.float32(10 ** (g / 20)), 44100))
        for g in (-12.0, -6.0, 0.0, 6.0)  # +6 dB: a float file peaking above 0 dBFS
    ]
    for curve in curves[1:]:
        assert np.abs(curve - curves[0]).max() < 0.5


@pytest.mark.parametrize("kind", ["hot_float", "clipped", "silence", "dc", "mono_short"])
def test_any_finite_input_gives_a_finite_sensible_master(shipped, kind):
    sr = 44100
    x = {
        "hot_float": 8.0 * _stereo_song(3.0),
        "clipped": np.clip(20.0 * _stereo_song(3.0), -1, 1),
        "silence": np.zeros((2, 3 * sr), np.float32),
        "dc": 0.38 + 0.05 * _stereo_song(3.0),
        "mono_short": 0.3 * _stereo_song(0.5)[:1],
    }[kind]
    result = master_audio(shipped, x, sr)
    y = result.audio
    assert y.shape == x.shape and np.isfinite(y).all()
    assert np.abs(y.mean(-1)).max() < 1e-4
    if kind == "silence":
        assert result.delivered.silent and not y.any()
    else:
        assert abs(lufs(y, sr) + 14.0) <= 0.3
        assert true_peak(y) <= -1.0


def test_too_short_input_is_refused(shipped):
    with pytest.raises(DataError, match="needs at least 0.4 s"):
        master_audio(shipped, np.full((1, 1), 0.5, np.float32), 44100)


def test_residual_guard_falls_back_to_eq_only(tiny_model):
    model = tiny_model("1B")
    sr = model.cfg.sample_rate
    x = 0.1 * _stereo_song(1.0, sr=sr)
    track = master_track(model, x)
    assert track.residual is not None
    verdict = residual_verdict(track, sr)
    # tiny_model's residual output is given large random weights: it is as loud as the signal
    assert verdict["used"] is False and "against the EQ output" in verdict["reason"]
    quiet = dataclasses.replace(track, residual=track.residual * 1e-3)
    assert residual_verdict(quiet, sr)["used"] is True


def test_eq_amount_scales_the_band_gains_and_mix_blends(shipped):
    x = 0.3 * _stereo_song(2.0)
    full = master_track(shipped.model, x)
    half = master_track(shipped.model, x, eq_amount=0.5)
    flat = master_track(shipped.model, x, eq_amount=0.0)
    np.testing.assert_allclose(half.params["gain_db"], 0.5 * full.params["gain_db"], atol=1e-5)
    assert np.abs(_eq_curve(flat)).max() < 1e-6
    # mix 0: the original alone through the last stage, whatever the model did
    dry = master_audio(shipped, x, 44100, mix=0.0).audio
    np.testing.assert_allclose(dry, deliver(x, 44100, -14.0, -1.0).audio, atol=1e-4)


def test_latent_spans_cover_short_tracks_and_sample_long_ones_evenly():
    sr, chunk = 1000, 10_000
    whole = latent_spans(25_000, sr, chunk, latent_s=60.0)
    assert [(r.start, r.stop) for r in whole] == [(0, 10_000), (10_000, 20_000), (20_000, 25_000)]
    assert latent_spans(25_000, sr, chunk, None) == whole
    spans = latent_spans(180_000, sr, chunk, latent_s=60.0)
    assert len(spans) == 30 and sum(len(r) for r in spans) == 60_000
    assert spans[0].start == 0 and spans[-1].stop == 180_000
    gaps = np.diff([r.start for r in spans])
    assert gaps.max() - gaps.min() <= 1  # evenly spaced


def test_excerpt_latent_keeps_the_shipped_models_eq_within_tolerance(shipped):
    # The documented tolerance of hearing a third of a long song: the EQ curve (without the
    # make-up gain, which loudness normalisation overrides) moves by less than 0.5 dB (the
    # level-invariance bar; the shipped model moved 0.34 dB here, the step-423 one 0.1 dB).
    model, cfg = shipped.model, shipped.config
    sr = cfg.model.sample_rate
    x = synth_song(1, 45.0, sr)[None]
    f = torch.logspace(np.log10(20), np.log10(20000), 200)
    curves = []
    for latent_s in (None, 15.0):
        z = track_latent(model.eval(), x, 10 * sr, torch.device("cpu"), latent_s)
        with torch.no_grad():
            b, a = model.eq_coefficients(model.eq(z))
        curves.append(magnitude_db(b[0], a[0], f, sr))
    difference = float((curves[0] - curves[1]).abs().max())
    assert 0 < difference < 0.5  # > 0: the excerpts really were a sample
