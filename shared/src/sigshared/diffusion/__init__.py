"""Gaussian diffusion: forward process, parameterisation conversions, samplers, and the
`GaussianDiffusion` module that owns schedule, objective and sampling for a denoiser network.

Modules: `forward` (q_sample, eps / v / x0 conversions), `steps` (one DDIM / DDPM step),
`conditioning` (condition trees, classifier-free guidance), `chain` (the shared reverse loop),
`samplers` (ddim_sample, ddpm_sample), `dpm_solver` (dpmpp_2m_sample), `gaussian`
(GaussianDiffusion).
"""

from sigshared.diffusion.conditioning import (
    ModelFn,
    classifier_free_guidance,
    guided_model_output,
)
from sigshared.diffusion.dpm_solver import dpmpp_2m_sample, dpmpp_timesteps
from sigshared.diffusion.forward import (
    PREDICTION_TYPES,
    Clip,
    predict_eps_from_v,
    predict_eps_from_x0,
    predict_x0_from_eps,
    predict_x0_from_v,
    prediction_target,
    q_sample,
    split_prediction,
    v_target,
)
from sigshared.diffusion.gaussian import LOSS_WEIGHTINGS, SAMPLERS, GaussianDiffusion
from sigshared.diffusion.samplers import ddim_sample, ddpm_sample
from sigshared.diffusion.steps import SPACINGS, StepOutput, ddim_step, ddim_timesteps, ddpm_step

__all__ = [
    "LOSS_WEIGHTINGS",
    "PREDICTION_TYPES",
    "SAMPLERS",
    "SPACINGS",
    "Clip",
    "GaussianDiffusion",
    "ModelFn",
    "StepOutput",
    "classifier_free_guidance",
    "ddim_sample",
    "ddim_step",
    "ddim_timesteps",
    "ddpm_sample",
    "ddpm_step",
    "dpmpp_2m_sample",
    "dpmpp_timesteps",
    "guided_model_output",
    "predict_eps_from_v",
    "predict_eps_from_x0",
    "predict_x0_from_eps",
    "predict_x0_from_v",
    "prediction_target",
    "q_sample",
    "split_prediction",
    "v_target",
]
