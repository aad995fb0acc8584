"""Filter bank (against kymatio), scattering (closed forms, the subsampled cascade against full
resolution), phase harmonics, exact feature causality, preprocessing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from teb_vae.config import FeatureConfig
from teb_vae.features import FeatureExtractor
from teb_vae.features.filterbank import FilterBank, constant_q_params, lowpass_taps, morlet_f
from teb_vae.features.phase_harmonic import phase_harmonic_features
from teb_vae.features.preprocess import (
    clean_ctg,
    denormalize_fhr,
    denormalize_up,
    normalize_fhr,
    normalize_up,
)
from teb_vae.synthetic import synthetic_ctg


def test_morlet_has_zero_mean_unit_l1_and_peaks_at_xi():
    n, xi, sigma = 1024, 0.1, 0.02
    h = morlet_f(n, xi, sigma)
    assert abs(float(h[0])) < 1e-12  # zero mean in time
    assert float(torch.fft.ifft(h).abs().sum()) == pytest.approx(1.0, rel=1e-9)
    assert abs(float(torch.fft.fftfreq(n)[h.argmax()]) - xi) <= 1.0 / n


def test_kymatio_filters_match_ours():
    """kymatio's torch frontend (imported directly: its top level fails with current SciPy):
    the same constant-Q (xi, sigma) and the same Fourier-domain Morlet filters, before ours are
    truncated and made causal."""
    pytest.importorskip("kymatio.scattering1d.frontend.torch_frontend")
    from kymatio.scattering1d.frontend.torch_frontend import ScatteringTorch1D

    n, j, q, t = 1024, 5, (2, 1), 16
    ref_op = ScatteringTorch1D(J=j, shape=n, Q=q, T=t, oversampling=4, max_order=2)
    n_fft = len(ref_op.phi_f["levels"][0])
    p1 = constant_q_params(j, q[0])
    # kymatio appends linearly spaced filters below the constant-Q range for Q > 1: compare the
    # constant-Q ones, whose (xi, sigma) must be identical.
    for (xi, sigma), ref in zip(p1, ref_op.psi1_f):
        assert (xi, sigma) == pytest.approx((ref["xi"], ref["sigma"]), rel=1e-12)
        got = morlet_f(n_fft, xi, sigma).numpy()
        np.testing.assert_allclose(got, np.asarray(ref["levels"][0])[:, 0], atol=1e-6)


def test_causal_taps_are_the_centred_filter_shifted():
    bank = FilterBank.build([(0.1, 0.02)], 16, 3.0)
    h = bank.half[0]
    assert h == math.ceil(3 / (2 * math.pi * 0.02)) and bank.psi.shape == (1, 2 * h + 1)
    centred = torch.fft.ifft(morlet_f(4096, 0.1, 0.02))
    for lag in (0, 5, -7):  # tap h + lag is the centred filter at lag
        assert complex(bank.psi[0, h + lag]) == pytest.approx(complex(centred[lag]), rel=1e-6)
    assert float(bank.phi.sum()) == pytest.approx(1.0, abs=3e-3)  # < 0.3 % mass truncated


def _sine_features(fe: FeatureExtractor, freq: float) -> dict[str, torch.Tensor]:
    tt = torch.arange(fe.cfg.window, dtype=torch.float32)
    x = torch.cos(2 * math.pi * freq * tt)[None]
    return fe(x, x)


def _response(taps: torch.Tensor, freq: float) -> float:
    """|DTFT| of causal taps at `freq` (cycles per sample)."""
    m = torch.arange(taps.shape[-1], dtype=torch.float64)
    return float((taps.to(torch.complex128) * torch.exp(-2j * math.pi * freq * m)).sum().abs())


def test_first_order_of_a_sine_is_its_closed_form_at_every_rate():
    """cos(2 pi f t) through psi_k: a constant envelope |Psi_k(f)| / 2 (analytic wavelet), so
    S1 = |Psi_k(f)| / 2 * sum(phi) however far its envelope is subsampled (rates 1..16)."""
    fe = FeatureExtractor(FeatureConfig(window=2400))
    for k in (1, 6, 13):  # rates 1, 4 and 16 in the default bank
        f = fe.st1.xi[k]
        s1 = torch.exp(_sine_features(fe, f)["y_st"][0, 1 + k, -50:]) - 1e-3
        rate = fe.st_rates[k]
        expected = _response(fe.st1.psi[k], f) / 2 * float(fe.second[rate].bank.phi.sum())
        assert float((s1 - expected).abs().max()) < 1e-3 * expected


def test_subsampled_cascade_agrees_with_full_resolution():
    """The output-rate path (oversampling 0) against every stage at full rate (oversampling
    4) on a synthetic CTG: the subsampled envelopes alias a little, as kymatio's do. Measured
    on this record: mean |difference| 0.011 / 0.009 / 0.001 (y_st / y_ph / x_ph, log or
    cosine units, channel std about 1-3), 99th percentile <= 0.12."""
    sig = synthetic_ctg(20, seed=1)
    c = clean_ctg(sig["fhr"], sig["up"])
    x = torch.tensor(normalize_fhr(c.fhr[:4800]), dtype=torch.float32)[None]
    u = torch.tensor(normalize_up(c.up[:4800]), dtype=torch.float32)[None]
    fast = FeatureExtractor(FeatureConfig())(x, u)
    full = FeatureExtractor(FeatureConfig(oversampling=4))(x, u)
    for k in fast:
        d = (fast[k] - full[k]).abs()
        assert float(d.mean()) < 0.02 and float(d.quantile(0.99)) < 0.15 and float(d.max()) < 0.5


def test_phase_harmonic_of_a_locked_pair_is_phase_locked():
    """x = cos(w t) + cos(2 w t + phi): the pair (2w, w) with harmonic 2 has a constant locked
    phase phi, so the normalised real part equals cos(phi) once the filters have filled."""
    n, t = 2048, 16
    params = [(0.2, 0.2 * 0.17), (0.1, 0.1 * 0.17)]
    bank = FilterBank.build(params, t, 3.0)
    tt = torch.arange(n, dtype=torch.float64)
    phi = 0.7
    x = torch.cos(2 * math.pi * 0.1 * tt) + torch.cos(2 * math.pi * 0.2 * tt + phi)
    low = {1: lowpass_taps(t, 3.0)}
    out = phase_harmonic_features(x[None], bank, low, [1, 1], [(0, 1)], 64, t)
    assert out.shape == (1, 1 + 2 + 2, 64)
    assert float((out[0, -1, 32:] - math.cos(phi)).abs().max()) < 1e-2


def test_default_extractor_gives_76_channels_and_is_exactly_causal():
    fe = FeatureExtractor(FeatureConfig())
    assert fe.st_channels == 76 and fe.ph_channels == 76 and fe.steps == 300
    g = torch.Generator().manual_seed(1)
    x, u = torch.randn(2, 4800, generator=g), torch.randn(2, 4800, generator=g)
    a = fe(x, u)
    cut = 1600
    x2, u2 = x.clone(), u.clone()
    x2[:, cut:] += 3 * torch.randn(2, 4800 - cut, generator=g)
    u2[:, cut:] += 3 * torch.randn(2, 4800 - cut, generator=g)
    b = fe(x2, u2)
    last_seen = cut // 16 - 1  # step i has seen samples up to 16 (i + 1) - 1
    for k in ("y_st", "y_ph", "x_ph"):
        assert a[k].shape == (2, 76, 300)
        # finite causal filters: the past is untouched up to float32 FFT rounding
        before = (a[k][..., : last_seen + 1] - b[k][..., : last_seen + 1]).abs().max()
        after = (a[k][..., last_seen + 1 :] - b[k][..., last_seen + 1 :]).abs().max()
        assert float(before) < 1e-3 < 0.1 < float(after)


def test_cleaning_fills_every_invalid_sample_and_never_calls_it_valid():
    fhr = np.full(400, 140.0)
    fhr[10:14] = 0.0  # 1 s dropout: filled, not valid
    fhr[100:200] = 300.0  # 25 s out of range: filled, not valid
    fhr[250] = np.nan
    c = clean_ctg(fhr, np.linspace(1, 10, 400))
    assert np.allclose(c.fhr, 140.0)
    assert not c.valid[10:14].any() and not c.valid[100:200].any() and not c.valid[250]
    assert c.valid.sum() == 400 - 4 - 100 - 1
    assert c.missing_fraction == pytest.approx(105 / 400)


def test_normalisation_is_invertible():
    x = np.random.default_rng(0).uniform(60, 200, 100)
    assert np.allclose(denormalize_fhr(normalize_fhr(x)), x)
    assert np.allclose(denormalize_up(normalize_up(x)), x)
