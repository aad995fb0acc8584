import numpy as np
import pytest
import torch
from scipy import stats

from sigshared.losses import MultiResolutionSTFTLoss, gaussian_nll, kl_divergence
from sigshared.metrics import dtw, l1, mse, pearson, snr_db


@pytest.mark.parametrize("shape", [(3, 400), (2, 2, 400)])
def test_stft_loss_zero_on_identical_and_gradients(shape):
    loss = MultiResolutionSTFTLoss(fft_sizes=(32, 64, 128), sc_weight=1.0, log_weight=1.0)
    x = torch.randn(shape)
    assert loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
    pred = torch.randn(shape, requires_grad=True)
    value = loss(pred, x)
    value.backward()
    assert value.item() > 0
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_stft_loss_magnitude_closed_form():
    # A signal and its scaled copy: the L1 magnitude term scales with |1 - a|.
    x = torch.randn(2, 512)
    loss = MultiResolutionSTFTLoss(fft_sizes=(64,), eps=0.0)
    a = loss(2 * x, x).item()
    b = loss(3 * x, x).item()
    assert b == pytest.approx(2 * a, rel=1e-4)


def test_stft_loss_rejects_short_signals_and_bad_window():
    with pytest.raises(ValueError, match="too large"):
        MultiResolutionSTFTLoss(fft_sizes=(512,))(torch.randn(1, 200), torch.randn(1, 200))
    with pytest.raises(ValueError, match="valid values"):
        MultiResolutionSTFTLoss(window="kaiser")


def test_gaussian_nll_matches_torch():
    mu, target = torch.randn(4, 10), torch.randn(4, 10)
    logvar = torch.randn(4, 10)
    ref = torch.nn.GaussianNLLLoss(full=True, eps=0.0)(mu, target, logvar.exp())
    assert gaussian_nll(mu, logvar, target, full=True).item() == pytest.approx(ref.item(), rel=1e-5)


def test_gaussian_nll_clamp_and_mask():
    mu = torch.zeros(2, 3)
    target = torch.ones(2, 3)
    huge = torch.full((2, 3), 50.0)
    assert gaussian_nll(mu, huge, target).item() == pytest.approx(
        gaussian_nll(mu, torch.full((2, 3), 10.0), target).item()
    )
    mask = torch.tensor([[1, 0, 0], [0, 0, 0]], dtype=torch.bool)
    lv = torch.zeros(2, 3)
    assert gaussian_nll(mu, lv, target, mask=mask).item() == pytest.approx(0.5)
    empty = gaussian_nll(mu, lv, target, mask=torch.zeros(2, 3, dtype=torch.bool))
    assert empty.item() == 0.0 and not torch.isnan(empty)


def test_kl_matches_torch_distributions():
    mq, lq, mp, lp = (torch.randn(5, 7) for _ in range(4))
    q = torch.distributions.Normal(mq, (0.5 * lq).exp())
    p = torch.distributions.Normal(mp, (0.5 * lp).exp())
    ref = torch.distributions.kl_divergence(q, p)
    assert torch.allclose(kl_divergence(mq, lq, mp, lp), ref, atol=1e-5)
    std = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0))
    assert torch.allclose(kl_divergence(mq, lq), std, atol=1e-5)
    assert kl_divergence(mq, lq, mq, lq, reduction="sum").item() == pytest.approx(0.0, abs=1e-6)
    assert (kl_divergence(mq, lq, mp, lp) >= -1e-6).all()


def test_metrics_against_numpy_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 200)), rng.normal(size=(6, 200))
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    assert np.allclose(mse(ta, tb).numpy(), ((a - b) ** 2).mean(1))
    assert np.allclose(l1(ta, tb).numpy(), np.abs(a - b).mean(1))
    assert np.allclose(pearson(ta, tb).numpy(), [stats.pearsonr(x, y)[0] for x, y in zip(a, b)])
    snr = 10 * np.log10((a**2).sum(1) / ((a - b) ** 2).sum(1))
    assert np.allclose(snr_db(ta, tb).numpy(), snr)
    assert mse(ta.reshape(2, 3, 200), tb.reshape(2, 3, 200)).shape == (2, 3)


def _dtw_reference(x, y):
    n, m = len(x), len(y)
    d = np.full((n + 1, m + 1), np.inf)
    d[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = abs(x[i - 1] - y[j - 1]) + min(d[i - 1, j], d[i, j - 1], d[i - 1, j - 1])
    return d[n, m]


def test_dtw_against_plain_reference():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 37)), rng.normal(size=(4, 23))
    got = dtw(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert np.allclose(got, [_dtw_reference(x, y) for x, y in zip(a, b)])
    x = torch.randn(3, 50)
    assert torch.allclose(dtw(x, x), torch.zeros(3, dtype=x.dtype))
    shifted = torch.roll(x, 3, dims=1)
    assert (dtw(x, shifted) <= (x - shifted).abs().sum(1) + 1e-9).all()
