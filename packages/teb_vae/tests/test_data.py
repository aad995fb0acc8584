"""Synthetic generator, WFDB / CSV / NPZ readers, windowing and the feature cache."""

from __future__ import annotations

import numpy as np
import pytest

from sigshared.errors import UserError
from teb_vae.config import FeatureConfig
from teb_vae.data import (
    Recording,
    compute_features,
    cut_windows,
    feature_cache_key,
    read_recording,
)
from teb_vae.synthetic import synthetic_ctg, write_wfdb_record


def test_synthetic_is_seeded_and_plausible():
    a, b = synthetic_ctg(30, seed=3), synthetic_ctg(30, seed=3)
    assert np.array_equal(a["fhr"], b["fhr"]) and a["decel_type"] == b["decel_type"]
    assert len(a["fhr"]) == 30 * 60 * 4
    present = a["fhr"][a["fhr"] > 0]
    assert 90 < np.median(present) < 170
    assert (a["fhr"] == 0).any()  # dropouts
    c = synthetic_ctg(30, seed=4, dropouts=False)
    assert (c["fhr"] > 0).all() and np.isfinite(c["up"]).all()


def test_wfdb_round_trip(tmp_path):
    sig = synthetic_ctg(21, seed=5)
    up = np.nan_to_num(sig["up"])
    stem = write_wfdb_record(tmp_path, "1001", sig["fhr"], up)
    assert (tmp_path / "1001.hea").is_file() and (tmp_path / "1001.dat").is_file()
    for path in (stem, tmp_path / "1001.hea"):
        rec = read_recording(path)
        np.testing.assert_allclose(rec.fhr, sig["fhr"], atol=0.006)  # 16-bit, gain 100
        np.testing.assert_allclose(rec.up, up, atol=0.006)


def test_csv_and_npz_readers_and_their_errors(tmp_path):
    fhr, up = np.full(50, 140.0), np.arange(50.0)
    (tmp_path / "a.csv").write_text("fhr,up\n" + "\n".join(f"{a},{b}" for a, b in zip(fhr, up)))
    np.savez(tmp_path / "a.npz", fhr=fhr, up=up)
    for name in ("a.csv", "a.npz"):
        rec = read_recording(tmp_path / name)
        assert np.allclose(rec.fhr, fhr) and np.allclose(rec.up, up)
    (tmp_path / "b.csv").write_text("hr,toco\n1,2\n")
    with pytest.raises(UserError, match="expected 'fhr' and 'up'"):
        read_recording(tmp_path / "b.csv")
    with pytest.raises(UserError, match="not found"):
        read_recording(tmp_path / "missing.csv")


def test_windows_skip_and_count_missing():

    fhr = np.full(4800 * 3, 140.0)
    fhr[4800 : 4800 + 2000] = 0.0  # second window: 42 % missing
    w = cut_windows(Recording("r", fhr, np.zeros_like(fhr)), 4800, 4800, max_missing=0.2)
    assert len(w.fhr) == 2 and w.skipped == 1
    assert w.source == ["r@0", "r@9600"]


def test_feature_cache_is_reused_and_invalidated(tmp_path, monkeypatch):
    sig = synthetic_ctg(20, 0)
    w = cut_windows(Recording("s", sig["fhr"], sig["up"]), 4800, 4800, max_missing=1.0)
    cfg = FeatureConfig()
    first = compute_features(w, cfg, tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    import teb_vae.data as data_mod

    def fail(*args, **kwargs):
        raise AssertionError("features recomputed although cached")

    with monkeypatch.context() as m:
        m.setattr(data_mod, "FeatureExtractor", fail)
        again = compute_features(w, cfg, tmp_path)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    changed_signal = feature_cache_key(w.fhr + 1e-3, w.up, cfg)
    changed_config = feature_cache_key(w.fhr, w.up, FeatureConfig(delay_sigmas=2.5))
    assert len({feature_cache_key(w.fhr, w.up, cfg), changed_signal, changed_config}) == 3
    w.fhr[0, :10] += 0.5
    compute_features(w, cfg, tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2
