import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from sigshared.diffusion import (
    classifier_free_guidance,
    ddim_sample,
    ddim_step,
    ddim_timesteps,
    ddpm_sample,
    ddpm_step,
    guided_model_output,
    predict_eps_from_v,
    predict_x0_from_eps,
    predict_x0_from_v,
    q_sample,
    v_target,
)
from sigshared.schedules import NoiseSchedule

SCH = NoiseSchedule.from_name("cosine", 1000)


@pytest.mark.parametrize("shape", [(4, 1, 32), (3, 2, 8, 8)])
def test_round_trips_recover_x0_and_eps(shape):
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    t = torch.tensor([0, 10, 500, 999][: shape[0]])
    x_t = q_sample(SCH, x0, t, eps)
    v = v_target(SCH, x0, t, eps)
    assert torch.allclose(predict_x0_from_v(SCH, x_t, t, v), x0, atol=1e-5)
    assert torch.allclose(predict_eps_from_v(SCH, x_t, t, v), eps, atol=1e-5)
    t_lo = t.clamp(max=900)  # x0 from eps divides by sqrt(alpha_bar), tiny at the very end
    x_t2 = q_sample(SCH, x0, t_lo, eps)
    assert torch.allclose(predict_x0_from_eps(SCH, x_t2, t_lo, eps), x0, atol=1e-3)


def _oracle(x0, prediction_type):
    def fn(x_t, t, cond):
        eps = (x_t - SCH.sqrt_alphas_cumprod[t].view(-1, *[1] * (x_t.ndim - 1)) * x0) / (
            SCH.sqrt_one_minus_alphas_cumprod[t].view(-1, *[1] * (x_t.ndim - 1))
        )
        return eps if prediction_type == "eps" else v_target(SCH, x0, t, eps)

    return fn


@pytest.mark.parametrize("prediction_type", ["v", "eps"])
@pytest.mark.parametrize("shape", [(2, 1, 50), (2, 1, 6, 6)])
def test_ddim_eta0_with_oracle_returns_x0(prediction_type, shape):
    x0 = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    out = ddim_sample(
        _oracle(x0, prediction_type),
        SCH,
        shape,
        num_inference_steps=20,
        prediction_type=prediction_type,
        generator=torch.Generator().manual_seed(2),
    )
    assert out.shape == shape
    assert torch.allclose(out, x0, atol=1e-4)


def _toy_model(x, t, cond):
    return 0.3 * x + 0.001 * t.float().view(-1, *[1] * (x.ndim - 1))


def test_sampling_is_deterministic_with_seed():
    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return ddim_sample(
            _toy_model, SCH, (2, 1, 16), 10, eta=0.5, prediction_type="v", generator=g
        )

    a, b, c = run(3), run(3), run(4)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    x, traj = ddpm_sample(
        _toy_model,
        SCH,
        (2, 1, 16),
        num_inference_steps=25,
        prediction_type="eps",
        return_trajectory=True,
        generator=torch.Generator().manual_seed(3),
    )
    assert len(traj) == 26 and torch.equal(traj[-1], x)


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_timesteps_match_diffusers(spacing):
    ref = DDIMScheduler(num_train_timesteps=1000, timestep_spacing=spacing)
    ref.set_timesteps(50)
    assert ddim_timesteps(1000, 50, spacing).tolist() == ref.timesteps.tolist()


@pytest.mark.parametrize("eta", [0.0, 1.0, 0.3])
@pytest.mark.parametrize("prediction_type", ["v", "eps"])
def test_ddim_matches_diffusers(eta, prediction_type):
    ref = DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        clip_sample=False,
        set_alpha_to_one=True,
        prediction_type="v_prediction" if prediction_type == "v" else "epsilon",
        timestep_spacing="leading",
    )
    ref.set_timesteps(25)
    assert torch.allclose(ref.alphas_cumprod.float(), SCH.alphas_cumprod, rtol=1e-5)
    g = torch.Generator().manual_seed(5)
    x_ours = x_ref = torch.randn(3, 1, 40, generator=g)
    ts = ref.timesteps.tolist()
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        noise = torch.randn(3, 1, 40, generator=g)
        out_o = _toy_model(x_ours, torch.full((3,), t), None)
        out_r = _toy_model(x_ref, torch.full((3,), t), None)
        x_ours = ddim_step(SCH, x_ours, t, t_prev, out_o, eta, prediction_type, noise).prev_sample
        x_ref = ref.step(out_r, t, x_ref, eta=eta, variance_noise=noise).prev_sample
        assert torch.allclose(x_ours, x_ref, rtol=1e-4, atol=1e-5), f"diverged at t={t}"


