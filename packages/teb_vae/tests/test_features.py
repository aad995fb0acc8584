"""Filter bank, scattering (against kymatio), phase harmonics, feature causality, preprocessing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from teb_vae.config import FeatureConfig
from teb_vae.features import FeatureExtractor
from teb_vae.features.filterbank import FilterBank, constant_q_params, morlet_f
from teb_vae.features.phase_harmonic import phase_harmonic_features
from teb_vae.features.preprocess import (
    clean_ctg,
    denormalize_fhr,
    denormalize_up,
    normalize_fhr,
    normalize_up,
)
from teb_vae.features.scattering import scattering1d


def test_morlet_has_zero_mean_unit_l1_and_peaks_at_xi():
    n, xi, sigma = 1024, 0.1, 0.02
    h = morlet_f(n, xi, sigma)
    assert abs(float(h[0])) < 1e-12  # zero mean in time
    assert float(torch.fft.ifft(h).abs().sum()) == pytest.approx(1.0, rel=1e-9)
    assert abs(float(torch.fft.fftfreq(n)[h.argmax()]) - xi) <= 1.0 / n


def test_kymatio_scattering1d_matches_ours():
    """kymatio's torch frontend (imported directly: its top level fails with current SciPy) at
    full resolution (oversampling = log2 T) against our transform on its own padded length."""
    pytest.importorskip("kymatio.scattering1d.frontend.torch_frontend")
    from kymatio.scattering1d.frontend.torch_frontend import ScatteringTorch1D

    n, j, q, t = 1024, 5, (2, 1), 16
    ref_op = ScatteringTorch1D(J=j, shape=n, Q=q, T=t, oversampling=4, max_order=2)
    n_fft = len(ref_op.phi_f["levels"][0])
    p1, p2 = constant_q_params(j, q[0]), constant_q_params(j, q[1])
    # kymatio appends linearly spaced filters below the constant-Q range for Q > 1: compare the
    # constant-Q ones, whose (xi, sigma) must be identical.
    for ours, ref in zip(p1, ref_op.psi1_f):
        assert ours == pytest.approx((ref["xi"], ref["sigma"]), rel=1e-12)
    bank1, bank2 = FilterBank.build(n_fft, p1, t), FilterBank.build(n_fft, p2, t)
    for i in range(len(p1)):
        ref = np.asarray(ref_op.psi1_f[i]["levels"][0])[:, 0]
        np.testing.assert_allclose(bank1.psi[i].numpy(), ref, atol=1e-6)
    meta = ref_op.meta()["n"]
    second = [k for k, m in enumerate(meta) if not np.isnan(m[1]) and m[0] < len(p1)]
    paths = [(int(meta[k][0]), int(meta[k][1])) for k in second]
    x = torch.randn(3, n, generator=torch.Generator().manual_seed(0))
    ref = ref_op(x).double()[:, [0, *range(1, 1 + len(p1)), *second]]
    ours = scattering1d(x.double(), bank1, bank2, paths)
    assert ours.shape == ref.shape
    rel = (ours - ref).abs().amax(dim=(0, 2)) / ref.abs().amax(dim=(0, 2))
    assert float(rel.max()) < 1e-5


def test_phase_harmonic_of_a_locked_pair_is_phase_locked():
    """x = cos(w t) + cos(2 w t + phi): the pair (2w, w) with harmonic 2 has a constant locked
    phase phi, so the normalised real part equals cos(phi) away from the borders."""
    n, t = 2048, 16
    params = [(0.2, 0.2 * 0.17), (0.1, 0.1 * 0.17)]
    bank = FilterBank.build(4096, params, t)
    tt = torch.arange(n, dtype=torch.float64)
    phi = 0.7
    x = torch.cos(2 * math.pi * 0.1 * tt) + torch.cos(2 * math.pi * 0.2 * tt + phi)
    out = phase_harmonic_features(x[None], bank, [(0, 1)])
    assert out.shape == (1, 1 + 2 + 2, n)
    mid = out[0, -1, 512:-512]
    assert float((mid - math.cos(phi)).abs().max()) < 1e-2


def test_default_extractor_gives_76_channels_and_is_causal():
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
        # Gaussian tails beyond delay_sigmas = 3 leave a tiny leak; large changes do not pass
        before = (a[k][..., : last_seen + 1] - b[k][..., : last_seen + 1]).abs().max()
        after = (a[k][..., last_seen + 1 :] - b[k][..., last_seen + 1 :]).abs().max()
        assert float(before) < 0.02 < float(after)


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
