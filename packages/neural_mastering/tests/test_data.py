"""Synthetic songs, de-mastering chains and the pairs folder reader."""

import json

import numpy as np
import pytest
import soundfile as sf

from neural_mastering.data import PairsDataset, SyntheticPairs, TrackPairs, find_pairs
from neural_mastering.demaster import apply_coefficients, demaster, tilt_coefficients
from neural_mastering.synthetic import synth_song
from sigshared.errors import UserError

SR = 44100


def test_synthetic_songs_are_seeded_bounded_and_distinct():
    a, b, c = synth_song(1, 2.0, SR), synth_song(1, 2.0, SR), synth_song(2, 2.0, SR)
    assert a.shape == (2 * SR,) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert np.abs(a).max() == pytest.approx(10 ** (-1 / 20), rel=1e-3)  # peak -1 dBFS
    spectrum = np.abs(np.fft.rfft(a)) ** 2
    f = np.fft.rfftfreq(len(a), 1 / SR)
    low, high = spectrum[f < 200].sum(), spectrum[f > 5000].sum()
    assert low > 0.05 * spectrum.sum() and high > 1e-4 * spectrum.sum()  # bass and air


def test_demaster_chain_is_logged_and_reproducible():
    x = synth_song(3, 1.0, SR)
    y1, p1 = demaster(x, SR, np.random.default_rng(5))
    y2, p2 = demaster(x, SR, np.random.default_rng(5))
    np.testing.assert_array_equal(y1, y2)
    assert p1 == p2
    assert {"tilt_db", "peaks", "expansion_ratio", "transient_softening", "level_db"} <= set(p1)
    assert -12 <= p1["level_db"] <= -3
    rms = lambda s: np.sqrt(np.mean(s**2))  # noqa: E731
    # The level drop dominates: the de-mastered crop is quieter than the original.
    assert rms(y1) < rms(x)


def test_synthetic_pairs_items_and_log(tmp_path):
    log = tmp_path / "chain.jsonl"
    ds = SyntheticPairs(3, 0.5, SR, seed=7, log_path=log)
    item = ds[1]
    assert item["input"].shape == (1, SR // 2) == item["target"].shape
    again = SyntheticPairs(3, 0.5, SR, seed=7)[1]
    assert np.array_equal(item["input"].numpy(), again["input"].numpy())
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert rows[0]["index"] == 1 and "tilt_db" in rows[0]


def _write(path, x, sr):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x.T, sr)


def test_identity_items_are_the_finished_crop_turned_down_and_leave_the_others_alone():
    plain = SyntheticPairs(8, 0.2, SR, seed=7)
    mixed = SyntheticPairs(8, 0.2, SR, seed=7, identity_share=0.5)
    identity = 0
    for i in range(8):
        item, ref = mixed[i], plain[i]
        x, y = item["input"].numpy(), item["target"].numpy()
        np.testing.assert_array_equal(y, ref["target"].numpy())
        ratio = x[np.abs(y) > 1e-3] / y[np.abs(y) > 1e-3]
        if np.allclose(ratio, ratio[0], rtol=1e-5):  # an identity item: one gain
            identity += 1
            assert 10 ** (-12 / 20) - 1e-6 <= ratio[0] <= 10 ** (-3 / 20) + 1e-6
        else:  # a de-mastered item, the same as without identity items
            np.testing.assert_array_equal(x, ref["input"].numpy())
    assert 1 <= identity <= 7


def test_target_tilt_tilts_the_finished_crop_and_the_chain_starts_from_it(tmp_path):
    logs = tmp_path / "plain.jsonl", tmp_path / "tilted.jsonl"
    plain = SyntheticPairs(3, 0.2, SR, seed=7, log_path=logs[0])
    tilted = SyntheticPairs(3, 0.2, SR, seed=7, log_path=logs[1], target_tilt_db=4.0)
    for i in range(3):
        item, ref = tilted[i], plain[i]
        chain = json.loads(logs[1].read_text().splitlines()[i])
        tilt = chain.pop("target_tilt_db")
        assert 0 < abs(tilt) <= 4.0
        y = apply_coefficients(ref["target"].numpy()[0], tilt_coefficients(tilt, SR))
        np.testing.assert_allclose(item["target"].numpy()[0], y, atol=1e-6)
        # The same chain (the same draws) de-masters the tilted crop instead of the plain one.
        assert chain == json.loads(logs[0].read_text().splitlines()[i])
        assert not np.allclose(item["input"].numpy(), ref["input"].numpy(), atol=1e-4)


def test_pairs_folder_reads_and_resamples(tmp_path):
    x = 0.1 * np.random.default_rng(0).standard_normal((2, 48000)).astype(np.float32)
    _write(tmp_path / "unmastered" / "a.wav", x, 48000)
    _write(tmp_path / "mastered" / "a.wav", 2 * x, 48000)
    ds = PairsDataset(tmp_path, n_items=2, crop_s=0.25, sample_rate=SR, seed=0)
    item = ds[0]
    assert item["input"].shape == (1, int(0.25 * SR))
    np.testing.assert_allclose(item["target"].numpy(), 2 * item["input"].numpy(), atol=3e-4)


def test_pairs_missing_partner_is_named(tmp_path):
    x = np.zeros((1, 4800), np.float32)
    _write(tmp_path / "unmastered" / "a.wav", x, 48000)
    _write(tmp_path / "unmastered" / "b.wav", x, 48000)
    _write(tmp_path / "mastered" / "a.wav", x, 48000)
    with pytest.raises(UserError, match="b.wav has no partner"):
        find_pairs(tmp_path)


def test_pairs_length_mismatch_is_named(tmp_path):
    _write(tmp_path / "unmastered" / "a.wav", np.zeros((1, 48000), np.float32), 48000)
    _write(tmp_path / "mastered" / "a.wav", np.zeros((1, 24000), np.float32), 48000)
    with pytest.raises(UserError, match="a.wav lasts 1.000 s but its partner"):
        PairsDataset(tmp_path, 1, 0.1, SR, 0)


def test_tracks_folder_gives_self_supervised_pairs(tmp_path):
    _write(tmp_path / "song.flac", synth_song(4, 1.0, 22050)[None], 22050)
    ds = TrackPairs(tmp_path, n_items=2, crop_s=0.5, sample_rate=SR, seed=0)
    item = ds[0]
    assert item["input"].shape == (1, SR // 2)
    assert not np.allclose(item["input"].numpy(), item["target"].numpy())


def test_held_out_test_songs_are_not_training_songs():
    from neural_mastering.config import load
    from neural_mastering.evaluation import TEST_SEED

    d = load("demo").data
    train = SyntheticPairs(d.train_items, d.crop_s, SR, d.seed)
    val = SyntheticPairs(d.val_items, d.crop_s, SR, d.seed + 1)
    seen = {train.song_seed(i) for i in range(len(train))} | {
        val.song_seed(i) for i in range(len(val))
    }
    assert len(seen) == len(train) + len(val)  # distinct songs per item
    # mastering-eval's songs are synth_song(TEST_SEED + i) and its chains use the stream
    # [TEST_SEED, i]; training chains use [data.seed (+1), index].
    assert seen.isdisjoint(range(TEST_SEED, TEST_SEED + 10_000))
    assert TEST_SEED not in (d.seed, d.seed + 1)