def test_ddpm_matches_diffusers():
    lin = NoiseSchedule.from_name("linear", 1000)
    ref = DDPMScheduler(
        num_train_timesteps=1000,
        beta_schedule="linear",
        clip_sample=False,
        variance_type="fixed_small",
        prediction_type="epsilon",
    )
    ref.set_timesteps(1000)
    g = torch.Generator().manual_seed(6)
    x_ours = x_ref = torch.randn(2, 1, 30, generator=g)
    for t in [999, 998, 500, 3, 2, 1, 0]:
        out = _toy_model(x_ours, torch.full((2,), t), None)
        noise = torch.randn(2, 1, 30, generator=torch.Generator().manual_seed(t))
        x_ours = ddpm_step(lin, x_ours, t, out, "eps", noise).prev_sample
        x_ref = ref.step(out, t, x_ref, generator=torch.Generator().manual_seed(t)).prev_sample
        assert torch.allclose(x_ours, x_ref, rtol=1e-4, atol=1e-5), f"diverged at t={t}"
        x_ref = x_ours


def test_eta1_ddim_variance_equals_ddpm_posterior():
    x = torch.randn(2, 1, 8)
    out = torch.randn(2, 1, 8)
    noise = torch.randn(2, 1, 8)
    a = ddim_step(SCH, x, 500, 499, out, eta=1.0, prediction_type="eps", noise=noise)
    b = ddpm_step(SCH, x, 500, out, prediction_type="eps", noise=noise)
    assert torch.allclose(a.prev_sample, b.prev_sample, atol=1e-5)


def _cond_model(x, t, cond):
    return x * cond.view(-1, 1, 1)


def test_guidance_combination():
    x = torch.randn(3, 1, 10)
    t = torch.full((3,), 10)
    cond = torch.tensor([1.0, 2.0, 3.0])
    null = torch.tensor(0.5)
    one = guided_model_output(_cond_model, x, t, cond, null, 1.0)
    assert torch.allclose(one, _cond_model(x, t, cond))
    for w in (0.0, 2.5):
        got = guided_model_output(_cond_model, x, t, cond, null, w)
        uncond = _cond_model(x, t, null.expand(3))
        want = classifier_free_guidance(uncond, _cond_model(x, t, cond), w)
        assert torch.allclose(got, want)
    assert torch.allclose(
        guided_model_output(_cond_model, x, t, cond, null, 0.0), _cond_model(x, t, null.expand(3))
    )


def test_t_start_denoises_from_partial_noise():
    x0 = torch.randn(2, 1, 32, generator=torch.Generator().manual_seed(7))
    noisy = q_sample(SCH, x0, 300, torch.randn(2, 1, 32))
    out = ddim_sample(
        _oracle(x0, "v"), SCH, (2, 1, 32), 50, prediction_type="v", x_T=noisy, t_start=300
    )
    assert torch.allclose(out, x0, atol=1e-4)


def test_clip_and_bad_arguments():
    x = torch.randn(2, 1, 8) * 10
    out = ddim_step(SCH, x, 10, -1, torch.zeros_like(x), prediction_type="x0", clip_x0=1.0)
    assert out.pred_x0.abs().max() <= 1.0
    with pytest.raises(ValueError, match="valid values: eps, v, x0"):
        ddim_step(SCH, x, 10, 5, x, prediction_type="score")
    with pytest.raises(ValueError, match="valid values: leading, trailing, linspace"):
        ddim_timesteps(1000, 10, "middle")
    with pytest.raises(ValueError, match="needs `noise`"):
        ddim_step(SCH, x, 10, 5, x, eta=1.0)
