"""The configuration of a run: nested dataclasses read from the YAML files in `configs/`."""

from __future__ import annotations

from dataclasses import dataclass, field

from abr_diffusion.synthetic import STATIC_NAMES
from sigshared.training import TrainerConfig, load_config

CONFIG_PACKAGE = "abr_diffusion.configs"


@dataclass
class ModelConfig:
    """ABRTransformerGenerator arguments (defaults: the design document's 6.56 M model)."""

    seq_len: int = 200
    static_dim: int = 4
    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 8
    ff_mult: int = 4
    conv_kernel: int = 7
    film_hidden: int = 256
    t_embed_dim: int = 256
    dropout: float = 0.1


@dataclass
class DiffusionConfig:
    """Schedule, objective and sampler settings."""

    timesteps: int = 1000
    schedule: str = "cosine"
    p_uncond: float = 0.1
    stft_weight: float = 0.15
    # STFT resolutions for 200-sample signals: 0.8, 1.6 and 3.2 ms windows at 20 kHz.
    stft_fft_sizes: list[int] = field(default_factory=lambda: [16, 32, 64])
    stft_hop_sizes: list[int] = field(default_factory=lambda: [4, 8, 16])
    sample_steps: int = 60
    eta: float = 0.0
    guidance: float = 1.0


@dataclass
class OptimConfig:
    """AdamW and cosine annealing with warm restarts (periods counted in optimizer steps)."""

    lr: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 1e-5
    restart_period: int = 10_000
    restart_mult: int = 2
    min_lr: float = 1e-6


@dataclass
class DataConfig:
    """Where the recordings come from. `path` empty: the built-in synthetic generator."""

    path: str = ""
    patient_column: str = "patient_id"
    static_columns: list[str] = field(default_factory=lambda: list(STATIC_NAMES))
    signal_column: str = "s"
    split: list[float] = field(default_factory=lambda: [0.7, 0.15, 0.15])
    split_seed: int = 42
    synthetic_patients: int = 400
    synthetic_recordings: int = 8
    synthetic_seed: int = 0


@dataclass
class EvalConfig:
    """End-of-run evaluation on the test split."""

    max_signals: int = 512
    batch_size: int = 256
    plots: bool = True


@dataclass
class ABRConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def load(source: str | dict | None, overrides: list[str] | tuple[str, ...] = ()) -> ABRConfig:
    """A shipped config name ("demo", "default"), a YAML path or a dict, plus overrides."""
    return load_config(ABRConfig, source, overrides, package=CONFIG_PACKAGE)
