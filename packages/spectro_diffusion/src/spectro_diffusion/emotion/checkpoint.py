"""Everything inference needs, rebuilt from one checkpoint and checked for package and kind.

`spectro-train` stamps its checkpoints {"package": "spectro_diffusion", "kind":
"emotion-generator"}, `spectro-train-classifier` {"package": ..., "kind": "emotion-classifier"};
`load_trained` and `load_trained_classifier` refuse anything else by name (a classifier given
as a generator is called a classifier checkpoint), a corrupt file as not readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from sigshared.diffusion import GaussianDiffusion
from sigshared.errors import CheckpointError, UserError
from sigshared.training import load_checkpoint, load_model_weights, save_checkpoint
from spectro_diffusion.emotion.config import EmotionConfig, load_emotion_config
from spectro_diffusion.emotion.model import EmotionClassifier, EmotionUNet, build_classifier
from spectro_diffusion.emotion.objective import build_diffusion

PACKAGE = "spectro_diffusion"
GENERATOR_KIND = "emotion-generator"
CLASSIFIER_KIND = "emotion-classifier"
SHIPPED_GENERATOR = "emodb.pt"


def shipped_generator() -> Path:
    """The generator shipped inside the package (`spectro-generate` without --checkpoint)."""
    return Path(str(resources.files("spectro_diffusion.emotion.checkpoints") / SHIPPED_GENERATOR))


def export_generator(src: str | Path, dst: str | Path, data_description: str) -> Path:
    """Write the inference part of a `spectro-train` checkpoint to `dst`: the EMA weights (the
    raw ones when the run had no EMA), the config, classes and dB range, the stamp, and
    `data_description` (what the first line of a command says it was trained on). Optimizer,
    scheduler and RNG state are left out: a quarter of the size, and not resumable."""
    state = load_checkpoint(src, package=PACKAGE, kind=GENERATOR_KIND)
    _contents(state, Path(src), "spectro-train")
    which = "ema" if state.get("ema") is not None else "model"
    slim = {
        "format": state.get("format"),
        which: state[which],
        "step": state.get("step"),
        "extra": {**state["extra"], "data_description": data_description},
        "package": PACKAGE,
        "kind": GENERATOR_KIND,
    }
    return save_checkpoint(slim, dst)


@dataclass
class TrainedGenerator:
    """A trained diffusion model and what sampling needs: classes, dB range, config."""

    diffusion: GaussianDiffusion
    classes: list[str]
    db_max: float
    top_db: float
    config: EmotionConfig
    weights: str  # "ema" or "model"
    corpus: str
    data_root: str
    data_description: str = ""  # set in shipped models: what it was trained on, in words

    @property
    def net(self) -> EmotionUNet:
        return self.diffusion.denoiser

    @property
    def device(self) -> torch.device:
        return next(self.diffusion.parameters()).device

    def class_index(self, emotion: str) -> int:
        """The class index of `emotion`; a UserError lists the ones this model knows."""
        if emotion not in self.classes:
            raise UserError(
                f"unknown emotion {emotion!r}; this model knows: {', '.join(self.classes)}"
            )
        return self.classes.index(emotion)


@dataclass
class TrainedClassifier:
    """A trained emotion classifier with the label list and dB range it was trained on."""

    net: EmotionClassifier
    classes: list[str]
    db_max: float
    top_db: float
    config: EmotionConfig


def _contents(state: dict[str, Any], path: Path, what: str) -> tuple[EmotionConfig, dict]:
    """The config and the "extra" record of a checkpoint, or a CheckpointError naming the file."""
    extra = state.get("extra") or {}
    missing = [k for k in ("config", "classes", "db_max", "top_db") if k not in extra]
    if missing:
        raise CheckpointError(f"{path} is not a {what} checkpoint (it holds no {missing[0]})")
    return load_emotion_config(extra["config"]), extra


def _load_weights(model: torch.nn.Module, state: dict[str, Any], path: Path, **kw) -> str:
    try:
        return load_model_weights(model, state, **kw)
    except (KeyError, RuntimeError):
        raise CheckpointError(
            f"{path}: its weights do not fit the model its config describes (damaged file?)"
        ) from None


def load_trained(path: str | Path, device: torch.device | str = "cpu") -> TrainedGenerator:
    """A `TrainedGenerator` from a `spectro-train` checkpoint (EMA weights when present)."""
    state = load_checkpoint(path, package=PACKAGE, kind=GENERATOR_KIND)
    cfg, extra = _contents(state, Path(path), "spectro-train")
    diffusion = build_diffusion(cfg, len(extra["classes"]))
    weights = _load_weights(diffusion, state, Path(path))
    diffusion.to(device).eval()
    return TrainedGenerator(
        diffusion,
        list(extra["classes"]),
        float(extra["db_max"]),
        float(extra["top_db"]),
        cfg,
        weights,
        str(extra.get("corpus", "")),
        str(extra.get("data_root", "")),
        str(extra.get("data_description", "")),
    )


def load_trained_classifier(
    path: str | Path, device: torch.device | str = "cpu"
) -> TrainedClassifier:
    """A `TrainedClassifier` from a `spectro-train-classifier` checkpoint."""
    state = load_checkpoint(path, package=PACKAGE, kind=CLASSIFIER_KIND)
    cfg, extra = _contents(state, Path(path), "spectro-train-classifier")
    net = build_classifier(cfg.classifier, len(extra["classes"]))
    _load_weights(net, state, Path(path), prefer_ema=False)
    return TrainedClassifier(
        net.to(device).eval(),
        list(extra["classes"]),
        float(extra["db_max"]),
        float(extra["top_db"]),
        cfg,
    )
