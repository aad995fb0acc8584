import math

import pytest
import torch

from sigshared.schedules import NoiseSchedule, cosine_beta_schedule, linear_beta_schedule


def test_linear_endpoints_and_spacing():
    b = linear_beta_schedule(1000)
    assert b.shape == (1000,)
    assert b[0].item() == pytest.approx(1e-4)
    assert b[-1].item() == pytest.approx(0.02)
    diffs = b[1:] - b[:-1]
    assert torch.allclose(diffs, torch.full_like(diffs, (0.02 - 1e-4) / 999), atol=1e-8)


def test_cosine_closed_form_and_clipping():
    T, s = 1000, 0.008
    b = cosine_beta_schedule(T, s=s)

    def f(t):
        return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2

    for t in (0, 1, 250, 500, 998):
        assert b[t].item() == pytest.approx(1 - f(t + 1) / f(t), rel=1e-5)
    assert b[-1].item() == pytest.approx(0.999)  # clipped: unclipped value is 1
    assert bool((b[1:] >= b[:-1]).all())  # monotone
    ac = torch.cumprod(1 - b.double(), 0)
    assert ac[500].item() == pytest.approx(f(501) / f(0), rel=1e-4)


def test_noise_schedule_terms():
    sch = NoiseSchedule.from_name("linear", 100)
    assert sch.num_timesteps == 100
    assert torch.allclose(sch.alphas, 1 - sch.betas)
    assert torch.allclose(sch.alphas_cumprod, torch.cumprod(sch.alphas.double(), 0).float())
    assert torch.allclose(
        sch.sqrt_alphas_cumprod**2 + sch.sqrt_one_minus_alphas_cumprod**2,
        torch.ones(100),
        atol=1e-6,
    )
    assert sch.alphas_cumprod_prev[0] == 1.0
    assert torch.allclose(sch.alphas_cumprod_prev[1:], sch.alphas_cumprod[:-1])
    assert bool((sch.alphas_cumprod[1:] < sch.alphas_cumprod[:-1]).all())
    expected = sch.betas[1:] * (1 - sch.alphas_cumprod[:-1]) / (1 - sch.alphas_cumprod[1:])
    assert torch.allclose(
        sch.posterior_variance[1:], expected, rtol=1e-3
    )  # test recomputes in fp32
    assert sch.to("cpu").betas.device.type == "cpu"


def test_bad_names_and_values():
    with pytest.raises(ValueError, match="valid names: cosine, linear"):
        NoiseSchedule.from_name("sigmoid", 10)
    with pytest.raises(ValueError):
        linear_beta_schedule(0)
    with pytest.raises(ValueError):
        linear_beta_schedule(10, beta_start=0.5, beta_end=0.1)
