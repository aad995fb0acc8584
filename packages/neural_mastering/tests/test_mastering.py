"""Whole-track inference: IIR path = training path, chunking without seams, the ceiling holds."""

import numpy as np
import pytest
import torch

from neural_mastering.checkpoint import load_trained
from neural_mastering.dsp.eq import magnitude_db
from neural_mastering.mastering import finalize_level, latent_spans, master_track, track_latent
from neural_mastering.metrics import lufs, true_peak
from neural_mastering.synthetic import synth_song


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


@pytest.mark.parametrize("ceiling", [-1.0, -0.1, -6.0])
def test_output_never_exceeds_the_ceiling(ceiling):
    sr = 44100
    rng = np.random.default_rng(3)
    x = np.clip(rng.standard_normal((2, sr)), -4, 4).astype(np.float32)  # very hot input
    y, gain = finalize_level(x, sr, target_lufs=-8.0, ceiling_db=ceiling)
    assert true_peak(y) <= ceiling
    assert gain < 0


def test_loudness_target_is_met_when_the_ceiling_allows():
    sr = 44100
    x = 0.01 * np.random.default_rng(4).standard_normal((1, 2 * sr)).astype(np.float32)
    y, _ = finalize_level(x, sr, target_lufs=-20.0, ceiling_db=-1.0)
    assert lufs(y, sr) == pytest.approx(-20.0, abs=0.01)


def test_silence_stays_silent():
    y, gain = finalize_level(np.zeros((2, 44100), np.float32), 44100, -14.0, -1.0)
    assert gain == 0.0 and not y.any()


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


def test_excerpt_latent_keeps_the_shipped_models_eq_within_tolerance():
    # The documented tolerance of hearing a third of a long song: the EQ curve (without the
    # make-up gain, which loudness normalisation overrides) moves by less than 0.25 dB.
    trained = load_trained()
    model, cfg = trained.model, trained.config
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
    assert 0 < difference < 0.25  # > 0: the excerpts really were a sample
