"""Every config of neural_mastering and its one loader.

A run's config is `MasteringConfig`: sections `model`, `data`, `loss`, `optim` and `trainer`
(sigshared's `TrainerConfig`), read from `configs/<name>.yaml` or a YAML path with
`section.key=value` overrides. Impossible values raise ConfigError naming the full key and the
valid range, before anything is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sigshared.errors import ConfigError
from sigshared.training import TrainerConfig, load_config

PHASES = ("1A", "1B", "1C")
DATA_SOURCES = ("synthetic", "tracks", "pairs")


def _positive(key: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{key} must be a finite number > 0; got {value!r}")


def _non_negative(key: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ConfigError(f"{key} must be a finite number >= 0; got {value!r}")


def _widths(key: str, values: list[int], length: int | None = None) -> None:
    if length is not None and len(values) != length:
        raise ConfigError(f"{key} must list {length} widths; got {values!r}")
    if not values or any(not isinstance(v, int) or v < 1 for v in values):
        raise ConfigError(f"{key} must be a non-empty list of integers >= 1; got {values!r}")


@dataclass
class ModelConfig:
    """Architecture (see model.py); the defaults are the design document's model."""

    phase: str = "1B"
    sample_rate: int = 44100
    stem_channels: list[int] = field(default_factory=lambda: [64, 128])
    tcn_channels: list[int] = field(default_factory=lambda: [128, 256, 256, 512])
    latent_dim: int = 512
    mlp_hidden: int = 256
    dropout: float = 0.2
    num_bands: int = 5
    max_bands: int = 10
    selector_hidden: int = 128
    unet_channels: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    unet_kernel: int = 15
    fft_pad: int = 16384
    # The encoder's head also hears the input's octave balance (see model.TCNEncoder).
    balance_input: bool = False

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ConfigError(f"model.phase must be one of {', '.join(PHASES)}; got {self.phase!r}")
        if not isinstance(self.sample_rate, int) or not 8000 <= self.sample_rate <= 192000:
            raise ConfigError(
                "model.sample_rate must be an integer in [8000, 192000] Hz; "
                f"got {self.sample_rate!r}"
            )
        _widths("model.stem_channels", self.stem_channels, 2)
        _widths("model.tcn_channels", self.tcn_channels)
        _widths("model.unet_channels", self.unet_channels)
        for key in ("latent_dim", "mlp_hidden", "selector_hidden"):
            _widths(f"model.{key}", [getattr(self, key)])
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout must be in [0, 1); got {self.dropout!r}")
        if not isinstance(self.num_bands, int) or self.num_bands < 2:
            raise ConfigError(f"model.num_bands must be an integer >= 2; got {self.num_bands!r}")
        if not isinstance(self.max_bands, int) or self.max_bands < 2:
            raise ConfigError(f"model.max_bands must be an integer >= 2; got {self.max_bands!r}")
        if (
            not isinstance(self.unet_kernel, int)
            or self.unet_kernel < 1
            or self.unet_kernel % 2 == 0
        ):
            raise ConfigError(
                f"model.unet_kernel must be an odd integer >= 1; got {self.unet_kernel!r}"
            )
        if not isinstance(self.fft_pad, int) or self.fft_pad < 0:
            raise ConfigError(f"model.fft_pad must be an integer >= 0; got {self.fft_pad!r}")
        if not isinstance(self.balance_input, bool):
            raise ConfigError(
                f"model.balance_input must be true or false; got {self.balance_input!r}"
            )


@dataclass
class DataConfig:
    """Where crops come from: built-in synthetic songs, a tracks folder or a pairs folder."""

    source: str = "synthetic"
    path: str = ""
    crop_s: float = 5.0
    train_items: int = 2048
    val_items: int = 64
    seed: int = 0
    # With source "tracks": this share of the training items are built-in synthetic songs
    # (de-mastered the same way), so a few real tracks do not make up the whole corpus.
    synthetic_share: float = 0.0
    # Self-supervised sources: this share of the training items are identity items (the
    # finished crop, turned down, as the input; see `data`), teaching the model to leave a
    # finished master alone. Validation items are all de-mastered.
    identity_share: float = 0.0
    # Self-supervised sources: training targets are the finished crop tilted by up to this
    # many dB (see `data`); 0 trains on the finished crops as they are.
    target_tilt_db: float = 0.0

    def __post_init__(self) -> None:
        if self.source not in DATA_SOURCES:
            raise ConfigError(
                f"data.source must be one of {', '.join(DATA_SOURCES)}; got {self.source!r}"
            )
        if not (isinstance(self.crop_s, int | float) and 0.1 <= self.crop_s <= 600):
            raise ConfigError(f"data.crop_s must be in [0.1, 600] seconds; got {self.crop_s!r}")
        share = self.synthetic_share
        if not (isinstance(share, int | float) and 0 <= share < 1):
            raise ConfigError(f"data.synthetic_share must be in [0, 1); got {share!r}")
        share = self.identity_share
        if not (isinstance(share, int | float) and 0 <= share < 1):
            raise ConfigError(f"data.identity_share must be in [0, 1); got {share!r}")
        tilt = self.target_tilt_db
        if not (isinstance(tilt, int | float) and 0 <= tilt <= 12):
            raise ConfigError(f"data.target_tilt_db must be in [0, 12] dB; got {tilt!r}")
        for key in ("train_items", "val_items"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"data.{key} must be an integer >= 1; got {value!r}")


@dataclass
class LossConfig:
    """Weights of the loss terms (0 switches a term off) and the STFT resolutions."""

    stft_weight: float = 1.0
    a_weighted_weight: float = 1.0
    lufs_weight: float = 0.05
    balance_weight: float = 0.1
    gain_reg: float = 1e-3
    q_reg: float = 1e-3
    sparsity_weight: float = 1e-3
    entropy_weight: float = 1e-3
    fft_sizes: list[int] = field(default_factory=lambda: [512, 1024, 2048])

    def __post_init__(self) -> None:
        for key in (
            "stft_weight",
            "a_weighted_weight",
            "lufs_weight",
            "balance_weight",
            "gain_reg",
            "q_reg",
            "sparsity_weight",
            "entropy_weight",
        ):
            _non_negative(f"loss.{key}", getattr(self, key))
        _widths("loss.fft_sizes", self.fft_sizes)
        if any(n < 16 for n in self.fft_sizes):
            raise ConfigError(f"loss.fft_sizes must be >= 16 each; got {self.fft_sizes!r}")


@dataclass
class OptimConfig:
    """AdamW with a cosine decay over the run's optimizer steps."""

    lr: float = 1e-3
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        _positive("optim.lr", self.lr)
        _non_negative("optim.weight_decay", self.weight_decay)


@dataclass
class MasteringConfig:
    """Everything a run needs; stored in the run folder and in every checkpoint."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def load(source: str | dict | None, overrides=()) -> MasteringConfig:
    """A config by shipped name ("demo", "default", "tiny"), YAML path or dict, with overrides."""
    return load_config(MasteringConfig, source, overrides, package="neural_mastering.configs")
