"""SeqVaeTeb and its blocks: shapes at the document's dims, causality, loss semantics, init."""

from __future__ import annotations

import pytest
import torch

from teb_vae.config import (
    ConditionalEncoderConfig,
    DecoderConfig,
    ModelConfig,
    SourceEncoderConfig,
    TargetEncoderConfig,
)
from teb_vae.layers import (
    CausalConv1d,
    CausalResidualBlock,
    ChannelReductionBlock,
    FastTemporalSmoother,
    LevelForecast,
    ResidualMLP,
    UpsamplingBlock,
    causal_means,
    geometric_schedule,
)
from teb_vae.model import (
    ConditionalEncoder,
    Decoder,
    SeqVaeTeb,
    SourceEncoder,
    TargetEncoder,
)
from teb_vae.objective import compute_loss, forecast_nll, kld_weight


def tiny_config(**kw) -> ModelConfig:
    return ModelConfig(
        input_channels=6,
        source=SourceEncoderConfig(8, [8], [3], [8], 8, 2, [8], [8], 0.0),
        target=TargetEncoderConfig([8], [8], [8], [3], [8], 8, 2, 8, 1, 0.0),
        conditional=ConditionalEncoderConfig([8], [8], 0.0),
        decoder=DecoderConfig(8, 1, [8], 1, [4], [4], 5, [4], 2, 0.0),
        horizon=48,
        decimation_factor=4,
        validity_channels=kw.pop("validity_channels", 0),
        **kw,
    )


@pytest.fixture(scope="module")
def full_model():
    torch.manual_seed(0)
    return SeqVaeTeb().eval()


def test_document_dims_shapes(full_model):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 76, 300, generator=g)
    xv = torch.randn(2, 80, 300, generator=g)  # UP features + 4 step channels
    with torch.no_grad():
        mu_x, inter = full_model.source_encoder(xv, return_intermediate=True)
        mu_y, logvar_y = full_model.target_encoder(x, x)
        out = full_model(x, x, xv)
    assert mu_x.shape == (2, 300, 16) and inter["lstm_output"].shape == (2, 300, 128)
    assert inter["reduced"].shape == (2, 32, 300)
    assert mu_y.shape == (2, 300, 16) and logvar_y.shape == (2, 300, 32)
    assert out["raw_signal_mu"].shape == (2, 300, 480)
    assert out["raw_signal_logvar"].shape == (2, 300, 480)
    assert out["z"].shape == out["mu_post"].shape == out["logvar_post"].shape == (2, 300, 16)
    assert full_model.target_encoder.get_encoder_features(x, x).shape == (2, 300, 16)
    assert full_model.source_encoder.get_sequence_encoding(xv, 99).shape == (2, 100, 16)
    one = full_model.predict_single_timestep(xv, x, x, raw_timestep=1599)
    assert one["decimated_timestep"] == 99 and one["raw_signal_mu"].shape == (2, 480)
    assert torch.allclose(one["raw_signal_mu"], out["raw_signal_mu"][:, 99], atol=1e-4)
    lstm = full_model.source_encoder.lstm
    assert (lstm.hidden_size, lstm.num_layers, lstm.bidirectional) == (128, 3, False)


def test_block_shapes():
    x = torch.randn(2, 76, 300)
    assert ChannelReductionBlock(76, 32)(x).shape == (2, 32, 300)
    assert CausalConv1d(76, 8, 5, dilation=2)(x).shape == (2, 8, 300)
    assert CausalResidualBlock(76, 5, out_channels=32, expansion=0.5)(x).shape == (2, 32, 300)
    assert CausalResidualBlock(76, 3, depthwise=True)(x).shape == (2, 76, 300)
    assert ResidualMLP([76, 60, 50])(x.transpose(1, 2)).shape == (2, 300, 50)
    assert UpsamplingBlock(8, 1, 4, 480)(torch.randn(3, 8, 120)).shape == (3, 1, 480)
    assert FastTemporalSmoother(20, 11)(torch.randn(3, 20, 480)).shape == (3, 20, 480)
    mu, lv = ConditionalEncoder(16, 16, 16, ConditionalEncoderConfig())(
        torch.randn(2, 300, 16), torch.randn(2, 300, 16)
    )
    assert mu.shape == lv.shape == (2, 300, 16)
    dec = Decoder(16, 480, DecoderConfig())(torch.randn(2, 3, 16))
    assert dec["raw_signal_mu"].shape == (2, 3, 480)


def _perturb_after(x: torch.Tensor, t: int) -> torch.Tensor:
    y = x.clone()
    y[..., t + 1 :] += torch.randn_like(y[..., t + 1 :]) * 5
    return y


