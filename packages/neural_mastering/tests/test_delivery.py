"""The limiter and the delivery stage: ceilings by an independent meter, loudness targets, DC."""

import numpy as np
import pytest

from neural_mastering.delivery import PRESETS, block_dc, deliver
from neural_mastering.dsp.limiter import limit, reduction_curve, remove_overs
from neural_mastering.metrics import lufs, true_peak_fft_db
from neural_mastering.synthetic import synth_song
from sigshared.errors import DataError

SR = 44100


def _song(seconds=3.0, seed=0):
    """A stereo synthetic song faded in and out over 10 ms, as released music starts and ends
    (an abrupt end is a step whose band-limited overshoot no meter agrees on)."""
    s = synth_song(seed, seconds, SR)
    n = np.arange(len(s))
    fade = np.minimum(1.0, np.minimum(n + 1, n[::-1] + 1) / (0.01 * SR))
    return np.stack([s, np.roll(s, 37)]).astype(np.float64) * fade


def test_reduction_covers_every_requirement_and_starts_before_the_peak():
    rng = np.random.default_rng(0)
    required = np.maximum(0.0, rng.standard_normal(20000) * 4 - 3)
    for lookahead, release in ((1, 1.0), (64, 500.0), (221, 2646.0)):
        s = reduction_curve(required, lookahead, release)
        assert s.shape == required.shape
        assert (s >= required - 1e-9).all()
    one = np.zeros(400)
    one[200] = 6.0
    s = reduction_curve(one, 100, 50.0)
    assert s[200] == pytest.approx(6.0)
    assert s[100] == 0.0 and 0 < s[150] < 6.0  # the fade starts L samples ahead
    assert s[199] < s[200] and s[250] < s[201]  # then releases


@pytest.mark.parametrize("gain_db", [0.0, 8.0, 16.0])
def test_limited_output_true_peak_under_threshold_by_an_fft_meter(gain_db):
    x = _song()
    out = limit(x, SR, -1.05, gain_db=gain_db)
    assert (out.reduction_db >= 0).all()
    assert true_peak_fft_db(out.audio) <= -1.0  # one pass: within 0.05 dB
    again = remove_overs(out.audio, SR, -1.05)
    assert true_peak_fft_db(again.audio) <= -1.05 + 0.01  # the 4x grid + parabola vs 8x


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_reach_target_and_stay_under_ceiling(preset):
    target, ceiling = PRESETS[preset]
    x = 0.3 * _song(seed=1)
    d = deliver(x, SR, target, ceiling)
    assert abs(lufs(d.audio, SR) - target) <= 0.3
    assert true_peak_fft_db(d.audio) <= ceiling
    assert d.true_peak_db <= ceiling
    assert np.abs(d.audio.mean(-1)).max() < 1e-4
    assert d.reduction_max_db >= d.reduction_mean_db >= 0


def test_dc_heavy_clipped_hot_input_is_delivered_clean():
    x = np.clip(4.0 * _song(seed=2) + 0.38, -1, 1)  # clipped, with DC
    d = deliver(x, SR, -14.0, -1.0)
    assert np.isfinite(d.audio).all()
    assert np.abs(d.audio.mean(-1)).max() < 1e-4
    assert abs(d.lufs + 14) <= 0.3 and true_peak_fft_db(d.audio) <= -1.0
    assert np.abs(block_dc(np.full((1, SR), 0.5), SR).mean()) < 1e-12


def test_silence_stays_silent_and_a_too_short_input_is_refused():
    d = deliver(np.zeros((2, SR)), SR, -14.0, -1.0)
    assert d.silent and np.all(d.audio == 0)
    with pytest.raises(DataError, match="needs at least 0.4 s"):
        deliver(np.ones((1, 1)), SR, -14.0, -1.0)
