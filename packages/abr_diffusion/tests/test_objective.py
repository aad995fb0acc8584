"""The objective around the network: identities with an oracle, condition dropout, DDIM
determinism and guidance, and a tiny model that learns."""

from __future__ import annotations

import numpy as np
import torch

from abr_diffusion.checkpoint import TrainedModel
from abr_diffusion.config import ABRConfig, DataConfig, DiffusionConfig
from abr_diffusion.data import ABRDataset, AmplitudeModel, ConditionEncoder
from abr_diffusion.inference import denoise
from abr_diffusion.model import ABRTransformerGenerator, make_cond
from abr_diffusion.objective import build_diffusion, loss_step
from abr_diffusion.synthetic import generate


class Oracle(torch.nn.Module):
    """Returns the exact v for a known x0 and noise: v = sqrt(ab) eps - sqrt(1 - ab) x0,
    and records the conditions it was called with."""

    def __init__(self, x0, noise):
        super().__init__()
        self.x0, self.noise, self.schedule = x0, noise, None
        self.seen: list[dict[str, torch.Tensor]] = []

    def forward(self, x, t, cond):
        self.seen.append(cond)
        a = self.schedule.sqrt_alphas_cumprod[t][:, None, None]
        b = self.schedule.sqrt_one_minus_alphas_cumprod[t][:, None, None]
        return a * self.noise - b * self.x0


def _oracle_diffusion(x0, noise, **cfg):
    oracle = Oracle(x0, noise)
    diffusion = build_diffusion(oracle, DiffusionConfig(**cfg))
    oracle.schedule = diffusion.schedule
    return oracle, diffusion


def _trained(diffusion) -> TrainedModel:
    data = generate(3, 1, seed=0)
    encoder = ConditionEncoder.fit(data.conditions, DataConfig().conditions)
    amplitude = AmplitudeModel([0.0] * 5, [0.0] * 5)
    return TrainedModel(diffusion, ABRConfig(), encoder, amplitude, "model", torch.device("cpu"))


def test_reconstruct_with_the_true_v_recovers_x0_at_every_step():
    x0, noise = torch.randn(4, 1, 200), torch.randn(4, 1, 200)
    _, diffusion = _oracle_diffusion(x0, noise)
    t = torch.tensor([0, 250, 700, 999])
    rec = _trained(diffusion).reconstruct(x0, torch.zeros(4, 4), t, noise)
    assert torch.allclose(rec, x0, atol=1e-4)


class NoNoiseX0(torch.nn.Module):
    """An x0-predicting network that takes x_t for noise-free: x0_hat = x_t / sqrt(ab_t)."""

    def __init__(self):
        super().__init__()
        self.schedule = None

    def forward(self, x, t, cond):
        return x / self.schedule.sqrt_alphas_cumprod[t][:, None, None]


def test_x0_prediction_loss_of_the_oracle_is_zero():
    x0 = torch.randn(3, 1, 200)

    class X0Oracle(torch.nn.Module):
        def forward(self, x, t, cond):
            return x0

    diffusion = build_diffusion(X0Oracle(), DiffusionConfig(prediction_type="x0"))
    out = diffusion.loss(x0, make_cond(torch.zeros(3, 4)), t=torch.tensor([5, 500, 990]))
    assert out["mse"] < 1e-12 and out["stft"] < 1e-4


def test_denoise_without_added_noise_scales_back_consistently():
    # A recording taken as x_t whose x0 estimate assumes no noise (x_t / sqrt(ab_t)) must come
    # back unchanged in µV: the estimate is scaled by std * sqrt(ab_t), not by std. With
    # added noise the same network returns the recording plus that noise.
    net = NoNoiseX0()
    diffusion = build_diffusion(net, DiffusionConfig(prediction_type="x0"))
    net.schedule = diffusion.schedule
    trained = _trained(diffusion)
    data = generate(3, 1, seed=1)
    for t in (50, 400):
        same = denoise(trained, data, t, 0, add_noise=False).denoised_uv
        np.testing.assert_allclose(same, data.signals, rtol=1e-4, atol=1e-4 * data.signals.std())
        noised = denoise(trained, data, t, 0, add_noise=True).denoised_uv
        assert np.abs(noised - data.signals).mean() > 0.03 * data.signals.std()


