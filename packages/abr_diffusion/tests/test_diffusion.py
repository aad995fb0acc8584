"""The v-prediction wrapper: identities, training lowers the loss, DDIM determinism."""

from __future__ import annotations

import torch

from abr_diffusion.config import DiffusionConfig
from abr_diffusion.data import ABRDataset, StaticScaler
from abr_diffusion.diffusion import VDiffusion, make_cond
from abr_diffusion.model import ABRTransformerGenerator
from abr_diffusion.synthetic import generate


class Oracle(torch.nn.Module):
    """Returns the exact v for a known x0 and noise: v = sqrt(ab) eps - sqrt(1 - ab) x0."""

    def __init__(self, x0, noise, schedule):
        super().__init__()
        self.x0, self.noise, self.s = x0, noise, schedule

    def forward(self, x, static, t, drop=None):
        a = self.s.sqrt_alphas_cumprod[t][:, None, None]
        b = self.s.sqrt_one_minus_alphas_cumprod[t][:, None, None]
        return {"signal": a * self.noise - b * self.x0}


def test_reconstruct_with_the_true_v_recovers_x0_at_every_step():
    diff = VDiffusion(DiffusionConfig())
    x0, noise = torch.randn(4, 1, 200), torch.randn(4, 1, 200)
    t = torch.tensor([0, 250, 700, 999])
    rec = diff.reconstruct(Oracle(x0, noise, diff.schedule), x0, torch.zeros(4, 4), t, noise)
    assert torch.allclose(rec, x0, atol=1e-4)


def test_loss_of_the_oracle_is_zero():
    diff = VDiffusion(DiffusionConfig())
    x0 = torch.randn(3, 1, 200)
    torch.manual_seed(1)
    # Re-draw the noise the loss step draws (after its t), to build the oracle.
    torch.randint(0, 1000, (3,))
    noise = torch.randn_like(x0)
    torch.manual_seed(1)
    out = diff.loss_step(Oracle(x0, noise, diff.schedule), {"x": x0, "static": torch.zeros(3, 4)})
    assert out["v_mse"] < 1e-8 and out["stft"] < 1e-3


def test_ddim_is_deterministic_at_eta_zero_and_guidance_runs():
    torch.manual_seed(0)
    net = ABRTransformerGenerator(
        d_model=16, n_layers=1, n_heads=2, film_hidden=16, t_embed_dim=16, dropout=0.0
    ).eval()
    diff = VDiffusion(DiffusionConfig(sample_steps=5))
    static = torch.randn(2, 4)
    x_T = torch.randn(2, 1, 200)
    a = diff.generate(net, static, x_T=x_T)
    b = diff.generate(net, static, x_T=x_T.clone())
    assert torch.equal(a, b)
    guided = diff.generate(net, static, guidance=3.0, x_T=x_T)
    assert guided.shape == (2, 1, 200) and not torch.equal(guided, a)
    # With eta > 0 the sample depends on the generator's draws.
    g1 = diff.generate(net, static, eta=1.0, x_T=x_T, generator=torch.Generator().manual_seed(1))
    g2 = diff.generate(net, static, eta=1.0, x_T=x_T, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(g1, g2)


def test_make_cond_defaults_to_keeping_the_condition():
    cond = make_cond(torch.zeros(3, 4))
    assert cond["drop"].dtype == torch.bool and not cond["drop"].any()


def test_a_tiny_model_lowers_its_loss_on_synthetic_data():
    torch.manual_seed(0)
    data = generate(16, 4, seed=3)
    ds = ABRDataset(data, StaticScaler.fit(data.static))
    batch = {"x": ds.x[:16], "static": ds.static[:16]}
    net = ABRTransformerGenerator(
        d_model=16, n_layers=1, n_heads=2, film_hidden=16, t_embed_dim=16, dropout=0.0
    )
    diff = VDiffusion(DiffusionConfig())
    opt = torch.optim.AdamW(net.parameters(), lr=5e-3)

    def eval_loss() -> float:
        # Fixed t / noise draws so that the before / after numbers are comparable.
        with torch.random.fork_rng(), torch.no_grad():
            torch.manual_seed(123)
            return sum(float(diff.loss_step(net, batch)["loss"]) for _ in range(4)) / 4

    before = eval_loss()
    for _ in range(30):
        loss = diff.loss_step(net, batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = eval_loss()
    assert after < 0.7 * before, (before, after)
