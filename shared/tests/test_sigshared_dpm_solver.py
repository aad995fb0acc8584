"""DPM-Solver++(2M) against diffusers' DPMSolverMultistepScheduler at its defaults."""

import pytest
import torch
from diffusers import DPMSolverMultistepScheduler

from sigshared.diffusion import dpmpp_2m_sample, dpmpp_timesteps, q_sample, v_target
from sigshared.schedules import NoiseSchedule

DIFFUSERS_PREDICTION = {"eps": "epsilon", "v": "v_prediction", "x0": "sample"}


def _toy_model(x, t, cond):
    """Deterministic, nonlinear in x and dependent on t, so every solver term matters."""
    return 0.5 * torch.tanh(x) + 0.2 * x + 1e-3 * t.float().view(-1, 1, 1) * torch.cos(x)


def _reference(schedule, prediction_type, num_inference_steps):
    ref = DPMSolverMultistepScheduler(
        num_train_timesteps=schedule.num_timesteps,
        trained_betas=schedule.betas.numpy(),
        prediction_type=DIFFUSERS_PREDICTION[prediction_type],
    )
    ref.set_timesteps(num_inference_steps)
    return ref


@pytest.mark.parametrize("n", [1, 7, 20, 50, 1000])
def test_timesteps_match_diffusers(n):
    ref = _reference(NoiseSchedule.from_name("linear", 1000), "eps", n)
    assert dpmpp_timesteps(1000, n).tolist() == ref.timesteps.tolist()


@pytest.mark.parametrize("n", [1, 2, 20])
@pytest.mark.parametrize("prediction_type", ["eps", "v", "x0"])
@pytest.mark.parametrize("schedule_name", ["linear", "cosine"])
def test_every_step_matches_diffusers(schedule_name, prediction_type, n):
    schedule = NoiseSchedule.from_name(schedule_name, 1000)
    ref = _reference(schedule, prediction_type, n)
    x_T = torch.randn(3, 2, 16, generator=torch.Generator().manual_seed(0))
    _, trajectory = dpmpp_2m_sample(
        _toy_model,
        schedule,
        x_T.shape,
        n,
        prediction_type=prediction_type,
        x_T=x_T,
        return_trajectory=True,
    )
    assert len(trajectory) == n + 1 and torch.equal(trajectory[0], x_T)
    x = x_T.clone()
    for i, t in enumerate(ref.timesteps):
        x = ref.step(_toy_model(x, torch.full((3,), int(t)), None), t, x).prev_sample
        rel = (trajectory[i + 1] - x).abs().max() / x.abs().max()
        assert rel < 1e-4, f"step {i} (t={int(t)}): relative error {rel:.2e}"


@pytest.mark.parametrize("prediction_type", ["eps", "v", "x0"])
def test_oracle_recovers_x0_from_noise_and_from_t_start(prediction_type):
    schedule = NoiseSchedule.from_name("cosine", 1000)
    x0 = torch.randn(2, 1, 24, generator=torch.Generator().manual_seed(1))

    def oracle(x_t, t, cond):
        a = schedule.sqrt_alphas_cumprod[t].view(-1, 1, 1)
        s = schedule.sqrt_one_minus_alphas_cumprod[t].view(-1, 1, 1)
        eps = (x_t - a * x0) / s
        return {"eps": eps, "v": v_target(schedule, x0, t, eps), "x0": x0}[prediction_type]

    out = dpmpp_2m_sample(oracle, schedule, x0.shape, 10, prediction_type=prediction_type)
    assert torch.allclose(out, x0, atol=1e-4)
    noisy = q_sample(schedule, x0, 300, torch.randn(x0.shape))
    out = dpmpp_2m_sample(
        oracle, schedule, x0.shape, 10, prediction_type=prediction_type, x_T=noisy, t_start=300
    )
    assert torch.allclose(out, x0, atol=1e-4)


def test_bad_arguments():
    schedule = NoiseSchedule.from_name("linear", 100)
    with pytest.raises(ValueError, match="valid values: eps, v, x0"):
        dpmpp_2m_sample(_toy_model, schedule, (1, 1, 4), 5, prediction_type="score")
    with pytest.raises(ValueError, match=r"num_inference_steps must lie in 1\.\.100"):
        dpmpp_2m_sample(_toy_model, schedule, (1, 1, 4), 0, prediction_type="eps")
    with pytest.raises(ValueError, match="t_start needs x_T"):
        dpmpp_2m_sample(_toy_model, schedule, (1, 1, 4), 5, prediction_type="eps", t_start=50)
