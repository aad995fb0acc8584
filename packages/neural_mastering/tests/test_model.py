"""Shapes, parameter ranges and phases of the mastering network."""

import numpy as np
import pytest
import torch

from neural_mastering.config import load
from neural_mastering.mastering import track_latent
from neural_mastering.metrics import OCTAVE_CENTRES_HZ
from neural_mastering.model import (
    F_MIN_HZ,
    Q_MAX,
    Q_MIN,
    MasteringModel,
    ResidualDecoder,
    band_usage,
    entropy_loss,
    octave_band_power,
    sparsity_loss,
)


@pytest.mark.parametrize("phase", ["1A", "1B", "1C"])
def test_each_phase_runs_forward_on_mono_and_stereo(phase, tiny_model):
    model = tiny_model(phase)
    for channels in (1, 2):
        x = 0.1 * torch.randn(2, channels, 6000)
        out = model(x)
        assert out["output"].shape == x.shape
        assert torch.isfinite(out["output"]).all()
        k = model.cfg.max_bands if phase == "1C" else model.cfg.num_bands
        assert out["params"]["freq_hz"].shape == (2, k)
        if phase == "1A":
            assert torch.equal(out["residual"], torch.zeros_like(x))
        else:
            assert out["residual"].abs().sum() > 0


@pytest.mark.parametrize("phase", ["1A", "1C"])
def test_parameter_ranges_hold_even_for_extreme_inputs(phase, tiny_model):
    model = tiny_model(phase)
    with torch.no_grad():
        for head in (model.eq.freq_head, model.eq.gain_head, model.eq.q_head):
            head.weight.normal_(0, 50.0)
    x = torch.cat([1e3 * torch.randn(2, 1, 4000), torch.zeros(1, 1, 4000)])
    p = model(x)["params"]
    f_max = min(20000.0, 0.45 * model.cfg.sample_rate)
    assert (p["freq_hz"] >= F_MIN_HZ - 1e-3).all() and (p["freq_hz"] <= f_max + 1e-2).all()
    assert (p["gain_db"].abs() <= 12.0 + 1e-5).all()
    assert (p["q"] >= Q_MIN - 1e-6).all() and (p["q"] <= Q_MAX + 1e-6).all()
    assert (p["makeup_db"].abs() <= 24.0 + 1e-5).all()
    if phase == "1C":
        w = p["band_weights"]
        assert ((w >= 0) & (w <= 1)).all()
        assert (p["gain_db"].abs() <= p["ungated_gain_db"].abs() + 1e-6).all()


def test_frequencies_start_spread_on_a_log_axis(tiny_model):
    model = tiny_model("1A")
    f = model(0.1 * torch.randn(1, 1, 4000))["params"]["freq_hz"][0]
    ratios = f[1:] / f[:-1]
    assert (ratios > 2).all()  # 3 bands over 20 Hz .. 20 kHz: about a decade apart


@pytest.mark.parametrize("length", [1001, 1003, 4097, 5000])
def test_wave_u_net_handles_any_length(length, tiny_model):
    model = tiny_model("1B")
    assert isinstance(model.residual, ResidualDecoder)
    z = torch.randn(2, model.cfg.latent_dim)
    assert model.residual(torch.randn(2, 1, length), z).shape == (2, 1, length)


def test_adaptive_regularisers_and_usage():
    w = torch.tensor([[1.0, 0.0, 0.5, 0.9]])
    assert float(sparsity_loss(w)) == pytest.approx(2.4)
    assert float(entropy_loss(torch.tensor([[0.5]]))) == pytest.approx(0.6931, abs=1e-3)
    assert float(entropy_loss(torch.tensor([[1.0, 0.0]]))) < 1e-4
    usage = band_usage(w)
    assert usage["active_bands_per_item"] == 2.0
    assert usage["mean_weight_per_band"] == pytest.approx([1.0, 0.0, 0.5, 0.9])


def test_gradient_reaches_encoder_through_eq_and_residual(tiny_model):
    model = tiny_model("1C").train()
    out = model(0.1 * torch.randn(2, 1, 4000))
    out["output"].pow(2).mean().backward()
    assert model.encoder.stem[0].weight.grad.abs().sum() > 0
    assert model.eq.freq_head.weight.grad.abs().sum() > 0
    assert model.eq.band_selector[0].weight.grad.abs().sum() > 0


def test_batchnorm_recalibration_averages_fresh_statistics_over_batches(tiny_model):
    from neural_mastering.data import SyntheticPairs
    from neural_mastering.training import recalibrate_batchnorm

    model = tiny_model("1A")
    first = model.encoder.stem[1]
    first.running_mean.fill_(100.0)  # stale statistics must not survive
    seen = []
    hook = first.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach()))
    data = SyntheticPairs(6, 0.2, 44100, seed=3)
    recalibrate_batchnorm(model, data, batch_size=2, batches=3, device=torch.device("cpu"))
    hook.remove()
    assert len(seen) == 3 and not model.training and first.momentum == 0.1
    means = torch.stack([s.mean(dim=(0, 2)) for s in seen]).mean(0)
    variances = torch.stack([s.var(dim=(0, 2)) for s in seen]).mean(0)  # unbiased, as BN keeps
    torch.testing.assert_close(first.running_mean, means, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(first.running_var, variances, rtol=1e-4, atol=1e-6)


def test_balance_input_hears_the_octave_balance_of_the_whole_track():
    # The balance channels: the head sees each octave's share of the energy (dB), the same
    # for any input level, and chunked averaging (track_latent) gives the whole track's.
    torch.manual_seed(0)
    cfg = load("tiny", ["model.phase=1A", "model.balance_input=true"])
    model = MasteringModel(cfg.model).eval()
    sr = cfg.model.sample_rate
    t = torch.arange(2 * sr) / sr
    # Sines at octave centres 3, 5 and 7 with powers 1, 1/4 and 1/16 (each a^2 / 2).
    x = sum(
        a * torch.sin(2 * np.pi * float(OCTAVE_CENTRES_HZ[k]) * t)
        for k, a in ((3, 1.0), (5, 0.5), (7, 0.25))
    )[None, None]
    bands = octave_band_power(x, sr)[0]
    expected = torch.zeros(10, dtype=bands.dtype)
    expected[[3, 5, 7]] = torch.tensor([0.5, 0.125, 0.03125])
    assert torch.allclose(bands, expected, atol=1e-3)
    # Only the balance path depends on the balance: silence the convolutional head.
    with torch.no_grad():
        model.encoder.head.weight.zero_()
        z = model.encode(x)
        assert torch.allclose(model.encode(100 * x), z, atol=1e-5)
        assert not torch.allclose(model.encode(x.flip(-1).cumsum(-1) * 1e-3), z, atol=1e-3)
        chunked = track_latent(model, x[0].numpy(), sr // 2, torch.device("cpu"), None)
    assert torch.allclose(chunked, z, atol=1e-4)
