"""Config, checkpoints, EMA, runtime helpers and the one training loop."""

from sigshared.training.checkpoint import load_checkpoint, load_model_weights, save_checkpoint
from sigshared.training.config import (
    ConfigError,
    available_configs,
    config_to_dict,
    load_config,
    save_config,
)
from sigshared.training.distributed import DistributedContext, init_distributed
from sigshared.training.ema import EMA, unwrap
from sigshared.training.lr_schedules import warmup_cosine
from sigshared.training.runtime import (
    get_rng_state,
    isolated_rng,
    run_folder,
    seed_everything,
    select_device,
    set_rng_state,
)
from sigshared.training.trainer import (
    Callback,
    FitResult,
    Trainer,
    TrainerConfig,
    apply_common_arguments,
)

__all__ = [
    "EMA",
    "Callback",
    "ConfigError",
    "DistributedContext",
    "FitResult",
    "Trainer",
    "TrainerConfig",
    "apply_common_arguments",
    "available_configs",
    "config_to_dict",
    "get_rng_state",
    "init_distributed",
    "isolated_rng",
    "load_checkpoint",
    "load_config",
    "load_model_weights",
    "run_folder",
    "save_checkpoint",
    "save_config",
    "seed_everything",
    "select_device",
    "set_rng_state",
    "unwrap",
    "warmup_cosine",
]
