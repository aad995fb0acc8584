"""Reference mastering: the balance moves to the references', weights, and the ceiling holds."""

import numpy as np
import pytest
import scipy.signal

from neural_mastering.checkpoint import load_trained
from neural_mastering.mastering import master_audio
from neural_mastering.metrics import true_peak_fft_db
from neural_mastering.reference import (
    balance_db,
    distance_db,
    match_balance,
    reference_balance,
)
from sigshared.errors import ConfigError

SR = 44100


def _noise(seed, cutoff=None, seconds=4.0, order=1):
    x = np.random.default_rng(seed).standard_normal((2, int(seconds * SR))) * 0.1
    if cutoff is not None:
        x = scipy.signal.sosfilt(scipy.signal.butter(order, cutoff, fs=SR, output="sos"), x)
    return x


def test_matching_moves_a_dark_signal_to_a_bright_references_balance():
    # A first-order low-pass at 3 kHz: at most 12 dB from flat in every band, within the
    # matching filter's +-12 dB.
    dark, bright = _noise(0, cutoff=3000.0), _noise(1)
    target = reference_balance([(bright, SR)])
    before = distance_db(balance_db(dark, SR), target)
    after = distance_db(balance_db(match_balance(dark, SR, target), SR), target)
    assert before > 5.0
    assert after < 1.0


def test_weights_pull_the_mean_balance_towards_the_heavier_reference():
    a, b = _noise(2, cutoff=500.0, order=2), _noise(3)
    ba, bb = balance_db(a, SR), balance_db(b, SR)
    heavy_a = reference_balance([(a, SR), (b, SR)], [9.0, 1.0])
    assert distance_db(heavy_a, ba) < distance_db(heavy_a, bb)
    with pytest.raises(ConfigError, match="2 finite numbers > 0"):
        reference_balance([(a, SR), (b, SR)], [1.0, 0.0])


def test_reference_mastering_reports_distances_and_stays_under_the_ceiling():
    trained = load_trained()
    x = _noise(4, cutoff=1000.0, seconds=3.0, order=2).astype(np.float32)
    target = reference_balance([(_noise(5, seconds=3.0), SR)])
    r = master_audio(trained, x, SR, reference_db=target)
    assert r.balance_distance_db["output"] < r.balance_distance_db["input"] - 3.0
    assert true_peak_fft_db(r.audio) <= -1.0
