"""The run config: data, features, model, optimisation, trainer, plotting."""

from __future__ import annotations

from dataclasses import dataclass, field

from sigshared.training import TrainerConfig
from teb_vae.features import FeatureConfig
from teb_vae.model import ModelConfig


@dataclass
class DataConfig:
    """Synthetic records are used when no --data is given."""

    synthetic_train_records: int = 24
    synthetic_val_records: int = 4
    synthetic_minutes: float = 60.0
    stride: int = 1200
    max_missing: float = 0.2
    val_fraction: float = 0.15
    cache_dir: str | None = "runs/teb_vae/feature_cache"


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 1e-4
    train_decode_steps: int = 0


@dataclass
class PlotConfig:
    every_epochs: int = 5
    sample_index: int = 0


@dataclass
class RunConfig:
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    plot: PlotConfig = field(default_factory=PlotConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
