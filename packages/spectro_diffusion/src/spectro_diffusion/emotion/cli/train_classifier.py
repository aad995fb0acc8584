"""`spectro-train-classifier`: the CNN emotion classifier that scores generated spectrograms.

Same data, log-mels and speaker splits as `spectro-train` with the same config; trained with
cross-entropy through the sigshared Trainer (best.pt by validation accuracy); prints the test
speakers' accuracy and confusion matrix (plots/confusion.png).
"""

from __future__ import annotations

import argparse

from sigshared.cli import add_common_arguments, cli_entry
from sigshared.training import run_folder, seed_everything, select_device
from spectro_diffusion.emotion.checkpoint import PACKAGE
from spectro_diffusion.emotion.cli.common import (
    add_data_arguments,
    apply_data_arguments,
    describe_data,
    print_data,
)
from spectro_diffusion.emotion.config import load_emotion_config
from spectro_diffusion.emotion.data import prepare_data
from spectro_diffusion.emotion.training import train_classifier


@cli_entry
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="spectro-train-classifier",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser, default_config="demo")
    add_data_arguments(parser)
    args = parser.parse_args(argv)
    cfg = load_emotion_config(args.config, args.overrides)
    apply_data_arguments(cfg, args)
    print(
        f"spectro-train-classifier: training {cfg.classifier.max_steps} steps on "
        f"{describe_data(cfg)}"
    )
    seed_everything(cfg.trainer.seed)
    device = select_device(args.device)
    with run_folder(f"{PACKAGE}-classifier", args.out, overwrite=args.overwrite) as run_dir:
        print(f"run folder: {run_dir}")
        data = prepare_data(cfg.data, cfg.trainer.progress)
        print_data(data)
        report = train_classifier(cfg, data, run_dir, device)
    classes, n = report["classes"], len(report["classes"])
    width = max(len(c) for c in classes)
    print(
        f"test accuracy {report['test_accuracy']:.3f} on {report['test_clips']} clips "
        f"(chance {1 / n:.3f})"
    )
    print("confusion matrix (rows true, columns predicted):")
    print(" " * (width + 1) + " ".join(f"{c[:4]:>4}" for c in classes))
    for c, row in zip(classes, report["confusion_matrix"]):
        print(f"{c:>{width}} " + " ".join(f"{v:>4d}" for v in row))
    print(f"checkpoint: {report['checkpoint']}")


if __name__ == "__main__":
    main()
