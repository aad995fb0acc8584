"""Speaker-independent cross-validation: folds, split control, functionals, the CV loop, CLI."""

import json

import numpy as np
import pytest

from spectro_diffusion.emotion.cli import train_classifier
from spectro_diffusion.emotion.corpora import (
    Utterance,
    speaker_folds,
    speaker_gender,
    speaker_split,
)
from spectro_diffusion.emotion.crossval import FeatureSet, cross_validate, speaker_normalise
from spectro_diffusion.emotion.evaluation import unweighted_accuracy
from spectro_diffusion.emotion.functionals import utterance_functionals
from spectro_diffusion.emotion.voicing import voiced_fraction

EMODB = [f"emodb-{s}" for s in ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")]


def test_loso_and_k_folds_partition_the_speakers():
    loso = speaker_folds(EMODB)
    assert loso == [[s] for s in EMODB]
    folds = speaker_folds(EMODB, 3, seed=1)
    assert sorted(s for f in folds for s in f) == EMODB
    assert sorted(len(f) for f in folds) == [3, 3, 4]
    with pytest.raises(ValueError, match="2 <= k <= 10"):
        speaker_folds(EMODB, 11)


def test_gender_balanced_folds_hold_both_genders():
    assert [speaker_gender(s) for s in EMODB].count("f") == 5
    assert speaker_gender("ravdess-07") == "m" and speaker_gender("ravdess-08") == "f"
    for seed in range(5):
        for fold in speaker_folds(EMODB, 5, balance_gender=True, seed=seed):
            assert sorted(speaker_gender(s) for s in fold) == ["f", "m"]


def test_fixed_test_speakers():
    utts = [Utterance(f"{s}.wav", "emodb", "anger", s, "a01") for s in EMODB]
    parts = speaker_split(utts, (0.7, 0.15, 0.15), seed=0, test_speakers=("03", "08"))
    assert {u.speaker for u in parts["test"]} == {"emodb-03", "emodb-08"}
    assert len(parts["val"]) == 2 and len(parts["train"]) == 6
    with pytest.raises(ValueError, match="'99' is not in the corpus"):
        speaker_split(utts, test_speakers=("99",))


def test_unweighted_accuracy_is_the_mean_recall():
    true = np.array([0, 0, 0, 0, 1, 1])
    pred = np.array([0, 0, 0, 0, 0, 1])
    assert unweighted_accuracy(true, pred) == pytest.approx((1.0 + 0.5) / 2)


def test_functionals_of_a_harmonic_tone():
    sr = 22_050
    t = np.arange(sr) / sr
    tone = sum(np.sin(2 * np.pi * 200 * k * t) / k for k in range(1, 6)).astype(np.float32)
    a = utterance_functionals(0.3 * tone, sr)
    b = utterance_functionals(0.3 * np.roll(tone, 100), sr)
    assert a.shape == b.shape and np.isfinite(a).all()
    # The layout ends with: pitch stats (7), pitch-delta stats (7), 40 log-mel means, 40 stds,
    # voiced fraction, voiced onsets per second, sounding seconds.
    pitch_median = a[-3 - 80 - 14 + 3]
    assert pitch_median == pytest.approx(12 * np.log2(200 / 27.5), abs=0.5)
    assert a[-3] > 0.9  # voiced fraction of a steady harmonic tone
    noise = np.random.default_rng(0).standard_normal(sr).astype(np.float32)
    # pyin: a steady harmonic tone is voiced throughout; white noise mostly not (pyin calls
    # about a sixth of white-noise frames voiced, so the bar is 0.3).
    assert voiced_fraction(0.3 * tone, sr) > 0.9 > 0.3 > voiced_fraction(noise, sr)


def test_speaker_normalisation_and_cv_on_separable_data():
    rng = np.random.default_rng(0)
    speakers = np.repeat(np.array(EMODB[:4]), 20)
    labels = np.tile(np.arange(2), 40)
    # Each speaker has its own offset; the class moves feature 0 by +-1 around it.
    offsets = {s: rng.normal(0, 5, 3) for s in EMODB[:4]}
    x = np.stack([offsets[s] for s in speakers]) + rng.normal(0, 0.3, (80, 3))
    x[:, 0] += 2 * labels - 1
    z = speaker_normalise(x, speakers)
    for s in EMODB[:4]:
        rows = speakers == s
        assert np.allclose(z[rows].mean(0), 0, atol=1e-9)
        assert np.allclose(z[rows].std(0), 1, atol=1e-6)
    data = FeatureSet(x, labels, speakers, ["neutral", "anger"])
    report = cross_validate(data, speaker_folds(speakers), (0.01, 1.0))
    assert report["unweighted_accuracy"] > 0.95 and len(report["folds"]) == 4
    assert np.sum(report["confusion_matrix"]) == 80
    raw = cross_validate(data, speaker_folds(speakers), (0.01, 1.0), speaker_norm=False)
    assert raw["unweighted_accuracy"] < report["unweighted_accuracy"]


def test_cli_loso_on_the_tiny_corpus(tmp_path, capsys):
    out = tmp_path / "cv"
    argv = ["--config", "tiny", "--set", f"data.cache_dir={tmp_path}", "--quiet", "--out"]
    with pytest.raises(SystemExit) as done:
        train_classifier.main([*argv, str(out), "--cv", "loso"])
    assert done.value.code == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "leave-one-speaker-out" in first and "synthetic" in first
    report = json.loads((out / "report.json").read_text())
    assert len(report["folds"]) == report["speakers"] == 4
    assert np.sum(report["confusion_matrix"]) == report["clips"] == 56
    assert (out / "plots" / "confusion.png").is_file()
    for bad in (
        ["--cv", "1"],
        ["--cv", "loso", "--balance-gender"],
        ["--cv", "2", "--test-speakers", "03"],
    ):
        with pytest.raises(SystemExit) as done:
            train_classifier.main([*argv, str(tmp_path / "bad"), *bad])
        assert done.value.code == 2 and not (tmp_path / "bad").exists(), bad