def test_loss_of_the_oracle_is_zero_and_has_the_stft_term():
    x0, noise = torch.randn(3, 1, 200), torch.randn(3, 1, 200)
    _, diffusion = _oracle_diffusion(x0, noise)
    out = diffusion.loss(
        x0, make_cond(torch.zeros(3, 4)), t=torch.tensor([5, 500, 990]), noise=noise
    )
    assert set(out) >= {"loss", "mse", "stft"}
    assert out["mse"] < 1e-8 and out["stft"] < 1e-3 and out["loss"] < 1e-3


def test_condition_dropout_sets_the_drop_flag_at_the_configured_rate():
    x0, noise = torch.randn(64, 1, 200), torch.randn(64, 1, 200)
    for prob, expected in ((0.0, 0.0), (0.999, 1.0)):
        oracle, diffusion = _oracle_diffusion(x0, noise, cond_drop_prob=prob)
        torch.manual_seed(0)
        loss_step(diffusion, {"x": x0, "static": torch.ones(64, 4)})
        drop = oracle.seen[-1]["drop"]
        assert drop.dtype == torch.bool
        assert abs(drop.float().mean().item() - expected) < 0.02, (prob, drop.float().mean())


def test_ddim_is_deterministic_at_eta_zero_and_guidance_changes_it():
    torch.manual_seed(0)
    net = ABRTransformerGenerator(
        d_model=16, n_layers=1, n_heads=2, film_hidden=16, t_embed_dim=16, dropout=0.0
    )
    with torch.no_grad():
        net.null_static.copy_(torch.randn(4))
    trained = _trained(build_diffusion(net, DiffusionConfig(num_inference_steps=5)).eval())
    static = torch.randn(2, 4)
    x_T = torch.randn(2, 1, 200)
    a = trained.generate(static, x_T)
    assert torch.equal(a, trained.generate(static, x_T.clone()))
    guided = trained.generate(static, x_T, guidance_scale=3.0)
    assert guided.shape == (2, 1, 200) and not torch.equal(guided, a)
    # With eta > 0 the sample depends on the generator's draws.
    g1 = trained.generate(static, x_T, eta=1.0, generator=torch.Generator().manual_seed(1))
    g2 = trained.generate(static, x_T, eta=1.0, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(g1, g2)
    fast = trained.generate(static, x_T, sampler="dpmpp_2m")
    assert fast.shape == (2, 1, 200) and torch.isfinite(fast).all()


def test_a_tiny_model_lowers_its_loss_on_synthetic_data():
    torch.manual_seed(0)
    data = generate(16, 4, seed=3)
    ds = ABRDataset(data, ConditionEncoder.fit(data.conditions, DataConfig().conditions))
    batch = {"x": ds.x[:16], "static": ds.static[:16]}
    net = ABRTransformerGenerator(
        d_model=16, n_layers=1, n_heads=2, film_hidden=16, t_embed_dim=16, dropout=0.0
    )
    diffusion = build_diffusion(net, DiffusionConfig())
    opt = torch.optim.AdamW(diffusion.parameters(), lr=5e-3)

    def eval_loss() -> float:
        # Fixed t / noise draws so that the before / after numbers are comparable.
        with torch.random.fork_rng(), torch.no_grad():
            torch.manual_seed(123)
            return sum(float(loss_step(diffusion, batch)["loss"]) for _ in range(4)) / 4

    before = eval_loss()
    for _ in range(30):
        loss = loss_step(diffusion, batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = eval_loss()
    assert after < 0.7 * before, (before, after)
