"""The training objectives of the emotion application, and the diffusion wrapper they train.

The generator is a `sigshared.diffusion.GaussianDiffusion` around the `EmotionUNet`: it owns
the schedule, the eps-prediction MSE and the condition dropout (a dropped emotion becomes the
U-Net's null class). The classifier is trained with cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sigshared.diffusion import GaussianDiffusion
from spectro_diffusion.emotion.config import EmotionConfig
from spectro_diffusion.emotion.model import EmotionUNet, build_model


def null_emotion(net: EmotionUNet):
    """The null condition of a batch: the U-Net's "no emotion" class for every row."""

    def null_cond(y: torch.Tensor) -> torch.Tensor:
        return torch.full_like(y, net.null_class)

    return null_cond


def build_diffusion(cfg: EmotionConfig, num_classes: int) -> GaussianDiffusion:
    """A fresh U-Net for `num_classes` emotions wrapped in the config's GaussianDiffusion.

    An unconditional model (`model.conditional: false`) gets no condition dropout and no null
    condition: its U-Net ignores the label.
    """
    net = build_model(cfg.model, num_classes)
    conditional = net.num_classes > 0
    return GaussianDiffusion(
        net,
        num_train_timesteps=cfg.diffusion.num_train_timesteps,
        beta_schedule=cfg.diffusion.beta_schedule,
        prediction_type=cfg.diffusion.prediction_type,
        cond_drop_prob=cfg.diffusion.cond_drop_prob if conditional else 0.0,
        null_cond=null_emotion(net) if conditional else None,
    )


def diffusion_loss_step(
    model: nn.Module, batch: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The generator's step: the GaussianDiffusion loss (its forward, so that DDP synchronises
    gradients) on a batch {"x": (B, 1, n_mels, n_frames) in [-1, 1], "y": (B,) class indices}."""
    return model(batch["x"], batch["y"])


def classifier_loss_step(
    model: nn.Module, batch: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Cross-entropy of the classifier's logits, with the batch accuracy logged beside it."""
    logits = model(batch["x"])
    loss = F.cross_entropy(logits, batch["y"])
    acc = (logits.argmax(dim=1) == batch["y"]).float().mean()
    return {"loss": loss, "acc": acc}
