"""`spectro-train`: train the emotion-conditional mel-spectrogram diffusion U-Net.

Data from --data (EmoDB or RAVDESS folder) or the built-in synthetic EmoDB-style corpus;
speaker-independent splits; eps-prediction on a linear schedule (sigshared GaussianDiffusion)
through the sigshared Trainer (AdamW, warm-up + cosine LR, grad clipping, EMA, checkpoints
last.pt / best.pt, exact resume). At the end it samples one sheet of spectrograms per emotion
and writes them as WAVs.
"""

from __future__ import annotations

import argparse
import json

from sigshared.cli import add_common_arguments, cli_entry, require_file
from sigshared.training import run_folder, seed_everything, select_device
from spectro_diffusion.emotion.checkpoint import PACKAGE
from spectro_diffusion.emotion.cli.common import (
    add_data_arguments,
    apply_data_arguments,
    describe_data,
    print_data,
)
from spectro_diffusion.emotion.config import EmotionConfig, load_emotion_config
from spectro_diffusion.emotion.data import prepare_data
from spectro_diffusion.emotion.training import resume_state, train_generator

# Seconds per optimizer step of the demo config on the project's 2-core CPU when idle: 28 training
# images/s measured by benchmarks/bench_emotion.py (0.57 s per step of 16), plus validation
# every 4 epochs. Other configs are not measured. On the CPU shared with six other jobs the same
# steps took 3-4 s each (see the README).
MEASURED_SECONDS_PER_STEP = {"demo": 0.60}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spectro-train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser, default_config="demo")
    add_data_arguments(parser)
    parser.add_argument(
        "--resume",
        default=None,
        metavar="CKPT",
        help="continue a run from its checkpoints/last.pt, in that run's folder unless --out",
    )
    return parser


def budget_line(cfg: EmotionConfig, config_name: str) -> str:
    """'training N steps (about M minutes on a 2-core CPU)' or the epoch bound."""
    t = cfg.trainer
    if not t.max_steps:
        return f"training up to {t.max_epochs} epochs"
    text = f"training {t.max_steps} steps"
    per_step = MEASURED_SECONDS_PER_STEP.get(config_name)
    if per_step is None:
        return f"{text} (time not measured for this config on a CPU)"
    minutes = max(1, round(t.max_steps * per_step / 60))
    return f"{text} (about {minutes} minutes on an idle 2-core CPU)"


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.resume:
        cfg, extra = resume_state(require_file(args.resume, "checkpoint to resume"), args.overrides)
        config_name = "resumed"
    else:
        cfg, extra = load_emotion_config(args.config, args.overrides), None
        config_name = args.config
    apply_data_arguments(cfg, args)
    print(f"spectro-train: {budget_line(cfg, config_name)} on {describe_data(cfg)}")
    seed_everything(cfg.trainer.seed)
    device = select_device(args.device)
    with run_folder(PACKAGE, args.out, resume=args.resume, overwrite=args.overwrite) as run_dir:
        print(f"run folder: {run_dir}")
        if extra is not None:
            data = prepare_data(cfg.data, cfg.trainer.progress, extra["classes"], extra["db_max"])
        else:
            data = prepare_data(cfg.data, cfg.trainer.progress)
        print_data(data)
        report = train_generator(cfg, data, run_dir, device, resume_from=args.resume)
    print(json.dumps({k: v for k, v in report.items() if k != "data"}, indent=2))
    print(
        f"next: spectro-generate --checkpoint {run_dir / 'checkpoints' / 'best.pt'} "
        "--emotion anger --num-samples 4"
    )


if __name__ == "__main__":
    main()
