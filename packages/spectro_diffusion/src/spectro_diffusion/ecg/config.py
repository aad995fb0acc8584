"""The ECG variant's configuration: nested dataclasses read from YAML by `sigshared`.

Sections (every key is checked; an unknown one is an error listing the valid ones):
`dataset` (where the data is, normalisation, augmentation), `prepare` (how the synthetic
dataset is built when `dataset.path` is null), `model` (condition encoder and U-Net),
`diffusion` (schedule and prediction target), `training` (optimizer, cosine schedule, loss
weights), `inference` (DDIM steps, eta, batch size, output folder) and `trainer` (the shared
training loop: batch size, epochs, EMA, AMP, gradient accumulation, checkpoints).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sigshared.errors import UserError
from sigshared.training import TrainerConfig, load_config

ARRAY_NAMES = ("images", "freq_embeddings", "amp_init", "emb_init")
CONFIG_PACKAGE = "spectro_diffusion.ecg.configs"


@dataclass
class DatasetConfig:
    """path: dataset root in the documented layout (null: build the synthetic one);
    array_dims: how to read each array: "auto" (1-D file -> 1-D signal, 2-D -> image,
    3-D -> image with channels), 1 ((L,) or (C, L)) or 2 ((H, W) or (C, H, W));
    augment_time_shift: largest circular shift in image columns (0 = off), applied to the
    image, emb_init and amp_init alike (freq_embeddings, a time average, is unchanged);
    augment_cond_noise: std of Gaussian noise added to the normalised conditions."""

    path: str | None = None
    train_split: str = "train"
    val_split: str = "val"
    normalize: bool = True
    augment: bool = False
    augment_time_shift: int = 8
    augment_cond_noise: float = 0.05
    array_dims: dict[str, str | int] = field(
        default_factory=lambda: {name: "auto" for name in ARRAY_NAMES}
    )
    max_items: int | None = None

    def __post_init__(self) -> None:
        unknown = set(self.array_dims) - set(ARRAY_NAMES)
        if unknown:
            raise UserError(
                f"dataset.array_dims: unknown array {sorted(unknown)[0]!r}; "
                f"valid: {', '.join(ARRAY_NAMES)}"
            )
        for name, dims in self.array_dims.items():
            if dims not in ("auto", 1, 2):
                raise UserError(f"dataset.array_dims.{name} must be auto, 1 or 2, got {dims!r}")
        self.array_dims = {**{n: "auto" for n in ARRAY_NAMES}, **self.array_dims}


@dataclass
class PrepareConfig:
    """Window and scalogram settings of `ecg-prepare` (frequencies in Hz, times in seconds)."""

    fs: float = 250.0
    window_seconds: float = 2.048
    hop_seconds: float | None = None
    image_height: int = 64
    image_width: int = 64
    fmin: float = 0.5
    fmax: float = 40.0
    coarse_grid: int = 8
    variants: int = 1
    val_fraction: float = 0.2
    synthetic_records: int = 12
    synthetic_seconds: float = 60.0
    synthetic_fs: float = 500.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.fs <= 0 or self.window_seconds <= 0:
            raise UserError("prepare.fs and prepare.window_seconds must be > 0")
        if not 0 < self.fmin < self.fmax <= self.fs / 2:
            raise UserError(
                f"prepare needs 0 < fmin < fmax <= fs/2, got fmin={self.fmin}, "
                f"fmax={self.fmax}, fs={self.fs}"
            )
        if self.image_height % self.coarse_grid or self.image_width % self.coarse_grid:
            raise UserError(
                f"prepare.coarse_grid ({self.coarse_grid}) must divide image_height "
                f"({self.image_height}) and image_width ({self.image_width})"
            )
        if self.variants < 1:
            raise UserError(f"prepare.variants must be >= 1, got {self.variants}")
        if not 0 <= self.val_fraction < 1:
            raise UserError(f"prepare.val_fraction must lie in [0, 1), got {self.val_fraction}")

    @property
    def window_samples(self) -> int:
        """Window length in samples, rounded to a multiple of the image width."""
        return self.image_width * max(1, round(self.window_seconds * self.fs / self.image_width))

    @property
    def hop_samples(self) -> int:
        hop = self.window_seconds if self.hop_seconds is None else self.hop_seconds
        return max(1, round(hop * self.fs))


@dataclass
class ModelConfig:
    """Condition encoder and U-Net. Resolutions count feature-map rows of the U-Net (the image
    height at level 0, halved at each level). condition_1d_axis: which image axis a 1-D
    condition runs along (amp_init is a waveform: "width", the time axis); output_1d_axis:
    the same for a 1-D output (freq_embeddings has one value per frequency row: "height")."""

    condition_dim: int = 256
    cond_channels: int = 64
    cond_downsample: int = 4
    fusion: Literal["cross_attention", "concat"] = "cross_attention"
    fusion_heads: int = 4
    cond_input_channels: int = 16
    base_channels: int = 64
    channel_mults: list[int] = field(default_factory=lambda: [1, 2, 2, 4])
    num_res_blocks: int = 2
    use_cross_attention: bool = True
    attention_resolutions: list[int] = field(default_factory=lambda: [16, 8])
    use_self_attention: bool = True
    num_heads: int = 4
    dropout: float = 0.0
    freq_head_channels: int = 64
    condition_1d_axis: Literal["width", "height"] = "width"
    output_1d_axis: Literal["width", "height"] = "height"

    def __post_init__(self) -> None:
        if self.cond_downsample < 1 or self.cond_downsample & (self.cond_downsample - 1):
            raise UserError(
                f"model.cond_downsample must be a power of 2, got {self.cond_downsample}"
            )
        if not self.channel_mults:
            raise UserError("model.channel_mults must list at least one level")


@dataclass
class DiffusionConfig:
    """Forward process and what the network predicts ("eps", "v" or "x0")."""

    num_timesteps: int = 1000
    beta_schedule: Literal["linear", "cosine"] = "linear"
    beta_start: float = 1e-4
    beta_end: float = 0.02
    prediction_type: Literal["eps", "v", "x0"] = "eps"
    clip_x0: float | None = None


@dataclass
class TrainingConfig:
    """AdamW with linear warm-up then cosine annealing to min_lr_ratio * learning_rate; loss
    weights of the image, frequency-embedding and consistency terms (0 disables a term);
    consistency_projection: how a frequency embedding follows from an image ("logmeanexp":
    log of the time-averaged exp, the definition of prepared data; "mean": plain time mean)."""

    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    adam_betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 500
    min_lr_ratio: float = 0.01
    image_weight: float = 1.0
    freq_weight: float = 1.0
    consistency_weight: float = 0.1
    consistency_projection: Literal["logmeanexp", "mean"] = "logmeanexp"


@dataclass
class InferenceConfig:
    """DDIM sampling (eta 0: deterministic, 1: DDPM-like) and where results go
    (null: runs/spectro_diffusion_ecg_infer/<time>/)."""

    num_inference_steps: int = 50
    eta: float = 0.0
    batch_size: int = 8
    num_samples: int = 4
    output_dir: str | None = None


@dataclass
class EcgConfig:
    """The whole configuration of one ECG run."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def load_ecg_config(source: str | dict | None = "default", overrides=()) -> EcgConfig:
    """A shipped config name (default, low_memory, demo), a YAML path or a dict, + overrides."""
    return load_config(EcgConfig, source, overrides, package=CONFIG_PACKAGE)
