"""The training objective's octave-band balance term against a numpy reference."""

import numpy as np
import torch

from neural_mastering.config import load
from neural_mastering.dsp.eq import apply_eq_sos, low_shelf_coefficients
from neural_mastering.metrics import OCTAVE_CENTRES_HZ
from neural_mastering.objective import MasteringLoss, octave_balance_db

SR = 44100


def _reference_balance(x: np.ndarray) -> np.ndarray:
    power = np.abs(np.fft.rfft(x.mean(0))) ** 2
    f = np.fft.rfftfreq(x.shape[-1], 1 / SR)
    bands = np.array(
        [power[(f >= c / np.sqrt(2)) & (f < c * np.sqrt(2))].sum() for c in OCTAVE_CENTRES_HZ]
    )
    return 10 * np.log10(bands / bands.sum())


def test_balance_term_is_the_rms_octave_difference_and_has_a_gradient():
    rng = np.random.default_rng(0)
    target = 0.1 * rng.standard_normal((2, SR // 2))
    b, a = low_shelf_coefficients(torch.tensor(250.0), torch.tensor(6.0), torch.tensor(0.7), SR)
    pred = apply_eq_sos(target, b[None], a[None])
    want = np.sqrt(np.mean((_reference_balance(pred) - _reference_balance(target)) ** 2))
    assert want > 1.0  # the shelf moves the balance by decibels, so the check has teeth

    p = torch.tensor(pred[None], requires_grad=True)
    t = torch.tensor(target[None])
    np.testing.assert_allclose(
        octave_balance_db(t, SR)[0].numpy(), _reference_balance(target), atol=1e-6
    )
    cfg = load("tiny").loss
    params = {"gain_db": torch.zeros(1, 3), "q": torch.ones(1, 3)}
    terms = MasteringLoss(cfg, SR)({"output": p, "params": params}, t)
    assert abs(float(terms["balance"].detach()) - want) < 1e-4
    terms["balance"].backward()
    assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
