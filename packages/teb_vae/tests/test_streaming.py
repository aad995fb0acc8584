"""`teb-infer --stream`: the step-by-step forecaster equals the batch pass over the whole record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from teb_vae.anchoring import DecelAnchor
from teb_vae.benchmark import forecast_whole_record
from teb_vae.checkpoint import TrainedTeb
from teb_vae.config import (
    ConditionalEncoderConfig,
    DecoderConfig,
    FeatureConfig,
    ModelConfig,
    RunConfig,
    SourceEncoderConfig,
    TargetEncoderConfig,
)
from teb_vae.data import FeatureStats, Recording, compute_features, windows_at
from teb_vae.features.preprocess import clean_ctg
from teb_vae.model import SeqVaeTeb
from teb_vae.spread import SpreadModel
from teb_vae.state import STATE_NAMES, forecast_state
from teb_vae.streaming import stream_record
from teb_vae.synthetic import synthetic_ctg


def tiny_trained(rec: Recording) -> TrainedTeb:
    """A random tiny model (11 feature channels, 2 LSTM layers, causal convs of every kind)
    with feature statistics fitted on the record itself."""
    features = FeatureConfig(
        window=960, st_j=3, st_q1=1, st_q2=1, ph_q=1, ph_n_filters=4, ph_max_gap=1
    )
    model = ModelConfig(
        input_channels=11,
        sequence_length=60,
        source=SourceEncoderConfig(8, [8], [3, 2], [8], 8, 2, [8], [8], 0.0),
        target=TargetEncoderConfig([8], [8], [8], [3], [8], 8, 2, 8, 1, 0.0),
        conditional=ConditionalEncoderConfig([8], [8], 0.0),
        decoder=DecoderConfig(8, 1, [8], 1, [4], [4], 5, [4], 2, 0.0),
        horizon=48,
        warmup_period=0,
        level_windows=[1, 3, 8],
        decoder_context=True,  # the decoder context path is streamed too
    )
    cfg = RunConfig(features=features, model=model)
    torch.manual_seed(0)
    net = SeqVaeTeb(model).eval()
    with torch.no_grad():  # a non-zero level forecast, so that its state is exercised too
        net.level_forecast.linear.weight.normal_(0, 0.1)
    c = clean_ctg(rec.fhr, rec.up)
    stats = FeatureStats.fit(compute_features(windows_at(rec.name, c, [0], 960), features))
    return TrainedTeb(net, cfg, stats, Path("random"))


def test_stream_equals_the_batch_pass_at_every_step():
    sig = synthetic_ctg(5, seed=5)
    fhr, up = sig["fhr"].copy(), sig["up"].copy()
    fhr[300:340] = 0.0  # signal loss
    fhr[900:960] = 75.0  # maternal capture
    up[500:560] = 0.0  # UC loss
    rec = Recording("synthetic", fhr, up)
    trained = tiny_trained(rec)
    # a spread model that reacts to every entry of the forecast state, so the stream's state
    # must equal the batch one for the stds to agree
    rng = np.random.default_rng(0)
    coef = np.concatenate([np.zeros((4, 1)), np.ones((4, 1)), rng.normal(0, 0.5, (4, 7))], 1)
    trained.spread = SpreadModel(coef, np.zeros(4), 12, STATE_NAMES, 0.9545)
    trained.anchor = DecelAnchor(np.array([0.9, 0.6, 0.3, 0.1]), 12)
    c = clean_ctg(fhr, up)  # the anchoring acts: some forecasts are issued in a deceleration
    assert forecast_state(c.fhr, c.valid, np.arange(15, len(fhr), 16))[:, -1].any()
    batch = forecast_whole_record(trained, rec)
    stream = stream_record(trained, fhr, up)
    assert np.array_equal(stream["issued_at"], batch.issue)
    assert np.abs(stream["mu_bpm"] - batch.mu).max() < 1e-3  # bpm; float32 rounding
    np.testing.assert_allclose(stream["std_bpm"], batch.std, rtol=1e-4)
