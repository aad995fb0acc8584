"""GaussianDiffusion: buffers, objective, condition dropout, guidance, samplers, arguments."""

import pytest
import torch
from torch import nn

from sigshared.diffusion import (
    GaussianDiffusion,
    classifier_free_guidance,
    ddim_sample,
    ddpm_sample,
    dpmpp_2m_sample,
    q_sample,
    v_target,
)
from sigshared.schedules import NoiseSchedule

SAMPLE_FNS = {"ddim": ddim_sample, "ddpm": ddpm_sample, "dpmpp_2m": dpmpp_2m_sample}


class Toy(nn.Module):
    """0.3 x + 0.001 t, plus 0.1 * cond * x when conditioned on a (B,) tensor."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.3))

    def forward(self, x, t, cond):
        out = self.scale * x + 1e-3 * t.float().view(-1, 1, 1)
        return out if cond is None else out + 0.1 * cond.view(-1, 1, 1) * x


class Oracle(nn.Module):
    """Outputs the exact target for x_t noised from a known x0."""

    def __init__(self, x0, schedule, prediction_type):
        super().__init__()
        self.x0, self.schedule, self.prediction_type = x0, schedule, prediction_type

    def forward(self, x_t, t, cond):
        a = self.schedule.sqrt_alphas_cumprod[t].view(-1, 1, 1)
        s = self.schedule.sqrt_one_minus_alphas_cumprod[t].view(-1, 1, 1)
        eps = (x_t - a * self.x0) / s
        v = v_target(self.schedule, self.x0, t, eps)
        return {"eps": eps, "v": v, "x0": self.x0}[self.prediction_type]


class Recorder(nn.Module):
    """Returns zeros and keeps the condition it was called with."""

    def forward(self, x, t, cond):
        self.seen = cond
        return torch.zeros_like(x)


def _refuse(cond):
    raise AssertionError("null_cond must not be called")


def _diffusion(denoiser, **kw):
    kw = {"num_train_timesteps": 1000, "beta_schedule": "cosine", "prediction_type": "v", **kw}
    return GaussianDiffusion(denoiser, **kw)


def test_schedule_is_buffers_that_move_and_stay_out_of_checkpoints():
    gd = _diffusion(Toy(), beta_schedule="linear", beta_start=2e-4, beta_end=0.01)
    want = NoiseSchedule.from_name("linear", 1000, beta_start=2e-4, beta_end=0.01)
    assert torch.equal(gd.schedule.alphas_cumprod, want.alphas_cumprod)
    assert "alphas_cumprod" in dict(gd.named_buffers())
    assert set(gd.state_dict()) == {"denoiser.scale"}
    assert gd.to(torch.float64).schedule.betas.dtype == torch.float64
    assert gd.to("meta").schedule.device.type == "meta"


@pytest.mark.parametrize("prediction_type", ["eps", "v", "x0"])
def test_loss_of_oracle_is_zero(prediction_type):
    schedule = NoiseSchedule.from_name("cosine", 1000)
    x0 = torch.randn(64, 1, 8, generator=torch.Generator().manual_seed(0))
    l1 = (lambda a, b: (a - b).abs().mean(), 0.5)
    gd = _diffusion(
        Oracle(x0, schedule, prediction_type), prediction_type=prediction_type, x0_losses={"l1": l1}
    )
    t = torch.randint(0, 900, (64,))  # x0 from eps divides by sqrt(alpha_bar): not at the end
    out = gd.loss(x0, t=t)
    assert set(out) == {"loss", "mse", "l1"}
    assert out["mse"] < 1e-8 and out["l1"] < 1e-4 and out["loss"] < 1e-4
    assert torch.allclose(out["loss"], out["mse"] + 0.5 * out["l1"])


@pytest.mark.parametrize("prediction_type", ["eps", "v", "x0"])
def test_min_snr_weights_match_closed_form(prediction_type):
    class OffByOne(nn.Module):
        def forward(self, x, t, cond):
            return gd_target + 1.0

    gd = _diffusion(OffByOne(), prediction_type=prediction_type, loss_weighting="min_snr")
    x0, noise = torch.randn(5, 1, 4), torch.randn(5, 1, 4)
    t = torch.tensor([0, 100, 400, 700, 999])
    gd_target = {"eps": noise, "v": v_target(gd.schedule, x0, t, noise), "x0": x0}[prediction_type]
    ab = gd.schedule.alphas_cumprod[t].double()
    snr = ab / (1 - ab)
    w = {
        "eps": torch.minimum(snr, torch.tensor(5.0)) / snr,
        "v": torch.minimum(snr, torch.tensor(5.0)) / (snr + 1),
        "x0": torch.minimum(snr, torch.tensor(5.0)),
    }[prediction_type]
    got = gd.loss(x0, t=t, noise=noise)["mse"]
    assert torch.allclose(got.double(), w.mean(), rtol=1e-5)


def test_condition_dropout_rate_and_rows():
    b, p = 4000, 0.25
    rec = Recorder()
    null = {"a": torch.zeros(1, 3), "flag": torch.ones(1, dtype=torch.bool)}
    gd = _diffusion(rec, cond_drop_prob=p, null_cond=lambda c: null)
    cond = {"a": torch.arange(1, b + 1).float()[:, None].repeat(1, 3), "flag": torch.zeros(b)}
    cond["flag"] = cond["flag"].bool()
    torch.manual_seed(0)
    gd.loss(torch.zeros(b, 1, 2), cond)
    dropped = rec.seen["flag"]
    # Each row is dropped whole (every leaf), kept rows are untouched.
    assert torch.equal(rec.seen["a"][dropped], torch.zeros(int(dropped.sum()), 3))
    assert torch.equal(rec.seen["a"][~dropped], cond["a"][~dropped])
    rate = dropped.float().mean().item()
    assert abs(rate - p) < 5 * (p * (1 - p) / b) ** 0.5
    gd_all = _diffusion(rec, cond_drop_prob=1.0, null_cond=lambda c: null)
    gd_all.loss(torch.zeros(b, 1, 2), cond)
    assert bool(rec.seen["flag"].all())
    gd_none = _diffusion(rec, null_cond=_refuse)
    gd_none.loss(torch.zeros(b, 1, 2), cond)
    assert rec.seen is cond


@pytest.mark.parametrize("sampler", ["ddim", "ddpm", "dpmpp_2m"])
def test_guidance_scale_one_is_the_conditional_sampler(sampler):
    toy = Toy()
    gd = _diffusion(toy, null_cond=_refuse)
    cond, x_T = torch.tensor([1.0, -2.0]), torch.randn(2, 1, 16)
    got = gd.sample(
        cond,
        shape=(2, 1, 16),
        num_inference_steps=10,
        guidance_scale=1.0,
        sampler=sampler,
        x_T=x_T,
        generator=torch.Generator().manual_seed(0),
    )
    want = SAMPLE_FNS[sampler](
        toy,
        gd.schedule,
        (2, 1, 16),
        10,
        prediction_type="v",
        cond=cond,
        x_T=x_T,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.equal(got, want)


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp_2m"])
def test_guidance_combines_null_and_conditional_outputs(sampler):
    toy = Toy()
    gd = _diffusion(toy, null_cond=lambda c: torch.zeros_like(c))
    cond, x_T = torch.tensor([1.0, -2.0]), torch.randn(2, 1, 16)

    def guided(x, t, c):
        return classifier_free_guidance(toy(x, t, torch.zeros(2)), toy(x, t, c), 3.0)

    kw = {"shape": (2, 1, 16), "num_inference_steps": 8, "sampler": sampler, "x_T": x_T}
    got = gd.sample(cond, guidance_scale=3.0, **kw)
    want = SAMPLE_FNS[sampler](
        guided, gd.schedule, (2, 1, 16), 8, prediction_type="v", cond=cond, x_T=x_T
    )
    assert torch.allclose(got, want, atol=1e-6)
    unconditional = gd.sample(torch.zeros(2), guidance_scale=1.0, **kw)
    assert torch.allclose(gd.sample(cond, guidance_scale=0.0, **kw), unconditional, atol=1e-6)


def test_ddim_eta0_is_deterministic_and_eta_draws_noise():
    gd = _diffusion(Toy())
    x_T = torch.randn(2, 1, 16)

    def run(eta, seed):
        return gd.sample(
            None,
            shape=(2, 1, 16),
            num_inference_steps=10,
            guidance_scale=1.0,
            sampler="ddim",
            eta=eta,
            x_T=x_T,
            generator=torch.Generator().manual_seed(seed),
        )

    assert torch.equal(run(0.0, 1), run(0.0, 2))
    assert torch.equal(run(0.5, 1), run(0.5, 1))
    assert not torch.allclose(run(0.5, 1), run(0.5, 2))


@pytest.mark.parametrize("sampler", ["ddim", "ddpm", "dpmpp_2m"])
@pytest.mark.parametrize("prediction_type", ["eps", "v", "x0"])
def test_t_start_from_noised_x0_returns_x0(sampler, prediction_type):
    schedule = NoiseSchedule.from_name("cosine", 1000)
    x0 = torch.randn(2, 1, 16, generator=torch.Generator().manual_seed(3))
    gd = _diffusion(Oracle(x0, schedule, prediction_type), prediction_type=prediction_type)
    noisy = q_sample(schedule, x0, 400, torch.randn(x0.shape))
    out = gd.sample(
        None,
        shape=x0.shape,
        num_inference_steps=20,
        guidance_scale=1.0,
        sampler=sampler,
        x_T=noisy,
        t_start=400,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.allclose(out, x0, atol=1e-4)
    x0_hat = gd.predict_x0(noisy, 400, None)
    assert torch.allclose(x0_hat, x0, atol=1e-4)


SAMPLE_OK = {"shape": (1, 1, 4), "num_inference_steps": 5, "guidance_scale": 1.0, "sampler": "ddim"}


@pytest.mark.parametrize(
    ("init", "call", "message"),
    [
        ({"prediction_type": "score"}, {}, "valid values: eps, v, x0"),
        ({"beta_schedule": "sigmoid"}, {}, "valid values: cosine, linear"),
        ({"num_train_timesteps": 0}, {}, "num_train_timesteps must be >= 1"),
        ({"loss_weighting": "p2"}, {}, "valid values: none, min_snr"),
        ({"cond_drop_prob": 1.5}, {}, r"cond_drop_prob must lie in \[0, 1\]"),
        ({"cond_drop_prob": 0.1}, {}, "cond_drop_prob > 0 needs null_cond"),
        ({"beta_start": 1e-3}, {}, "apply to beta_schedule 'linear' only"),
        ({"x0_losses": {"mse": (torch.sub, 1.0)}}, {}, "name 'mse' is taken"),
        ({}, {"sampler": "euler"}, "valid values: ddim, ddpm, dpmpp_2m"),
        ({}, {"sampler": "ddpm", "eta": 0.5}, "eta applies to sampler 'ddim' only"),
        ({}, {"eta": -1.0}, r"eta must lie in \[0, inf\]"),
        ({}, {"guidance_scale": float("nan")}, "guidance_scale must be a finite number"),
        ({}, {"guidance_scale": 2.0}, "needs the null_cond"),
        ({}, {"num_inference_steps": 0}, r"must lie in 1\.\.1000"),
        ({}, {"num_inference_steps": 2.5}, "num_inference_steps must be an integer"),
        ({}, {"t_start": 1000, "x_T": torch.zeros(1, 1, 4)}, r"t_start must lie in 0\.\.999"),
    ],
)
def test_bad_arguments_raise_value_error_naming_valid_values(init, call, message):
    with pytest.raises(ValueError, match=message):
        gd = _diffusion(Toy(), **init)
        gd.sample(torch.ones(1), **{**SAMPLE_OK, **call})
