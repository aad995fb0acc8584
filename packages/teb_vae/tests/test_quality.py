"""Signal-quality masks: the documented jump rule, UC loss / saturation, validity channels, and
the header fields of a CTU-UHB record."""

from __future__ import annotations

import numpy as np

from teb_vae.data import parse_header_comments, read_recording
from teb_vae.quality import (
    JumpRule,
    fhr_loss_mask,
    jump_segments,
    quality_masks,
    quality_summary,
    validity_channels,
)
from teb_vae.synthetic import write_wfdb_record

FS = 4


def flat(minutes: float, level: float = 140.0) -> np.ndarray:
    return np.full(int(minutes * 60 * FS), level)


def test_a_spike_is_an_artefact_and_a_gradual_deceleration_is_not():
    fhr = flat(5)
    fhr[400:420] = 210.0  # doubling-like jump for 5 s, then back
    t = np.arange(len(fhr)) / FS
    decel = 40 * np.clip(1 - np.abs(t - 150) / 15, 0, None)  # 40 bpm V over 30 s
    fhr = fhr - decel
    m = quality_masks(fhr, np.full_like(fhr, 20.0))
    assert m.artefact[400:420].all() and m.artefact.sum() == 20
    assert not m.maternal.any()
    assert m.valid_fhr[540:660].all()  # the deceleration is real signal


def test_a_drop_to_maternal_rate_is_maternal_until_the_fetal_level_returns():
    fhr = flat(6)
    fhr[480:720] = 85.0  # one-sample drop to 85 bpm for 60 s, then one-sample return
    m = quality_masks(fhr, np.full_like(fhr, 20.0))
    assert m.maternal[480:720].all() and m.maternal.sum() == 240
    assert not m.artefact.any()


def test_an_artefact_that_never_returns_ends_after_60_s():
    fhr = flat(5)
    fhr[400:] = 175.0  # a jump up that stays: accepted as the new level after 60 s
    m = quality_masks(fhr, np.full_like(fhr, 20.0))
    assert m.artefact[400 : 400 + 240].all() and not m.artefact[400 + 241 :].any()


def test_after_a_long_gap_the_level_may_change():
    fhr = flat(3)
    fhr[200:300] = 0.0  # 25 s of loss
    fhr[300:] = 100.0  # new level after the gap: not a jump
    m = quality_masks(fhr, np.full_like(fhr, 20.0))
    assert m.fhr_loss[200:300].all()
    assert not (m.artefact | m.maternal).any()


def test_uc_zeros_and_saturation():
    uc = np.full(400, 20.0)
    uc[10] = 0.0  # a single zero is flagged as it arrives (causal)
    uc[50:70] = 0.0  # 5 s of zeros: the transducer is off
    uc[100:110] = 100.0
    uc[200] = np.nan
    uc[300] = 0.5  # a low reading is not a zero
    m = quality_masks(np.full(400, 140.0), uc)
    assert m.uc_loss[10] and m.uc_loss[50:70].all() and m.uc_loss[200] and not m.uc_loss[300]
    assert m.uc_saturated[100:110].all() and m.uc_saturated.sum() == 10
    s = quality_summary(m)
    assert s["uc_loss_pct"] == 5.5 and s["uc_saturated_pct"] == 2.5 and s["fhr_masked_pct"] == 0


def test_jump_rule_fed_in_chunks_flags_what_one_pass_flags():
    rng = np.random.default_rng(3)
    fhr = 140 + np.cumsum(rng.normal(0, 0.3, 3000))
    fhr[500:700] = 80.0  # maternal capture
    fhr[1200:1260] = 210.0  # artefact
    fhr[2000:2100] = 0.0  # signal loss
    measured = ~fhr_loss_mask(fhr)
    whole = jump_segments(fhr, measured)
    rule = JumpRule()
    parts = [rule.update(fhr[i : i + 16], measured[i : i + 16]) for i in range(0, 3000, 16)]
    for k in range(2):
        assert np.array_equal(whole[k], np.concatenate([p[k] for p in parts]))
    assert whole[1][500:700].all() and whole[0][1200:1260].all()


def test_quality_summary_longest_gap():
    fhr = flat(2)
    fhr[10:30] = 0.0
    fhr[100:180] = 0.0
    s = quality_summary(quality_masks(fhr, np.full_like(fhr, 20.0)))
    assert s["longest_gap_s"] == 20.0 and s["fhr_masked_pct"] == round(100 * 100 / 480, 2)


def test_validity_channels_are_causal_step_shares_and_gap_age():
    valid = np.ones((1, 64), bool)
    valid[0, 20:40] = False  # steps of 8: step 2 half valid, steps 3-4 invalid
    uc = np.ones((1, 64), bool)
    held = np.linspace(-1, 1, 64)[None]
    v = validity_channels(valid, uc, 8, held)
    assert v.shape == (1, 4, 8)
    assert np.allclose(v[0, 3], held[0, 7::8])  # the anchor: the held FHR at each step's end
    assert np.allclose(v[0, 0], [1, 1, 0.5, 0, 0, 1, 1, 1])
    assert np.allclose(v[0, 1], 1)
    # step i ends at sample 8i + 7; the last valid sample before the gap is 19
    assert np.allclose(v[0, 2, :5] * 60 * FS, [0, 0, 4, 12, 20])
    assert v[0, 2, 5] == 0


def test_header_fields_are_parsed(tmp_path):
    comments = ["#pH           7.14", "BDecf        8.14", "Apgar5       8", "Pos. II.st.  14400"]
    meta = parse_header_comments(comments + ["II.stage     20", "I.stage      232"])
    assert meta == {
        "ph": 7.14,
        "bdecf": 8.14,
        "apgar5": 8.0,
        "stage2_start": 14400.0,
        "stage2_minutes": 20.0,
        "stage1_minutes": 232.0,
    }
    import wfdb

    write_wfdb_record(tmp_path, "2001", flat(1), np.full(240, 20.0))
    rec = wfdb.rdheader(str(tmp_path / "2001"))
    rec.comments = comments
    rec.wrheader(write_dir=str(tmp_path))
    r = read_recording(tmp_path / "2001.hea")
    assert r.meta["ph"] == 7.14 and r.stage2_start == 14400
