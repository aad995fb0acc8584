"""What the emotion console scripts share: the data flags, the data line, the run folders."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sigshared.cli import bounded_int, finite_float
from sigshared.training import apply_common_arguments
from spectro_diffusion.emotion.config import SAMPLERS, EmotionConfig, SampleConfig
from spectro_diffusion.emotion.data import PreparedData, data_summary


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--data and --corpus."""
    parser.add_argument(
        "--data",
        default=None,
        help="folder of EmoDB WAVs or RAVDESS Actor_XX folders (default: the config's, "
        "empty = the built-in synthetic corpus)",
    )
    parser.add_argument(
        "--corpus",
        default=None,
        choices=["emodb", "ravdess", "auto"],
        help="file-name convention of --data (default: the config's; auto = detect)",
    )


def apply_data_arguments(cfg: EmotionConfig, args: argparse.Namespace) -> None:
    """Apply --data, --corpus, --seed and --quiet to `cfg`."""
    if args.data is not None:
        cfg.data.root = args.data
    if args.corpus is not None:
        cfg.data.corpus = args.corpus
    apply_common_arguments(cfg.trainer, args)


def describe_data(cfg: EmotionConfig) -> str:
    """Which data a command reads, said before it reads any."""
    d = cfg.data
    if d.root:
        corpus = "" if d.corpus == "auto" else f"{d.corpus} "
        return f"the {corpus}corpus in {d.root}"
    return (
        f"the built-in synthetic EmoDB-style corpus ({d.synthetic_speakers} speakers x 7 "
        f"emotions x {d.synthetic_per_class} clips, seed {d.synthetic_seed})"
    )


def print_data(data: PreparedData) -> None:
    """One line per corpus and splits, and the file names skipped (at most five listed)."""
    for reason in data.skipped[:5]:
        print(f"skipped: {reason}")
    if len(data.skipped) > 5:
        print(f"skipped {len(data.skipped) - 5} more files with names off the convention")
    summary = data_summary(data)
    print(
        f"data: {data.corpus} at {data.root}; classes {', '.join(data.classes)}; "
        + ", ".join(
            f"{k} {v['clips']} clips / {len(v['speakers'])} speakers"
            for k, v in summary["splits"].items()
        )
    )


def default_out(name: str) -> Path:
    """runs/<name>/<YYYYmmdd-HHMMSS> (suffixed when taken): where a command writes by default."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = Path("runs") / name / stamp, 1
    while path.exists():
        path, n = Path("runs") / name / f"{stamp}-{n}", n + 1
    return path


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """--sampler, --num-inference-steps, --guidance-scale, --eta; None keeps the config's."""
    parser.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default=None,
        help="ddim, ddpm (ancestral) or dpmpp_2m (DPM-Solver++ 2M; fewer steps) "
        "(default: the config's)",
    )
    parser.add_argument(
        "--num-inference-steps",
        type=bounded_int(1, 100_000),
        default=None,
        help="sampling steps (default: the config's)",
    )
    parser.add_argument(
        "--eta",
        type=finite_float(0.0, 1.0),
        default=None,
        help="DDIM eta, 0 deterministic .. 1 (default: the config's)",
    )
    parser.add_argument(
        "--guidance-scale",
        type=finite_float(0.0, 100.0),
        default=None,
        help="classifier-free guidance: uncond + s * (cond - uncond); 1 = the conditional "
        "model alone (default: the config's)",
    )


def sampling_settings(args: argparse.Namespace, sample: SampleConfig) -> dict:
    """The sampling flags of `add_sampling_arguments`, the config's values where not given."""
    return {
        "sampler": args.sampler or sample.sampler,
        "num_inference_steps": args.num_inference_steps or sample.num_inference_steps,
        "guidance_scale": sample.guidance_scale
        if args.guidance_scale is None
        else args.guidance_scale,
        "eta": sample.eta if args.eta is None else args.eta,
    }
