"""The ECG variant's configuration: nested dataclasses read from YAML by `sigshared`.

Sections (every key is checked; an unknown one is an error listing the valid ones):
`dataset` (where the data is, normalisation, augmentation), `prepare` (how the synthetic
dataset is built when `dataset.path` is null), `model` (condition encoder and U-Net),
`diffusion` (schedule, prediction target, condition dropout), `training` (optimizer, cosine
schedule, loss weights), `inference` (sampler, steps, guidance, eta, batch size, output folder)
and `trainer` (the shared training loop: batch size, steps, EMA, AMP, gradient accumulation,
checkpoints). Every default is defined here once; an impossible value raises ConfigError naming
the full key and its valid range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sigshared.errors import ConfigError
from sigshared.training import TrainerConfig, load_config

ARRAY_NAMES = ("images", "freq_embeddings", "amp_init", "emb_init")
CONFIG_PACKAGE = "spectro_diffusion.ecg.configs"
SAMPLERS = ("ddim", "ddpm", "dpmpp_2m")


def require(ok: bool, key: str, valid: str, value: object) -> None:
    """ConfigError naming `key`, its valid range and the value given, unless `ok`."""
    if not ok:
        raise ConfigError(f"{key} must be {valid}, got {value!r}")


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
            raise ConfigError(
                f"dataset.array_dims: unknown array {sorted(unknown)[0]!r}; "
                f"valid: {', '.join(ARRAY_NAMES)}"
            )
        for name, dims in self.array_dims.items():
            if dims not in ("auto", 1, 2):
                raise ConfigError(f"dataset.array_dims.{name} must be auto, 1 or 2, got {dims!r}")
        self.array_dims = {**{n: "auto" for n in ARRAY_NAMES}, **self.array_dims}
        s = self.augment_time_shift
        require(s >= 0, "dataset.augment_time_shift", ">= 0", s)
        n = self.augment_cond_noise
        require(0 <= n < float("inf"), "dataset.augment_cond_noise", ">= 0 and finite", n)
        if self.max_items is not None:
            require(self.max_items >= 1, "dataset.max_items", ">= 1 or null", self.max_items)


@dataclass
class PrepareConfig:
    """Settings of `ecg-prepare` (frequencies in Hz, times in seconds): windows and scalogram;
    the split (val_records by name, else a seeded val_fraction of the records); channels
    ("ecg": the ECG leads by name, "all", or channel names); max_gap_seconds: the longest run
    of missing samples that is interpolated (windows over longer runs are left out)."""

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
    val_records: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=lambda: ["ecg"])
    max_gap_seconds: float = 0.04
    synthetic_records: int = 12
    synthetic_seconds: float = 60.0
    synthetic_fs: float = 500.0
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("fs", "window_seconds", "synthetic_seconds", "synthetic_fs"):
            require(getattr(self, key) > 0, f"prepare.{key}", "> 0", getattr(self, key))
        if self.hop_seconds is not None:
            require(self.hop_seconds > 0, "prepare.hop_seconds", "> 0 or null", self.hop_seconds)
        for key in ("image_height", "image_width", "coarse_grid", "synthetic_records"):
            require(getattr(self, key) >= 1, f"prepare.{key}", ">= 1", getattr(self, key))
        if not 0 < self.fmin < self.fmax <= self.fs / 2:
            raise ConfigError(
                f"prepare needs 0 < fmin < fmax <= fs/2, got fmin={self.fmin}, "
                f"fmax={self.fmax}, fs={self.fs}"
            )
        if self.image_height % self.coarse_grid or self.image_width % self.coarse_grid:
            raise ConfigError(
                f"prepare.coarse_grid ({self.coarse_grid}) must divide image_height "
                f"({self.image_height}) and image_width ({self.image_width})"
            )
        require(self.variants >= 1, "prepare.variants", ">= 1", self.variants)
        require(0 <= self.val_fraction < 1, "prepare.val_fraction", "in [0, 1)", self.val_fraction)
        require(bool(self.channels), "prepare.channels", "a non-empty list", self.channels)
        g = self.max_gap_seconds
        require(0 <= g < float("inf"), "prepare.max_gap_seconds", ">= 0 and finite", g)

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
        d = self.cond_downsample
        require(d >= 1 and not d & (d - 1), "model.cond_downsample", "a power of 2", d)
        require(
            bool(self.channel_mults) and min(self.channel_mults) >= 1,
            "model.channel_mults",
            "a non-empty list of integers >= 1",
            self.channel_mults,
        )
        for key in (
            "condition_dim",
            "cond_channels",
            "fusion_heads",
            "cond_input_channels",
            "base_channels",
            "num_res_blocks",
            "num_heads",
            "freq_head_channels",
        ):
            require(getattr(self, key) >= 1, f"model.{key}", ">= 1", getattr(self, key))
        require(0 <= self.dropout < 1, "model.dropout", "in [0, 1)", self.dropout)
        if self.fusion == "cross_attention":
            require(
                self.cond_channels % self.fusion_heads == 0,
                "model.fusion_heads",
                f"a divisor of model.cond_channels ({self.cond_channels})",
                self.fusion_heads,
            )
        if self.use_cross_attention or self.use_self_attention:
            widths = sorted({self.base_channels * m for m in self.channel_mults})
            require(
                all(w % self.num_heads == 0 for w in widths),
                "model.num_heads",
                f"a divisor of every U-Net width {widths}",
                self.num_heads,
            )


@dataclass
class DiffusionConfig:
    """Forward process, what the network predicts ("eps", "v" or "x0"), the clamp of x0
    estimates while sampling (in normalised units; null: none) and the probability with which
    training replaces the conditions by the null condition (0: no classifier-free guidance)."""

    num_train_timesteps: int = 1000
    beta_schedule: Literal["linear", "cosine"] = "linear"
    prediction_type: Literal["eps", "v", "x0"] = "x0"
    clip_x0: float | None = None
    cond_drop_prob: float = 0.0

    def __post_init__(self) -> None:
        n = self.num_train_timesteps
        require(n >= 2, "diffusion.num_train_timesteps", ">= 2", n)
        if self.clip_x0 is not None:
            require(self.clip_x0 > 0, "diffusion.clip_x0", "> 0 or null", self.clip_x0)
        p = self.cond_drop_prob
        require(0 <= p < 1, "diffusion.cond_drop_prob", "in [0, 1)", p)


@dataclass
class TrainingConfig:
    """AdamW with linear warm-up then cosine annealing to min_lr_ratio * learning_rate; the
    weights of the loss terms added to the prediction MSE (see `objective`; 0 disables one):
    freq_weight for the x0 MSE of the frequency embedding, consistency_weight for the
    consistency of the x0 estimates; consistency_projection: how a frequency embedding follows
    from an image ("logmeanexp": log of the time-averaged exp, the definition of prepared
    data; "mean": plain time mean)."""

    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    adam_betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 500
    min_lr_ratio: float = 0.01
    freq_weight: float = 1.0
    consistency_weight: float = 0.1
    consistency_projection: Literal["logmeanexp", "mean"] = "logmeanexp"

    def __post_init__(self) -> None:
        lr = self.learning_rate
        require(0 < lr < float("inf"), "training.learning_rate", "> 0 and finite", lr)
        require(self.weight_decay >= 0, "training.weight_decay", ">= 0", self.weight_decay)
        b = self.adam_betas
        require(all(0 <= x < 1 for x in b), "training.adam_betas", "two values in [0, 1)", b)
        require(self.warmup_steps >= 0, "training.warmup_steps", ">= 0", self.warmup_steps)
        r = self.min_lr_ratio
        require(0 <= r <= 1, "training.min_lr_ratio", "in [0, 1]", r)
        for key in ("freq_weight", "consistency_weight"):
            v = getattr(self, key)
            require(0 <= v < float("inf"), f"training.{key}", ">= 0 and finite", v)


@dataclass
class InferenceConfig:
    """Sampling: `sampler` (ddim, ddpm or dpmpp_2m), its number of steps, `eta` (DDIM only: 0
    deterministic, 1 DDPM-like), `guidance_scale` (1.0: the conditional model alone; other
    values need a model trained with diffusion.cond_drop_prob > 0), batch size, how many
    stems ecg-infer generates by default and where results go (null:
    runs/spectro_diffusion_ecg_infer/<time>/)."""

    sampler: Literal["ddim", "ddpm", "dpmpp_2m"] = "ddim"
    num_inference_steps: int = 50
    eta: float = 0.0
    guidance_scale: float = 1.0
    batch_size: int = 8
    num_samples: int = 4
    output_dir: str | None = None

    def __post_init__(self) -> None:
        n = self.num_inference_steps
        require(n >= 1, "inference.num_inference_steps", ">= 1", n)
        require(0 <= self.eta < float("inf"), "inference.eta", ">= 0 and finite", self.eta)
        g = self.guidance_scale
        require(abs(g) < float("inf"), "inference.guidance_scale", "finite", g)
        require(self.batch_size >= 1, "inference.batch_size", ">= 1", self.batch_size)
        require(self.num_samples >= 1, "inference.num_samples", ">= 1", self.num_samples)


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
