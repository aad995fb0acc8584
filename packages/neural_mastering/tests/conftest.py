"""Shared fixtures: a tiny model config and short audio files."""

import numpy as np
import pytest
import soundfile as sf

from neural_mastering.config import load
from neural_mastering.model import MasteringModel


@pytest.fixture
def tiny_cfg():
    return load("tiny")


def _tiny_model(phase: str = "1B", seed: int = 0) -> MasteringModel:
    import torch

    torch.manual_seed(seed)
    cfg = load("tiny", [f"model.phase={phase}"])
    model = MasteringModel(cfg.model)
    # Give the zero-initialised residual output a non-zero weight so the path is exercised.
    with torch.no_grad():
        if model.residual is not None:
            model.residual.out.weight.normal_(0, 0.5)
    return model.eval()


@pytest.fixture
def stereo_wav(tmp_path):
    sr = 48000
    rng = np.random.default_rng(0)
    t = np.arange(int(1.5 * sr)) / sr
    x = np.stack([0.3 * np.sin(2 * np.pi * 330 * t), 0.1 * rng.standard_normal(len(t))])
    path = tmp_path / "song.wav"
    sf.write(path, x.T.astype(np.float32), sr)
    return path


@pytest.fixture
def tiny_model():
    """Factory: tiny_model(phase) -> an eval-mode MasteringModel of the tiny config."""
    return _tiny_model
