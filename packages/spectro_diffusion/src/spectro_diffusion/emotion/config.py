"""Every config of the emotion application and its one loader, `load_emotion_config`.

Nested dataclasses read from `configs/*.yaml` (demo, default, tiny) or a YAML path, with
`section.key=value` overrides. Each default is defined here once; each impossible value is
refused in `__post_init__` with a ConfigError naming the full key and the valid range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sigshared.errors import ConfigError
from sigshared.training import TrainerConfig, load_config
from spectro_diffusion.emotion.features import MelSettings

CONFIG_PACKAGE = "spectro_diffusion.emotion.configs"
SAMPLERS = ("ddim", "ddpm", "dpmpp_2m")


def _require(ok: bool, key: str, valid: str, value: object) -> None:
    if not ok:
        raise ConfigError(f"{key} must be {valid}, got {value!r}")


@dataclass
class DataConfig:
    """Where the clips come from and how they become images.

    `root` empty means the built-in synthetic corpus, written to `cache_dir/synthetic-<key>`.
    """

    root: str = ""
    corpus: str = "auto"  # auto | emodb | ravdess
    include_song: bool = False
    cache_dir: str = "runs/spectro_diffusion/cache"
    split_seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    synthetic_per_class: int = 6
    synthetic_speakers: int = 10  # at most 10 (EmoDB's speaker ids)
    synthetic_seed: int = 0
    mel: MelSettings = field(default_factory=MelSettings)

    def __post_init__(self) -> None:
        _require(
            self.corpus in ("auto", "emodb", "ravdess"),
            "data.corpus",
            "auto, emodb or ravdess",
            self.corpus,
        )
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            _require(0 <= value < 1, f"data.{name}", "in [0, 1)", value)
        _require(
            self.val_fraction + self.test_fraction < 1,
            "data.val_fraction + data.test_fraction",
            "below 1",
            self.val_fraction + self.test_fraction,
        )
        _require(
            1 <= self.synthetic_per_class <= 200,
            "data.synthetic_per_class",
            "in 1..200",
            self.synthetic_per_class,
        )
        _require(
            3 <= self.synthetic_speakers <= 10,
            "data.synthetic_speakers",
            "in 3..10",
            self.synthetic_speakers,
        )
        m = self.mel
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels"):
            _require(getattr(m, name) >= 1, f"data.mel.{name}", ">= 1", getattr(m, name))
        _require(m.n_frames >= 2, "data.mel.n_frames", ">= 2", m.n_frames)
        _require(m.top_db > 0, "data.mel.top_db", "> 0", m.top_db)
        _require(
            0 <= m.fmin < m.fmax <= m.sample_rate / 2,
            "data.mel.fmin / data.mel.fmax",
            f"0 <= fmin < fmax <= {m.sample_rate / 2:g} (half the sample rate)",
            (m.fmin, m.fmax),
        )


@dataclass
class ModelConfig:
    """The conditional U-Net. `conditional: false` trains an unconditional model."""

    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 2, 4)
    num_res_blocks: int = 2
    attention_levels: tuple[int, ...] = (2, 3)
    heads: int = 4
    dropout: float = 0.1
    conditional: bool = True

    def __post_init__(self) -> None:
        _require(self.base_channels >= 1, "model.base_channels", ">= 1", self.base_channels)
        _require(
            len(self.channel_mults) >= 1 and min(self.channel_mults) >= 1,
            "model.channel_mults",
            "a non-empty list of integers >= 1",
            self.channel_mults,
        )
        _require(self.num_res_blocks >= 1, "model.num_res_blocks", ">= 1", self.num_res_blocks)
        levels = len(self.channel_mults)
        _require(
            all(0 <= a < levels for a in self.attention_levels),
            "model.attention_levels",
            f"levels in 0..{levels - 1}",
            self.attention_levels,
        )
        _require(self.heads >= 1, "model.heads", ">= 1", self.heads)
        # Attention runs at every listed level and in the middle block (the deepest width).
        widths = {self.base_channels * self.channel_mults[a] for a in self.attention_levels}
        widths.add(self.base_channels * self.channel_mults[-1])
        bad = sorted(w for w in widths if w % self.heads)
        _require(
            not bad,
            "model.heads",
            f"a divisor of every attention width {sorted(widths)}",
            self.heads,
        )
        _require(0 <= self.dropout < 1, "model.dropout", "in [0, 1)", self.dropout)


@dataclass
class DiffusionConfig:
    """The schedule and objective of `sigshared.diffusion.GaussianDiffusion`.

    Linear betas 1e-4..0.02 (Ho et al. 2020), eps-prediction, MSE; the emotion is dropped
    (replaced by the null class) with probability `cond_drop_prob` so that one network learns
    both branches of classifier-free guidance.
    """

    num_train_timesteps: int = 1000
    beta_schedule: str = "linear"  # linear | cosine
    prediction_type: str = "eps"  # eps | v | x0
    cond_drop_prob: float = 0.1

    def __post_init__(self) -> None:
        _require(
            self.num_train_timesteps >= 2,
            "diffusion.num_train_timesteps",
            ">= 2",
            self.num_train_timesteps,
        )
        _require(
            self.beta_schedule in ("linear", "cosine"),
            "diffusion.beta_schedule",
            "linear or cosine",
            self.beta_schedule,
        )
        _require(
            self.prediction_type in ("eps", "v", "x0"),
            "diffusion.prediction_type",
            "eps, v or x0",
            self.prediction_type,
        )
        _require(
            0 <= self.cond_drop_prob < 1,
            "diffusion.cond_drop_prob",
            "in [0, 1)",
            self.cond_drop_prob,
        )


@dataclass
class OptimConfig:
    lr: float = 2e-4
    weight_decay: float = 1e-2
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1  # cosine decay to lr * min_lr_ratio over the step budget

    def __post_init__(self) -> None:
        _require(self.lr > 0, "optim.lr", "> 0", self.lr)
        _require(self.weight_decay >= 0, "optim.weight_decay", ">= 0", self.weight_decay)
        _require(self.warmup_steps >= 0, "optim.warmup_steps", ">= 0", self.warmup_steps)
        _require(0 <= self.min_lr_ratio <= 1, "optim.min_lr_ratio", "in [0, 1]", self.min_lr_ratio)


@dataclass
class SampleConfig:
    """What the end-of-training sheet, `spectro-generate` and `spectro-eval` default to.

    eta 1 (stochastic DDIM) rather than 0: the fresh noise of each step washes out part of an
    imperfect model's eps error, where deterministic DDIM leaves it as speckle in the image.
    guidance_scale as in diffusers: uncond + guidance_scale * (cond - uncond), 1 = the
    conditional model alone.
    """

    sampler: str = "ddim"  # ddim | ddpm | dpmpp_2m
    num_inference_steps: int = 50
    eta: float = 1.0
    guidance_scale: float = 2.0
    griffin_lim_iters: int = 60

    def __post_init__(self) -> None:
        _require(self.sampler in SAMPLERS, "sample.sampler", "ddim, ddpm or dpmpp_2m", self.sampler)
        _require(
            self.num_inference_steps >= 1,
            "sample.num_inference_steps",
            ">= 1",
            self.num_inference_steps,
        )
        _require(0 <= self.eta <= 1, "sample.eta", "in [0, 1]", self.eta)
        _require(self.guidance_scale >= 0, "sample.guidance_scale", ">= 0", self.guidance_scale)
        _require(
            self.griffin_lim_iters >= 1, "sample.griffin_lim_iters", ">= 1", self.griffin_lim_iters
        )


@dataclass
class ClassifierConfig:
    """The CNN emotion classifier and its own training budget (`spectro-train-classifier`)."""

    channels: tuple[int, ...] = (16, 32, 64)
    embed_dim: int = 64
    dropout: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 32
    max_steps: int = 600

    def __post_init__(self) -> None:
        _require(
            len(self.channels) >= 1 and min(self.channels) >= 1,
            "classifier.channels",
            "a non-empty list of integers >= 1",
            self.channels,
        )
        _require(self.embed_dim >= 2, "classifier.embed_dim", ">= 2", self.embed_dim)
        _require(0 <= self.dropout < 1, "classifier.dropout", "in [0, 1)", self.dropout)
        _require(self.lr > 0, "classifier.lr", "> 0", self.lr)
        _require(self.weight_decay >= 0, "classifier.weight_decay", ">= 0", self.weight_decay)
        _require(self.batch_size >= 1, "classifier.batch_size", ">= 1", self.batch_size)
        _require(self.max_steps >= 1, "classifier.max_steps", ">= 1", self.max_steps)


@dataclass
class EmotionConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def load_emotion_config(source: str | Path | dict | None, overrides=()) -> EmotionConfig:
    """A shipped config name (demo, default, tiny), a YAML path or a dict (a checkpoint's),
    with `section.key=value` overrides."""
    return load_config(EmotionConfig, source, overrides, package=CONFIG_PACKAGE)
