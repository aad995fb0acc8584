"""Every config of teb_vae and its one loader.

`RunConfig` has the sections `features`, `model`, `data`, `optim`, `plot` and `trainer`
(the shared `TrainerConfig`). Each dataclass checks its own values in `__post_init__` and
raises `ConfigError` naming the full key (`model.horizon`, `optim.lr`, ...) and the valid
range; `RunConfig` checks that the sections agree (feature channels and steps vs the model).
`load_run_config` reads a shipped config name or a YAML path plus `section.key=value`
overrides.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigshared.errors import ConfigError
from sigshared.training import TrainerConfig, load_config

PACKAGE_CONFIGS = "teb_vae.configs"


def _need(ok: bool, key: str, value: Any, valid: str) -> None:
    """ConfigError "key = value is out of range; valid: ..." unless `ok` (NaN fails `ok`)."""
    if not ok:
        raise ConfigError(f"{key} = {value!r} is out of range; valid: {valid}")


def _positive_ints(key: str, values: Sequence[int]) -> None:
    _need(
        len(values) > 0 and all(v >= 1 for v in values),
        key,
        list(values),
        "a non-empty list of integers >= 1",
    )


def _dropout(key: str, p: float) -> None:
    _need(0.0 <= p < 1.0, key, p, "0 <= p < 1")


@dataclass
class FeatureConfig:
    """Filter-bank settings. Defaults give 76 channels for y_st and for y_ph / x_ph, 300 steps."""

    window: int = 4800
    decimation: int = 16
    st_j: int = 6
    st_q1: int = 3
    st_q2: int = 1
    ph_q: int = 2
    ph_n_filters: int = 9
    ph_max_gap: int = 6
    delay_sigmas: float = 3.0
    # 0: each envelope is subsampled to the lowest rate its band allows (as kymatio); k halves
    # every subsampling factor; log2(decimation) or more computes every stage at full rate.
    oversampling: int = 0

    def __post_init__(self) -> None:
        _need(self.decimation >= 1, "features.decimation", self.decimation, "an integer >= 1")
        _need(
            self.window >= 2 * self.decimation and self.window % self.decimation == 0,
            "features.window",
            self.window,
            f"a multiple of features.decimation ({self.decimation}), at least two steps",
        )
        for key in ("st_j", "st_q1", "st_q2", "ph_q"):
            _need(getattr(self, key) >= 1, f"features.{key}", getattr(self, key), "an integer >= 1")
        _need(self.ph_n_filters >= 1, "features.ph_n_filters", self.ph_n_filters, "an integer >= 1")
        _need(self.oversampling >= 0, "features.oversampling", self.oversampling, "an integer >= 0")
        _need(self.ph_max_gap >= 0, "features.ph_max_gap", self.ph_max_gap, "an integer >= 0")
        _need(
            math.isfinite(self.delay_sigmas) and self.delay_sigmas >= 0,
            "features.delay_sigmas",
            self.delay_sigmas,
            "a finite number >= 0",
        )


@dataclass
class SourceEncoderConfig:
    reduced_channels: int = 32
    linear_dims: list[int] = field(default_factory=lambda: [26, 32, 32])
    conv_kernel_size: list[int] = field(default_factory=lambda: [9, 7, 5, 3])
    fusion_dims: list[int] = field(default_factory=lambda: [60, 50])
    lstm_hidden_dim: int = 128
    lstm_num_layers: int = 3
    output_dims: list[int] = field(default_factory=lambda: [102, 82, 66, 53])
    final_dims: list[int] = field(default_factory=lambda: [43, 35, 27, 21])
    dropout: float = 0.1

    def __post_init__(self) -> None:
        p = "model.source"
        _positive_ints(f"{p}.reduced_channels", [self.reduced_channels])
        for key in ("linear_dims", "conv_kernel_size", "fusion_dims", "output_dims", "final_dims"):
            _positive_ints(f"{p}.{key}", getattr(self, key))
        _positive_ints(f"{p}.lstm_hidden_dim", [self.lstm_hidden_dim])
        _positive_ints(f"{p}.lstm_num_layers", [self.lstm_num_layers])
        _dropout(f"{p}.dropout", self.dropout)


@dataclass
class TargetEncoderConfig:
    reduction_dims: list[int] = field(default_factory=lambda: [64, 32])
    st_linear_dims: list[int] = field(default_factory=lambda: [32, 32, 32])
    ph_linear_dims: list[int] = field(default_factory=lambda: [32, 32])
    conv_kernel_size: list[int] = field(default_factory=lambda: [11, 9, 7, 5, 3])
    fusion_dims: list[int] = field(default_factory=lambda: [60, 55, 50])
    lstm_hidden_dim: int = 128
    lstm_num_layers: int = 3
    head_dim: int = 66
    head_hidden: int = 5
    dropout: float = 0.1

    def __post_init__(self) -> None:
        p = "model.target"
        for key in (
            "reduction_dims",
            "st_linear_dims",
            "ph_linear_dims",
            "conv_kernel_size",
            "fusion_dims",
        ):
            _positive_ints(f"{p}.{key}", getattr(self, key))
        for key in ("lstm_hidden_dim", "lstm_num_layers", "head_dim"):
            _positive_ints(f"{p}.{key}", [getattr(self, key)])
        _need(self.head_hidden >= 0, f"{p}.head_hidden", self.head_hidden, "an integer >= 0")
        _dropout(f"{p}.dropout", self.dropout)


@dataclass
class ConditionalEncoderConfig:
    fusion_dims: list[int] = field(default_factory=lambda: [55, 47, 41, 35])
    head_dims: list[int] = field(default_factory=lambda: [30, 26, 22, 19])
    dropout: float = 0.1

    def __post_init__(self) -> None:
        _positive_ints("model.conditional.fusion_dims", self.fusion_dims)
        _positive_ints("model.conditional.head_dims", self.head_dims)
        _dropout("model.conditional.dropout", self.dropout)


@dataclass
class DecoderConfig:
    latent_dim_out: int = 128
    latent_hidden: int = 6
    deep_dims: list[int] = field(default_factory=lambda: [140, 152, 164, 176])
    expand_hidden: int = 10
    conv_channels: list[int] = field(default_factory=lambda: [24, 48, 32, 24])
    post_dims: list[int] = field(default_factory=lambda: [32, 28, 24, 20])
    smoother_kernel: int = 11
    head_channels: list[int] = field(default_factory=lambda: [16, 8])
    upsample_channels: int = 8
    dropout: float = 0.1

    def __post_init__(self) -> None:
        p = "model.decoder"
        for key in ("deep_dims", "conv_channels", "post_dims", "head_channels"):
            _positive_ints(f"{p}.{key}", getattr(self, key))
        for key in ("latent_dim_out", "upsample_channels"):
            _positive_ints(f"{p}.{key}", [getattr(self, key)])
        for key in ("latent_hidden", "expand_hidden"):
            _need(getattr(self, key) >= 0, f"{p}.{key}", getattr(self, key), "an integer >= 0")
        _need(
            self.smoother_kernel >= 1 and self.smoother_kernel % 2 == 1,
            f"{p}.smoother_kernel",
            self.smoother_kernel,
            "an odd integer >= 1",
        )
        _dropout(f"{p}.dropout", self.dropout)


@dataclass
class ModelConfig:
    input_channels: int = 76
    sequence_length: int = 300
    decimation_factor: int = 16
    horizon: int = 480
    latent_dim_source: int = 16
    latent_dim_target: int = 16
    latent_dim_z: int = 16
    kld_beta: float = 1.0
    kld_warmup_steps: int = 0
    # Free bits (Kingma et al. 2016): each latent dimension's KL, averaged over the batch and
    # steps, is charged at least this many nats, so the posterior gains nothing by collapsing
    # onto the prior below it.
    free_bits: float = 0.0
    # Initial bias of the posterior log-variance: negative starts q(z|x,y) narrow, so z passes
    # the encoders' signal to the decoder instead of unit-variance noise it learns to ignore
    # (measured: with 0 the posterior mean stayed constant over time and the decoder ignored
    # z); with free bits, a narrow posterior costs nothing up to the floor.
    posterior_logvar_init: float = 0.0
    # Feed the decoder, beside z, the level forecast's inputs (trailing means of the order-0
    # FHR / UP channels and of the step channels): a deterministic path for a spread that
    # reacts to gaps and drops.
    decoder_context: bool = False
    warmup_period: int = 30
    validity_channels: int = 4
    level_windows: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 15, 30, 60, 120])
    source: SourceEncoderConfig = field(default_factory=SourceEncoderConfig)
    target: TargetEncoderConfig = field(default_factory=TargetEncoderConfig)
    conditional: ConditionalEncoderConfig = field(default_factory=ConditionalEncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)

    def __post_init__(self) -> None:
        for key in (
            "input_channels",
            "sequence_length",
            "decimation_factor",
            "latent_dim_source",
            "latent_dim_target",
            "latent_dim_z",
        ):
            _positive_ints(f"model.{key}", [getattr(self, key)])
        _need(
            self.horizon >= 16 and self.horizon % 16 == 0,
            "model.horizon",
            self.horizon,
            "a positive multiple of 16 samples",
        )
        _need(
            math.isfinite(self.kld_beta) and self.kld_beta >= 0,
            "model.kld_beta",
            self.kld_beta,
            "a finite number >= 0",
        )
        _need(
            math.isfinite(self.posterior_logvar_init) and abs(self.posterior_logvar_init) <= 10,
            "model.posterior_logvar_init",
            self.posterior_logvar_init,
            "a finite number in [-10, 10]",
        )
        _need(
            math.isfinite(self.free_bits) and self.free_bits >= 0,
            "model.free_bits",
            self.free_bits,
            "a finite number of nats >= 0",
        )
        _need(
            self.kld_warmup_steps >= 0,
            "model.kld_warmup_steps",
            self.kld_warmup_steps,
            "an integer >= 0",
        )
        _need(
            0 <= self.warmup_period < self.sequence_length,
            "model.warmup_period",
            self.warmup_period,
            f"0 <= steps < model.sequence_length ({self.sequence_length})",
        )
        _positive_ints("model.level_windows", self.level_windows)
        _need(
            self.validity_channels in (0, 4),
            "model.validity_channels",
            self.validity_channels,
            "4 (the step channels the data gives: three quality shares and the anchor) or 0",
        )


@dataclass
class DataConfig:
    """Synthetic records are used when no data path is given."""

    synthetic_train_records: int = 24
    synthetic_val_records: int = 4
    synthetic_minutes: float = 60.0
    stride: int = 1200
    max_missing: float = 0.2
    val_fraction: float = 0.15
    cache_dir: str | None = "runs/teb_vae/feature_cache"

    def __post_init__(self) -> None:
        for key in ("synthetic_train_records", "synthetic_val_records", "stride"):
            _positive_ints(f"data.{key}", [getattr(self, key)])
        _need(
            math.isfinite(self.synthetic_minutes) and self.synthetic_minutes > 0,
            "data.synthetic_minutes",
            self.synthetic_minutes,
            "a finite number of minutes > 0",
        )
        _need(0.0 <= self.max_missing <= 1.0, "data.max_missing", self.max_missing, "0 .. 1")
        _need(0.0 <= self.val_fraction < 1.0, "data.val_fraction", self.val_fraction, "0 <= f < 1")


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 1e-4
    train_decode_steps: int = 0

    def __post_init__(self) -> None:
        _need(math.isfinite(self.lr) and self.lr > 0, "optim.lr", self.lr, "a finite number > 0")
        _need(
            math.isfinite(self.weight_decay) and self.weight_decay >= 0,
            "optim.weight_decay",
            self.weight_decay,
            "a finite number >= 0",
        )
        _need(
            self.train_decode_steps >= 0,
            "optim.train_decode_steps",
            self.train_decode_steps,
            "an integer >= 0 (0 = every step)",
        )


@dataclass
class PlotConfig:
    every_epochs: int = 5
    sample_index: int = 0

    def __post_init__(self) -> None:
        _need(self.every_epochs >= 1, "plot.every_epochs", self.every_epochs, "an integer >= 1")
        _need(self.sample_index >= 0, "plot.sample_index", self.sample_index, "an integer >= 0")


@dataclass
class RunConfig:
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    plot: PlotConfig = field(default_factory=PlotConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        # Imported here: teb_vae.features imports this module for FeatureConfig.
        from teb_vae.features import feature_channels

        f, m = self.features, self.model
        steps = f.window // f.decimation
        _need(
            m.sequence_length == steps,
            "model.sequence_length",
            m.sequence_length,
            f"features.window / features.decimation = {steps}",
        )
        _need(
            m.decimation_factor == f.decimation,
            "model.decimation_factor",
            m.decimation_factor,
            f"features.decimation = {f.decimation}",
        )
        st, ph = feature_channels(f)
        _need(
            st == ph == m.input_channels,
            "model.input_channels",
            m.input_channels,
            f"the feature channel count ({st} scattering, {ph} phase-harmonic; make the "
            "features section give equal counts)",
        )
        minutes = f.window / 240.0
        _need(
            self.data.synthetic_minutes >= minutes,
            "data.synthetic_minutes",
            self.data.synthetic_minutes,
            f">= the window length ({minutes:g} minutes)",
        )


def load_run_config(
    source: str | Path | dict | None = "demo", overrides: Iterable[str] = ()
) -> RunConfig:
    """A shipped config name (`demo`, `default`), a YAML path or a dict, plus overrides."""
    return load_config(RunConfig, source, overrides, package=PACKAGE_CONFIGS)
