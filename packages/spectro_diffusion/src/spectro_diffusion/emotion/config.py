"""The emotion variant's config: nested dataclasses read from `configs/*.yaml` by `load_config`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigshared.training import ConfigError, TrainerConfig, apply_common_arguments, load_config
from spectro_diffusion.emotion.features import MelSettings

CONFIG_PACKAGE = "spectro_diffusion.emotion.configs"


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


@dataclass
class DiffusionConfig:
    """Linear beta schedule, eps-prediction, L1 or L2 loss, condition dropout for CFG."""

    timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    loss: str = "l2"  # l1 | l2
    cond_drop_prob: float = 0.1


@dataclass
class OptimConfig:
    lr: float = 2e-4
    weight_decay: float = 1e-2
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1  # cosine decay to lr * min_lr_ratio over the step budget


@dataclass
class SampleConfig:
    """What the end-of-training sheet, `spectro-generate` and `spectro-eval` default to.

    eta 1 (stochastic DDIM) rather than 0: the fresh noise of each step washes out part of an
    imperfect model's eps error, where deterministic DDIM leaves it as speckle in the image.
    """

    sampler: str = "ddim"  # ddim | ddpm
    steps: int = 50
    eta: float = 1.0
    guidance: float = 2.0
    griffin_lim_iters: int = 60


@dataclass
class ClassifierConfig:
    """The CNN emotion classifier and its own training budget (`spectro-train-classifier`)."""

    channels: tuple[int, ...] = (16, 32, 64)
    embed_dim: int = 64
    dropout: float = 0.2
    lr: float = 1e-3
    batch_size: int = 32
    max_steps: int = 600
    max_minutes: float = 5.0


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
    """A shipped config name (demo, default, tiny) or a YAML path, with `--set` overrides."""
    cfg = load_config(EmotionConfig, source, overrides, package=CONFIG_PACKAGE)
    if cfg.diffusion.loss not in ("l1", "l2"):
        raise ConfigError(f"diffusion.loss must be l1 or l2, got {cfg.diffusion.loss!r}")
    if cfg.sample.sampler not in ("ddim", "ddpm"):
        raise ConfigError(f"sample.sampler must be ddim or ddpm, got {cfg.sample.sampler!r}")
    if cfg.data.corpus not in ("auto", "emodb", "ravdess"):
        raise ConfigError(f"data.corpus must be auto, emodb or ravdess, got {cfg.data.corpus!r}")
    return cfg


def apply_cli_arguments(cfg: EmotionConfig, args: Any) -> None:
    """Apply `--data`, `--corpus`, `--seed` and `--quiet` (the flags the emotion CLIs share)."""
    if args.data is not None:
        cfg.data.root = args.data
    if args.corpus is not None:
        cfg.data.corpus = args.corpus
    apply_common_arguments(cfg.trainer, args)
