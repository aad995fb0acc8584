"""The state-conditioned spread and the deceleration anchoring: the forecast state's
definitions, its bounded look-back (what the stream relies on), and both fits against closed
forms on synthetic errors."""

from __future__ import annotations

import numpy as np
import torch

from teb_vae.anchoring import fit_decel_anchor
from teb_vae.spread import SpreadModel, fit_spread
from teb_vae.state import STATE_HISTORY, STATE_NAMES, forecast_state


def test_forecast_state_reads_drops_gaps_and_decelerations():
    fs = 4
    y = np.full(30 * 60 * fs, 140.0)
    valid = np.ones_like(y, bool)
    y[4000:4240] = 115.0  # a one-minute deceleration, 25 bpm down
    valid[4600:4680] = False  # a 20 s gap, filled with the last value
    issue = np.array([3999 + 20, 4239, 4679, 4800 + 4 * 60 * fs - 1])
    s = dict(zip(STATE_NAMES, forecast_state(y, valid, issue).T))
    # 5 s into the drop: the last value is 25 bpm below a 15 s mean of 20 x 140 + 40 x 115 / 60
    assert np.isclose(s["fall_15s"][0], (140 * 40 + 115 * 20) / 60 / 15 - 115 / 15)
    assert s["rise_15s"][0] == 0.0 and s["log_since_decel"][0] == 0.0
    assert np.isclose(s["decel_fraction_10min"][1], 240 / 2400)
    assert np.isclose(s["log_gap_age"][2], np.log1p(80 / fs))  # 81 samples since the last valid
    assert s["log_gap_age"][1] == 0.0
    assert np.isclose(s["log_since_decel"][3], np.log1p((issue[3] - 4239) / fs))
    assert np.isclose(s["log_sd_1min"][3], 0.0)  # a flat minute


def test_forecast_state_depends_only_on_the_last_state_history_samples():
    rng = np.random.default_rng(0)
    n = STATE_HISTORY + 3000
    y = 140 + np.cumsum(rng.normal(0, 1, n)) * 0.5
    y[rng.random(n) < 0.01] -= 30  # short dips
    valid = rng.random(n) > 0.05
    issue = np.arange(STATE_HISTORY - 1, n, 997)
    whole = forecast_state(y, valid, issue)
    for row, e in zip(whole, issue):
        lo = e + 1 - STATE_HISTORY
        part = forecast_state(y[lo : e + 1], valid[lo : e + 1], np.array([STATE_HISTORY - 1]))
        np.testing.assert_allclose(part[0], row, rtol=1e-9, atol=1e-12)


def test_spread_fit_recovers_a_state_dependent_scale():
    # errors ~ N(0, sigma^2), sigma = 1.5 s_net exp(0.8 x): the fitted +-2 sigma band must be
    # the true one (the conformal level removes the median-to-2-sigma ratio of |N(0,1)|)
    rng = np.random.default_rng(1)
    m, bin_len = 12_000, 4
    x = rng.random((m, 1))
    s_net = np.exp(rng.uniform(0, 2, m))
    sigma = 1.5 * s_net * np.exp(0.8 * x[:, 0])
    err = np.abs(rng.normal(0, 1, m) * sigma)
    k = rng.integers(0, 2 * bin_len, m)
    sp = fit_spread(s_net, err, x, k, bin_len, 2, ("x",))
    assert np.allclose(sp.coef[:, 2], 0.8, atol=0.08)
    fitted = sp.std(s_net[:, None].repeat(2 * bin_len, 1), x)[np.arange(m), k]
    np.testing.assert_allclose(np.median(fitted / sigma), 1.0, atol=0.03)
    for lo in (0.0, 0.5):  # coverage holds in each half of the state, not only overall
        sel = (x[:, 0] >= lo) & (x[:, 0] < lo + 0.5)
        assert abs((err[sel] <= 2 * fitted[sel]).mean() - 0.9545) < 0.012
    # the band is wider where the state says so: exp(0.8) between x = 1 and x = 0
    one = np.ones((1, 2 * bin_len))
    ratio = sp.std(one, np.ones((1, 1))) / sp.std(one, np.zeros((1, 1)))
    np.testing.assert_allclose(ratio, np.exp(0.8), rtol=0.08)
    assert SpreadModel.from_state(sp.to_state()).to_state() == sp.to_state()


def test_per_bin_spread_of_older_checkpoints_ignores_the_state():
    sp = SpreadModel.per_bin([2.0, 3.0], 2, STATE_NAMES)
    rng = np.random.default_rng(2)
    out = sp.std(np.full((3, 4), 5.0), rng.normal(size=(3, len(STATE_NAMES))))
    np.testing.assert_allclose(out, np.tile([10.0, 10.0, 15.0, 15.0], (3, 1)))


def test_decel_anchor_fit_finds_the_fraction_that_explains_the_targets():
    rng = np.random.default_rng(3)
    m, bin_len = 3000, 5
    mu, last = rng.normal(140, 10, m), rng.normal(110, 10, m)
    k = rng.integers(0, 3 * bin_len, m)
    frac = np.array([1.0, 0.4, 0.0])[k // bin_len]  # targets at mu + frac (last - mu)
    target = mu + frac * (last - mu) + rng.laplace(0, 0.01, m)
    anchor = fit_decel_anchor(mu, last, target, k, bin_len, 3)
    np.testing.assert_allclose(anchor.weight, [1.0, 0.4, 0.0])
    # applied only where in_decel is 1, the same on numpy and torch
    mus = np.full((2, 3 * bin_len), 140.0)
    out = anchor.apply(mus, np.array([100.0, 100.0]), np.array([1.0, 0.0]))
    np.testing.assert_allclose(out[0], np.repeat([100.0, 124.0, 140.0], bin_len))
    np.testing.assert_allclose(out[1], mus[1])
    tout = anchor.apply(torch.from_numpy(mus), np.array([100.0, 100.0]), np.array([1.0, 0.0]))
    np.testing.assert_allclose(tout.numpy(), out)