def test_causality_of_encoders_and_model():
    torch.manual_seed(1)
    cfg = ModelConfig(input_channels=76)
    src = SourceEncoder(76, 16, cfg.source).eval()
    tgt = TargetEncoder(76, 16, cfg.target).eval()
    model = SeqVaeTeb(tiny_config()).eval()
    t, length = 20, 40
    x = torch.randn(1, 76, length)
    x2 = _perturb_after(x, t)
    with torch.no_grad():
        a, b = src(x), src(x2)
        assert torch.allclose(a[:, : t + 1], b[:, : t + 1], atol=1e-5)
        assert not torch.allclose(a[:, t + 1 :], b[:, t + 1 :], atol=1e-3)
        (ma, la), (mb, lb) = tgt(x, x), tgt(x2, x2)
        assert torch.allclose(ma[:, : t + 1], mb[:, : t + 1], atol=1e-5)
        assert torch.allclose(la[:, : t + 1], lb[:, : t + 1], atol=1e-5)
        s = torch.randn(1, 6, length)
        s2 = _perturb_after(s, t)
        oa, ob = model(s, s, s), model(s2, s2, s2)
        for k in ("raw_signal_mu", "raw_signal_logvar", "z"):
            assert torch.allclose(oa[k][:, : t + 1], ob[k][:, : t + 1], atol=1e-5), k
            assert not torch.allclose(oa[k][:, t + 1 :], ob[k][:, t + 1 :], atol=1e-4), k


def test_warmup_covering_everything_gives_zero_not_nan():
    model = SeqVaeTeb(tiny_config(warmup_period=20)).eval()
    s = torch.randn(2, 6, 12)  # 12 steps, all inside the 20-step warm-up
    out = model(s, s, s)
    losses = compute_loss(model, out, torch.randn(2, 48))
    assert losses["raw_signal_loss"].item() == 0.0 and losses["kld_loss"].item() == 0.0
    assert losses["loss"].item() == 0.0


def test_loss_uses_only_steps_after_warmup_and_clamps_logvar():
    h, t = 48, 4
    y = torch.randn(1, 12 * t)
    mu = torch.zeros(1, 12, h)
    logvar = torch.zeros(1, 12, h)
    preds = {"raw_signal_mu": mu, "raw_signal_logvar": logvar}
    base = forecast_nll(preds, y, warmup_period=5, decimation=t)
    mu2 = mu.clone()
    mu2[:, :5] = 100.0  # warm-up steps do not count
    assert torch.allclose(forecast_nll({**preds, "raw_signal_mu": mu2}, y, 5, t), base)
    # hand computation: 0.5 * mean(y^2) over the samples steps 5.. cover, counted per pair
    vals = [y[0, (i + 1) * t + k] for i in range(5, 12) for k in range(h) if (i + 1) * t + k < 48]
    expected = 0.5 * torch.stack(vals).pow(2).mean()
    assert torch.allclose(base, expected)
    huge = forecast_nll({**preds, "raw_signal_logvar": logvar + 50.0}, y, 5, t)
    assert torch.allclose(
        huge,
        torch.tensor(5.0) + 0.5 * torch.exp(torch.tensor(-10.0)) * torch.stack(vals).pow(2).mean(),
    )
    model = SeqVaeTeb(tiny_config()).eval()
    s = torch.randn(1, 6, 12) * 1e3
    out = model(s, s, s)
    assert out["raw_signal_logvar"].abs().max() <= 10.0


def test_kl_is_nonnegative_and_zero_when_equal():
    model = SeqVaeTeb(tiny_config(warmup_period=0)).eval()
    s = torch.randn(2, 6, 10)
    out = model(s, s, s)
    assert compute_loss(model, out, torch.randn(2, 40))["kld_loss"] >= 0
    same = {**out, "mu_post": out["mu_prior"], "logvar_post": out["logvar_prior"]}
    assert compute_loss(model, same, torch.randn(2, 40))["kld_loss"].abs() < 1e-6


def test_free_bits_charge_each_dimension_at_least_the_floor():
    model = SeqVaeTeb(tiny_config(warmup_period=0, free_bits=0.5)).eval()
    s = torch.randn(2, 6, 10)
    out = model(s, s, s)
    same = {**out, "mu_post": out["mu_prior"], "logvar_post": out["logvar_prior"]}
    losses = compute_loss(model, same, torch.randn(2, 40))
    # KL 0 everywhere: each of the 16 dimensions is charged the 0.5 nat floor
    assert losses["kld_loss"].abs() < 1e-6
    assert torch.allclose(losses["loss"], losses["raw_signal_loss"] + 0.5 * 16)
    far = {**out, "mu_post": out["mu_prior"] + 10.0, "logvar_post": out["logvar_prior"]}
    high = compute_loss(model, far, torch.randn(2, 40))  # above the floor: the plain KL
    assert torch.allclose(high["loss"], high["raw_signal_loss"] + high["kld_loss"])


