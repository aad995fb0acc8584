"""Benchmark pieces against hand computations and independent references: baselines, their
spread, CRPS / NLL / coverage, deceleration mask, bootstrap, and the records file."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sigshared.errors import DataError
from teb_vae.benchmark import (
    _metrics,
    _sums,
    baseline_forecasts,
    baseline_spread,
    bootstrap_ci,
    deceleration_mask,
    last_valid,
    z_shuffled_summary,
)
from teb_vae.data import Windows, read_records_file
from teb_vae.features.preprocess import normalize_fhr


def test_baselines_use_only_valid_samples_up_to_the_issue_time():
    y = np.array([10.0, 20.0, 99.0, 40.0, 99.0, 99.0])
    valid = np.array([True, True, False, True, False, False])
    assert np.allclose(last_valid(y, valid), [10, 20, 20, 40, 40, 40])
    b = baseline_forecasts(y, valid, np.array([2, 5]), horizon=3)
    assert np.allclose(b["persistence"], [20, 40])
    # issued at 2: valid among samples 0..2 -> (10 + 20) / 2; at 5: samples 3..5 -> 40
    assert np.allclose(b["mean_2min"], [15, 40])


def test_baseline_spread_is_the_rms_error_per_horizon_sample():
    n, t, h = 64, 8, 8
    y = np.arange(n, dtype=np.float64) + 100  # a ramp: persistence misses by k + 1 at lag k
    w = Windows(
        normalize_fhr(y)[None].astype(np.float32),
        np.zeros((1, n), np.float32),
        np.ones((1, n), bool),
        np.ones((1, n), bool),
        ["r@0"],
    )
    spread = baseline_spread(w, h, t, warmup=0)
    assert np.allclose(spread["persistence"], np.arange(1, h + 1), atol=1e-3)
    # mean of the last 8 samples lags the last sample by 3.5
    assert np.allclose(spread["mean_2min"], np.arange(1, h + 1) + 3.5, atol=1e-3)


def test_gaussian_scores_match_closed_forms_and_numerical_integration():
    rng = np.random.default_rng(0)
    err = rng.normal(0, 2.0, (50, 40))
    std = np.full((50, 40), 2.0)
    m = _metrics(_sums(err, std, np.ones_like(err, bool)))
    assert m["mae"] == pytest.approx(np.abs(err).mean())
    assert m["rmse"] == pytest.approx(np.sqrt((err**2).mean()))
    nll = 0.5 * np.log(2 * np.pi * 4.0) + 0.5 * (err / 2) ** 2
    assert m["nll"] == pytest.approx(nll.mean())
    assert m["cover_2std"] == pytest.approx((np.abs(err) <= 4).mean())
    # CRPS = integral of (F(x) - 1{x >= y})^2 dx, numerically for one case
    import torch

    e, s = 1.3, 0.7
    x = np.linspace(-12, 12, 200_001)
    cdf = 0.5 * (1 + torch.special.erf(torch.from_numpy((x - e) / (s * math.sqrt(2))))).numpy()
    crps_num = np.trapezoid((cdf - (x >= 0)) ** 2, x)
    one = _metrics(_sums(np.array([[e]]), np.array([[s]]), np.array([[True]])))
    assert one["crps"] == pytest.approx(crps_num, rel=1e-4)
    assert (
        one["cover_90"] == 0.0
        and _metrics(_sums(np.array([[1.0]]), np.array([[1.0]]), np.array([[True]])))["cover_90"]
        == 1.0
    )


def test_deceleration_mask_marks_drops_below_the_trailing_median():
    y = np.full(4 * 600, 140.0)
    y[2000:2100] = 120.0  # 20 bpm below: a deceleration
    y[2200:2300] = 130.0  # 10 bpm below: not
    m = deceleration_mask(y, np.ones_like(y, bool))
    assert m[2000:2100].all() and m.sum() == 100
    assert not deceleration_mask(y, np.zeros_like(y, bool)).any()


def test_bootstrap_interval_brackets_the_mean_and_shrinks_with_agreement():
    vals = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    lo, hi = bootstrap_ci(vals)
    assert lo < 3.0 < hi and lo >= 1.0 and hi <= 5.0
    assert bootstrap_ci(np.full(5, 2.0)) == [2.0, 2.0]
    assert math.isclose(np.mean(bootstrap_ci(vals)), 3.0, abs_tol=0.3)


def test_z_shuffle_summary_is_the_per_record_increase_of_each_score():
    rng = np.random.default_rng(4)
    ok = np.ones((50, 3), bool)
    own, shuffled, expected = {}, {}, []
    for r, widen in (("a", 1.0), ("b", 1.5), ("c", 3.0)):
        err = rng.normal(0, 2.0, ok.shape)  # std 2 is right: widening it raises the NLL
        own[r], shuffled[r] = (
            _sums(err, np.full(3, 2.0), ok),
            _sums(err, np.full(3, 2.0 * widen), ok),
        )
        # NLL of N(0, s^2) at the same errors: log(s) more, sum e^2 / 2 times 1/s^2 - 1/4 less
        e2 = (err**2).mean()
        expected.append(math.log(widen) + 0.5 * e2 * (1 / (2.0 * widen) ** 2 - 1 / 4.0))
    z = z_shuffled_summary(own, shuffled)
    assert z["nll_increase"]["mean"] == pytest.approx(np.mean(expected))
    assert z["mae_increase"]["mean"] == 0.0 and z["mae_increase"]["ci95"] == [0.0, 0.0]
    assert z["crps_increase"]["mean"] > 0  # wider than the errors: a worse CRPS
    lo, hi = z["nll_increase"]["ci95"]
    assert lo <= min(expected) + 1e-12 and max(expected) - 1e-12 <= hi and lo < hi
    assert z["model"]["samples"] == z["shuffled"]["samples"] == 3 * ok.size


def test_records_file_forms_and_errors(tmp_path):
    split = tmp_path / "split.yaml"
    split.write_text("train: [1001, 1002]\nval: [1003]\ntest: [1004]\n")
    assert read_records_file(split) == {
        "train": ["1001", "1002"],
        "val": ["1003"],
        "test": ["1004"],
    }
    names = tmp_path / "names.txt"
    names.write_text("1001\n# a comment\n1002  # trailing\n\n")
    assert read_records_file(names) == {"train": ["1001", "1002"]}
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1]\nholdout: [2]\n")
    with pytest.raises(DataError, match="holdout"):
        read_records_file(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(DataError, match="names no record"):
        read_records_file(empty)
