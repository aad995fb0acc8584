"""Every configuration of abr_diffusion: nested dataclasses read from the YAML files in
`configs/` by one loader, `load`. Each default is defined here once.

Impossible values are refused when the dataclass is built (`__post_init__`) with a
ConfigError naming the full key (e.g. `model.n_heads`) and the valid range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from abr_diffusion.peaks import HUMAN_WAVES
from abr_diffusion.synthetic import STATIC_NAMES
from sigshared.errors import ConfigError
from sigshared.training import TrainerConfig, config_to_dict, load_config

CONFIG_PACKAGE = "abr_diffusion.configs"
SAMPLERS = ("ddim", "ddpm", "dpmpp_2m")
BETA_SCHEDULES = ("linear", "cosine")
PREDICTION_TYPES = ("v", "x0", "eps")
LOSS_WEIGHTINGS = ("none", "min_snr")
SCALINGS = ("zscore", "log", "none")
DATA_FORMATS = ("auto", "table", "biosig")


def _require(ok: bool, key: str, value: object, valid: str) -> None:
    """Raise ConfigError "key must be <valid>, got <value>" unless `ok`."""
    if not ok:
        raise ConfigError(f"{key} must be {valid}, got {value!r}")


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _positive_ints(section: str, **values: int) -> None:
    for name, value in values.items():
        _require(isinstance(value, int) and value >= 1, f"{section}.{name}", value, ">= 1")


@dataclass
class ModelConfig:
    """ABRTransformerGenerator arguments (defaults: the design document's 6.56 M model). The
    signal length follows from data.sample_rate and data.duration_ms, the width of the
    condition vector from data.conditions."""

    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 8
    ff_mult: int = 4
    conv_kernel: int = 7
    film_hidden: int = 256
    t_embed_dim: int = 256
    dropout: float = 0.1

    def __post_init__(self) -> None:
        _positive_ints(
            "model",
            d_model=self.d_model,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            ff_mult=self.ff_mult,
            film_hidden=self.film_hidden,
        )
        _require(
            self.d_model % self.n_heads == 0,
            "model.n_heads",
            self.n_heads,
            f"a divisor of model.d_model ({self.d_model})",
        )
        _require(
            self.conv_kernel >= 1 and self.conv_kernel % 2 == 1,
            "model.conv_kernel",
            self.conv_kernel,
            "an odd number >= 1 (the output keeps its length)",
        )
        _require(
            self.t_embed_dim >= 2 and self.t_embed_dim % 2 == 0,
            "model.t_embed_dim",
            self.t_embed_dim,
            "an even number >= 2 (sine and cosine halves)",
        )
        _require(
            _finite(self.dropout) and 0 <= self.dropout < 1,
            "model.dropout",
            self.dropout,
            "in [0, 1)",
        )


@dataclass
class DiffusionConfig:
    """Schedule, objective and sampler settings (the vocabulary of `sigshared.diffusion`)."""

    num_train_timesteps: int = 1000
    beta_schedule: str = "cosine"
    # What the network predicts (v: velocity, x0: the clean signal, eps: the noise) and how
    # the prediction MSE is weighted over t (min_snr: Min-SNR-5, Hang et al. 2023).
    prediction_type: str = "v"
    loss_weighting: str = "none"
    # Probability that a training row's condition is replaced by the null condition
    # (classifier-free guidance).
    cond_drop_prob: float = 0.1
    # Weight of the multi-resolution STFT L1 term on the predicted x0, beside the v MSE.
    stft_weight: float = 0.15
    # STFT resolutions for 200-sample signals: 0.8, 1.6 and 3.2 ms windows at 20 kHz.
    stft_fft_sizes: list[int] = field(default_factory=lambda: [16, 32, 64])
    stft_hop_sizes: list[int] = field(default_factory=lambda: [4, 8, 16])
    num_inference_steps: int = 60
    sampler: str = "ddim"
    eta: float = 0.0
    # 1.0 = the conditional model alone (diffusers' convention):
    # out = uncond + guidance_scale * (cond - uncond).
    guidance_scale: float = 1.0

    def __post_init__(self) -> None:
        _require(
            isinstance(self.num_train_timesteps, int) and self.num_train_timesteps >= 2,
            "diffusion.num_train_timesteps",
            self.num_train_timesteps,
            ">= 2",
        )
        _require(
            self.beta_schedule in BETA_SCHEDULES,
            "diffusion.beta_schedule",
            self.beta_schedule,
            f"one of {', '.join(BETA_SCHEDULES)}",
        )
        _require(
            self.prediction_type in PREDICTION_TYPES,
            "diffusion.prediction_type",
            self.prediction_type,
            f"one of {', '.join(PREDICTION_TYPES)}",
        )
        _require(
            self.loss_weighting in LOSS_WEIGHTINGS,
            "diffusion.loss_weighting",
            self.loss_weighting,
            f"one of {', '.join(LOSS_WEIGHTINGS)}",
        )
        _require(
            _finite(self.cond_drop_prob) and 0 <= self.cond_drop_prob < 1,
            "diffusion.cond_drop_prob",
            self.cond_drop_prob,
            "in [0, 1)",
        )
        _require(
            _finite(self.stft_weight) and self.stft_weight >= 0,
            "diffusion.stft_weight",
            self.stft_weight,
            "a finite number >= 0",
        )
        sizes, hops = self.stft_fft_sizes, self.stft_hop_sizes
        _require(
            len(sizes) >= 1 and all(isinstance(n, int) and n >= 2 for n in sizes),
            "diffusion.stft_fft_sizes",
            sizes,
            "a non-empty list of integers >= 2",
        )
        _require(
            len(hops) == len(sizes) and all(isinstance(h, int) and 1 <= h for h in hops),
            "diffusion.stft_hop_sizes",
            hops,
            f"a list of {len(sizes)} integers >= 1 (one per FFT size)",
        )
        _require(
            isinstance(self.num_inference_steps, int)
            and 1 <= self.num_inference_steps <= self.num_train_timesteps,
            "diffusion.num_inference_steps",
            self.num_inference_steps,
            f"in 1 .. {self.num_train_timesteps} (diffusion.num_train_timesteps)",
        )
        _require(
            self.sampler in SAMPLERS,
            "diffusion.sampler",
            self.sampler,
            f"one of {', '.join(SAMPLERS)}",
        )
        _require(
            _finite(self.eta) and self.eta >= 0 and (self.eta == 0 or self.sampler == "ddim"),
            "diffusion.eta",
            self.eta,
            ">= 0, and 0 unless diffusion.sampler is ddim",
        )
        _require(
            _finite(self.guidance_scale) and self.guidance_scale >= 0,
            "diffusion.guidance_scale",
            self.guidance_scale,
            "a finite number >= 0 (1 = the conditional model alone)",
        )


@dataclass
class OptimConfig:
    """AdamW and cosine annealing with warm restarts (periods counted in optimizer steps)."""

    lr: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 1e-5
    restart_period: int = 10_000
    restart_mult: int = 2
    min_lr: float = 1e-6

    def __post_init__(self) -> None:
        _require(_finite(self.lr) and self.lr > 0, "optim.lr", self.lr, "a finite number > 0")
        _require(
            len(self.betas) == 2 and all(_finite(b) and 0 <= b < 1 for b in self.betas),
            "optim.betas",
            self.betas,
            "two numbers in [0, 1)",
        )
        _require(
            _finite(self.weight_decay) and self.weight_decay >= 0,
            "optim.weight_decay",
            self.weight_decay,
            "a finite number >= 0",
        )
        _positive_ints("optim", restart_period=self.restart_period, restart_mult=self.restart_mult)
        _require(
            _finite(self.min_lr) and 0 <= self.min_lr <= self.lr,
            "optim.min_lr",
            self.min_lr,
            f"in [0, optim.lr = {self.lr}]",
        )


@dataclass
class ConditionConfig:
    """One per-recording condition the model is given (a column of the data)."""

    column: str
    # zscore: (x - mean) / std of the training split; log: the same on log(x) (x > 0);
    # none: the raw value. Ignored for a categorical condition (one-hot over the training
    # split's categories).
    scaling: str = "zscore"
    categorical: bool = False
    unit: str = ""

    def __post_init__(self) -> None:
        _require(
            bool(self.column), "data.conditions[].column", self.column, "a non-empty column name"
        )
        _require(
            self.scaling in SCALINGS,
            f"data.conditions[{self.column}].scaling",
            self.scaling,
            f"one of {', '.join(SCALINGS)}",
        )


def _human_conditions() -> list[ConditionConfig]:
    units = ("years", "dB nHL", "clicks/s", "FMP ratio")
    return [ConditionConfig(name, unit=unit) for name, unit in zip(STATIC_NAMES, units)]


@dataclass
class DataConfig:
    """Where the recordings come from and the model's time grid. `path` empty: the built-in
    synthetic generator (20 kHz); otherwise a file or a glob pattern of files."""

    path: str = ""
    # auto: a BioSigRZ CSV export is recognised by its header; table: CSV / Parquet / NPZ.
    format: str = "auto"
    patient_column: str = "patient_id"
    signal_column: str = "s"
    # Sampling rate (Hz) of a table's signals when the table has no sample_rate column;
    # null: the model's rate (data.sample_rate). BioSigRZ exports carry their own.
    source_sample_rate: float | None = None
    # The model's grid: every waveform is resampled (polyphase) to this rate and cropped or
    # padded to duration_ms after the stimulus.
    sample_rate: float = 20_000.0
    duration_ms: float = 10.0
    conditions: list[ConditionConfig] = field(default_factory=_human_conditions)
    # patient: no subject in two splits; row: recordings shuffled one by one (for data sets
    # with fewer than three subjects).
    split_by: str = "patient"
    split: list[float] = field(default_factory=lambda: [0.7, 0.15, 0.15])
    split_seed: int = 42
    synthetic_patients: int = 400
    synthetic_recordings: int = 8
    synthetic_seed: int = 0

    def __post_init__(self) -> None:
        _require(
            self.format in DATA_FORMATS,
            "data.format",
            self.format,
            f"one of {', '.join(DATA_FORMATS)}",
        )
        _require(
            self.split_by in ("patient", "row"), "data.split_by", self.split_by, "patient or row"
        )
        for key in ("sample_rate", "duration_ms"):
            value = getattr(self, key)
            _require(_finite(value) and value > 0, f"data.{key}", value, "a finite number > 0")
        _require(
            self.source_sample_rate is None
            or (_finite(self.source_sample_rate) and self.source_sample_rate > 0),
            "data.source_sample_rate",
            self.source_sample_rate,
            "a finite number > 0 (Hz) or null",
        )
        _require(
            self.seq_len >= 16,
            "data.duration_ms",
            self.duration_ms,
            f"long enough for 16 samples at data.sample_rate = {self.sample_rate:g} Hz",
        )
        names = [c.column for c in self.conditions]
        _require(
            len(names) >= 1 and len(set(names)) == len(names),
            "data.conditions",
            names,
            "a non-empty list of distinct columns",
        )
        _require(
            len(self.split) == 3
            and all(_finite(f) and f >= 0 for f in self.split)
            and abs(sum(self.split) - 1) < 1e-6,
            "data.split",
            self.split,
            "three fractions >= 0 (train, val, test) that sum to 1",
        )
        _require(
            isinstance(self.synthetic_patients, int) and self.synthetic_patients >= 3,
            "data.synthetic_patients",
            self.synthetic_patients,
            ">= 3 (one per split at least)",
        )
        _positive_ints("data", synthetic_recordings=self.synthetic_recordings)

    @property
    def seq_len(self) -> int:
        """Samples of the model's grid: duration_ms at sample_rate."""
        return int(round(self.duration_ms * self.sample_rate / 1000))

    @property
    def condition_columns(self) -> list[str]:
        return [c.column for c in self.conditions]


@dataclass
class WaveConfig:
    """A wave's latency window (ms after the stimulus) for peak detection."""

    name: str
    start_ms: float
    end_ms: float

    def __post_init__(self) -> None:
        _require(
            _finite(self.start_ms) and _finite(self.end_ms) and 0 <= self.start_ms < self.end_ms,
            f"peaks.waves[{self.name}]",
            [self.start_ms, self.end_ms],
            "0 <= start_ms < end_ms",
        )


@dataclass
class PeaksConfig:
    """The species' waves and their latency windows. Defaults: human click ABR waves I, III
    and V (see peaks.py)."""

    species: str = "human"
    waves: list[WaveConfig] = field(default_factory=lambda: [WaveConfig(*w) for w in HUMAN_WAVES])

    def __post_init__(self) -> None:
        names = [w.name for w in self.waves]
        _require(
            len(names) >= 1 and len(set(names)) == len(names),
            "peaks.waves",
            names,
            "a non-empty list of distinctly named windows",
        )

    @property
    def windows(self) -> list[tuple[str, float, float]]:
        return [(w.name, w.start_ms, w.end_ms) for w in self.waves]


@dataclass
class EvalConfig:
    """End-of-run evaluation on the test split."""

    max_signals: int = 512
    batch_size: int = 256
    plots: bool = True
    # The level series after training: one generated response per level of this condition,
    # the others at the training split's median (numeric) or most frequent value
    # (categorical) near that level, or as fixed in series_conditions.
    level_condition: str = "intensity"
    levels: list[float] = field(default_factory=lambda: [90, 80, 70, 60, 50, 40, 30, 20])
    series_conditions: dict = field(default_factory=dict)
    # The wave whose latency the series reports (a name in peaks.waves).
    series_wave: str = "V"

    def __post_init__(self) -> None:
        _positive_ints("eval", max_signals=self.max_signals, batch_size=self.batch_size)
        _require(
            len(self.levels) >= 2 and all(_finite(v) for v in self.levels),
            "eval.levels",
            self.levels,
            "at least two finite levels",
        )


@dataclass
class ABRConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    peaks: PeaksConfig = field(default_factory=PeaksConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        columns = self.data.condition_columns
        _require(
            self.eval.level_condition in columns,
            "eval.level_condition",
            self.eval.level_condition,
            f"one of the data.conditions columns ({', '.join(columns)})",
        )
        unknown = [k for k in self.eval.series_conditions if k not in columns]
        _require(
            not unknown,
            "eval.series_conditions",
            self.eval.series_conditions,
            f"keys among the data.conditions columns ({', '.join(columns)})",
        )
        waves = [w.name for w in self.peaks.waves]
        _require(
            self.eval.series_wave in waves,
            "eval.series_wave",
            self.eval.series_wave,
            f"one of the peaks.waves names ({', '.join(waves)})",
        )


# What the model was trained on cannot change at inference: the grid and the conditions.
FIXED_AT_INFERENCE = ("data.sample_rate", "data.duration_ms", "data.conditions")


def with_data_overrides(cfg: ABRConfig, overrides: list[str] | tuple[str, ...]) -> ABRConfig:
    """A trained model's config with `data.*` overrides (how to read the input: path, format,
    column names, source rate). Other sections and the model's grid and conditions are
    refused."""
    for text in overrides:
        key = text.split("=", 1)[0].strip()
        if not key.startswith("data.") or key in FIXED_AT_INFERENCE:
            raise ConfigError(
                f"{key} cannot be changed for a trained model; only data.* settings except "
                f"{', '.join(FIXED_AT_INFERENCE)} (how the input is read)"
            )
    return load(config_to_dict(cfg), overrides)


def load(source: str | dict | None, overrides: list[str] | tuple[str, ...] = ()) -> ABRConfig:
    """A shipped config name ("demo", "default"), a YAML path or a dict, plus overrides."""
    return load_config(ABRConfig, source, overrides, package=CONFIG_PACKAGE)