def test_forecasts_are_offsets_from_the_anchor_channel():
    model = SeqVaeTeb(tiny_config(validity_channels=4)).eval()
    s, x = torch.randn(1, 6, 10), torch.randn(1, 10, 10)
    z = torch.randn(1, 10, 16)
    steps = torch.arange(10)
    a = model.decode_z(z, s, x, steps)["raw_signal_mu"]
    x2 = x.clone()
    x2[:, 6 + 3] += 1.5  # the anchor (last valid FHR) up by 1.5 (normalised units)
    b = model.decode_z(z, s, x2, steps)["raw_signal_mu"]
    # the level forecast starts at zero: the whole horizon moves with the anchor
    assert torch.allclose(b - a, torch.full_like(a, 1.5), atol=1e-5)


def test_kld_warmup_anneals_linearly():
    model = SeqVaeTeb(tiny_config(kld_beta=2.0, kld_warmup_steps=4)).train()
    s = torch.randn(1, 6, 10)
    weights = []
    for _ in range(6):
        weights.append(kld_weight(model))
        compute_loss(model, model(s, s, s), torch.randn(1, 40))
    assert weights == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]


def test_geometric_schedule_values():
    assert geometric_schedule(16, 128, 2) == [32, 64, 128]
    assert geometric_schedule(176, 480, 10)[-1] == 480
    # 66 * (16 / 66) ** (k / 6) = 52.1, 41.2, 32.5, 25.7, 20.3, floored
    assert geometric_schedule(66, 16, 5, int) == [52, 41, 32, 25, 20, 16]
    assert len(geometric_schedule(16, 128, 6)) == 7


def test_initialization_forget_gate_and_orthogonal_weights():
    model = SeqVaeTeb(tiny_config())
    lstm = model.source_encoder.lstm
    h = lstm.hidden_size
    for layer in range(lstm.num_layers):
        b = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")
        assert torch.allclose(b[h : 2 * h], torch.ones(h))
        assert torch.allclose(b[:h], torch.zeros(h)) and torch.allclose(
            b[2 * h :], torch.zeros(2 * h)
        )
        w = getattr(lstm, f"weight_hh_l{layer}")  # (4h, h): orthonormal columns
        assert torch.allclose(w.T @ w, torch.eye(h), atol=1e-5)
    level = model.level_forecast.linear
    assert not level.weight.any() and not level.bias.any()
    smoother = model.decoder.smoother.smooth.weight
    assert torch.allclose(smoother.sum(-1), torch.ones(smoother.shape[0]))


def test_causal_means_match_a_hand_computation():
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    out = causal_means(x, [1, 2, 4])
    expected = torch.tensor(
        [[[1, 2, 3, 4, 5], [1, 1.5, 2.5, 3.5, 4.5], [1, 1.5, 2, 2.5, 3.5]]], dtype=torch.float32
    )
    assert torch.allclose(out, expected)


def test_level_forecast_is_causal_and_matches_single_step_prediction():
    torch.manual_seed(3)
    level = LevelForecast(6, 48, [1, 3, 8])
    torch.nn.init.normal_(level.linear.weight)
    x = torch.randn(2, 6, 30)
    out = level(x)
    assert out.shape == (2, 30, 48)
    changed = level(_perturb_after(x, 12))
    assert torch.allclose(out[:, :13], changed[:, :13])
    assert not torch.allclose(out[:, 13:], changed[:, 13:])
    # 3 knots (one per 16 samples) at 0, 23.5 and 47, linear in between: no curvature inside
    # a segment, a kink at the middle knot
    second = out[..., 2:] - 2 * out[..., 1:-1] + out[..., :-2]
    assert torch.allclose(second[..., :22], torch.zeros(()), atol=1e-5)
    assert torch.allclose(second[..., 24:], torch.zeros(()), atol=1e-5)
    assert second[..., 22:24].abs().max() > 1e-3

    model = SeqVaeTeb(tiny_config()).eval()
    torch.nn.init.normal_(model.level_forecast.linear.weight, std=0.3)
    s = torch.randn(1, 6, 40)
    full = model.predict_raw_signal(s, s, s)["raw_signal_mu"]
    i = 17
    one = model.predict_single_timestep(s, s, s, (i + 1) * 4 - 1, raw_signal_length=160)
    assert one["decimated_timestep"] == i
    assert torch.allclose(one["raw_signal_mu"], full[:, i], atol=1e-5)
