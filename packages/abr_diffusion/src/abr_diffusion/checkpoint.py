"""Build the model and diffusion from a config, and load a trained run from its checkpoint.

A checkpoint written by `abr-train` carries (under "extra") the resolved config and the
static-parameter scaler, so inference and evaluation need the checkpoint file alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from abr_diffusion.config import ABRConfig, load
from abr_diffusion.data import AmplitudeModel, StaticScaler
from abr_diffusion.diffusion import VDiffusion
from abr_diffusion.model import ABRTransformerGenerator
from sigshared.errors import UserError
from sigshared.training import load_checkpoint, load_model_weights


def build_model(cfg: ABRConfig) -> ABRTransformerGenerator:
    m = cfg.model
    return ABRTransformerGenerator(
        seq_len=m.seq_len,
        static_dim=m.static_dim,
        d_model=m.d_model,
        n_layers=m.n_layers,
        n_heads=m.n_heads,
        ff_mult=m.ff_mult,
        conv_kernel=m.conv_kernel,
        film_hidden=m.film_hidden,
        t_embed_dim=m.t_embed_dim,
        dropout=m.dropout,
    )


@dataclass
class TrainedModel:
    """Everything inference needs: the network (EMA weights, eval mode) on `device`."""

    net: ABRTransformerGenerator
    diffusion: VDiffusion
    config: ABRConfig
    scaler: StaticScaler
    amplitude: AmplitudeModel
    weights: str
    device: torch.device


def load_trained(path: str | Path, device: torch.device) -> TrainedModel:
    """Load a checkpoint written by abr-train (EMA weights when present)."""
    state = load_checkpoint(path)
    extra = state.get("extra") or {}
    if not {"config", "static_scaler", "amplitude_model"} <= set(extra):
        raise UserError(f"{path} is not an abr-train checkpoint (no config / scaler inside)")
    cfg = load(extra["config"])
    net = build_model(cfg)
    try:
        which = load_model_weights(net, state)
    except RuntimeError as err:
        raise UserError(f"{path}: weights do not fit the stored config: {err}") from None
    scaler = StaticScaler(**extra["static_scaler"])
    amplitude = AmplitudeModel(**extra["amplitude_model"])
    diffusion = VDiffusion(cfg.diffusion).to(device)
    return TrainedModel(net.to(device).eval(), diffusion, cfg, scaler, amplitude, which, device)
