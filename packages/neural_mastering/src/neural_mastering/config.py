"""The training config: nested dataclasses read from `configs/<name>.yaml` or a YAML path."""

from __future__ import annotations

from dataclasses import dataclass, field

from neural_mastering.losses import LossConfig
from neural_mastering.model import ModelConfig
from sigshared.errors import UserError
from sigshared.training import TrainerConfig, load_config

DATA_SOURCES = ("synthetic", "tracks", "pairs")


@dataclass
class DataConfig:
    """Where crops come from: built-in synthetic songs, a tracks folder or a pairs folder."""

    source: str = "synthetic"
    path: str = ""
    crop_s: float = 5.0
    train_items: int = 2048
    val_items: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.source not in DATA_SOURCES:
            raise UserError(
                f"data.source must be one of {', '.join(DATA_SOURCES)}; got {self.source!r}"
            )


@dataclass
class OptimConfig:
    """AdamW with a cosine decay over trainer.max_steps."""

    lr: float = 1e-3
    weight_decay: float = 0.0


@dataclass
class MasteringConfig:
    """Everything a run needs; stored in the run folder and in every checkpoint."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def load(source: str | None, overrides=()) -> MasteringConfig:
    """A config by shipped name ("demo", "default", "tiny") or YAML path, with overrides."""
    return load_config(MasteringConfig, source, overrides, package="neural_mastering.configs")
