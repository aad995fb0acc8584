"""`spectro-train-classifier`: emotion classifiers and their speaker-independent evaluation.

Without --cv: the CNN classifier on the log-mel images that `spectro-eval` scores generated
spectrograms with. Same data, log-mels and speaker splits as `spectro-train` with the same
config (--test-speakers fixes the test speakers); trained with cross-entropy through the
sigshared Trainer (best.pt by validation accuracy); prints the test speakers' accuracy,
unweighted accuracy and confusion matrix (plots/confusion.png).

With --cv loso | K: speaker-independent cross-validation over the whole corpus, the protocol of
the literature: utterance functionals (MFCC, log-mel, pitch, energy, spectral shape), per-speaker
z-normalisation, a linear SVM whose C is chosen by a nested leave-one-speaker-out. Prints
accuracy and unweighted accuracy per fold and overall, and the pooled confusion matrix;
writes report.json and plots/confusion.png.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from sigshared.cli import add_common_arguments, cli_entry
from sigshared.errors import UserError
from sigshared.files import output_dir
from sigshared.training import run_folder, seed_everything, select_device
from spectro_diffusion.emotion.checkpoint import PACKAGE
from spectro_diffusion.emotion.cli.common import (
    add_data_arguments,
    apply_data_arguments,
    default_out,
    describe_data,
    print_data,
)
from spectro_diffusion.emotion.config import load_emotion_config
from spectro_diffusion.emotion.crossval import corpus_cross_validation
from spectro_diffusion.emotion.data import prepare_data
from spectro_diffusion.emotion.plots import confusion_figure
from spectro_diffusion.emotion.training import train_classifier


def cv_scheme(text: str) -> int | None:
    """argparse type of --cv: "loso" -> None, an integer >= 2 -> that many speaker folds."""
    if text == "loso":
        return None
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected loso or a number of folds, got {text!r}"
        ) from None
    if k < 2:
        raise argparse.ArgumentTypeError(f"expected at least 2 speaker folds, got {k}")
    return k


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spectro-train-classifier",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser, default_config="demo")
    add_data_arguments(parser)
    parser.add_argument(
        "--cv",
        type=cv_scheme,
        default=False,
        metavar="loso|K",
        help="cross-validate instead: leave-one-speaker-out, or K folds of speakers",
    )
    parser.add_argument(
        "--balance-gender",
        action="store_true",
        help="with --cv K: deal women and men separately so every fold holds both",
    )
    parser.add_argument(
        "--test-speakers",
        default=None,
        metavar="ID,ID",
        help="without --cv: fixed test speakers, ids as in the file names (e.g. 03,08)",
    )
    return parser


def print_matrix(classes: list[str], matrix: list[list[int]]) -> None:
    width = max(len(c) for c in classes)
    print("confusion matrix (rows true, columns predicted):")
    print(" " * (width + 1) + " ".join(f"{c[:4]:>4}" for c in classes))
    for c, row in zip(classes, matrix):
        print(f"{c:>{width}} " + " ".join(f"{v:>4d}" for v in row))


def run_cv(args: argparse.Namespace, cfg) -> None:
    k = args.cv
    scheme = "leave-one-speaker-out" if k is None else f"{k} speaker folds"
    print(f"spectro-train-classifier: {scheme} cross-validation on {describe_data(cfg)}")
    out = default_out("spectro_diffusion-cv") if args.out is None else args.out
    with output_dir(out, overwrite=args.overwrite) as out:
        report = corpus_cross_validation(cfg, k, args.balance_gender, cfg.trainer.progress)
        n = len(report["classes"])
        confusion_figure(
            np.array(report["confusion_matrix"]),
            report["classes"],
            out / "plots" / "confusion.png",
            f"{scheme}: UA {report['unweighted_accuracy']:.1%}, "
            f"accuracy {report['accuracy']:.1%} (chance {1 / n:.1%})",
        )
        (out / "report.json").write_text(json.dumps(report, indent=2))
    print(
        f"{report['clips']} clips, {report['speakers']} speakers, {report['features']} "
        f"functionals, speaker normalisation {'on' if report['speaker_normalisation'] else 'off'}"
    )
    print(f"{'test speakers':<24} {'clips':>5} {'accuracy':>9} {'UA':>7} {'SVM C':>7}")
    for f in report["folds"]:
        who = ",".join(
            f"{s.partition('-')[2]}{g}" for s, g in zip(f["test_speakers"], f["genders"])
        )
        print(
            f"{who:<24} {f['clips']:>5} {f['accuracy']:>9.1%} "
            f"{f['unweighted_accuracy']:>7.1%} {f['svm_c']:>7g}"
        )
    print(
        f"{'overall (pooled)':<24} {report['clips']:>5} {report['accuracy']:>9.1%} "
        f"{report['unweighted_accuracy']:>7.1%}   (mean of fold UAs "
        f"{report['mean_fold_unweighted_accuracy']:.1%}; chance {report['chance']:.1%})"
    )
    print_matrix(report["classes"], report["confusion_matrix"])
    print(f"report: {out / 'report.json'}")


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.balance_gender and (args.cv is False or args.cv is None):
        raise UserError("--balance-gender applies to --cv K (speaker folds) only")
    if args.test_speakers is not None and args.cv is not False:
        raise UserError("--test-speakers fixes the single split; drop it with --cv")
    cfg = load_emotion_config(args.config, args.overrides)
    apply_data_arguments(cfg, args)
    if args.test_speakers is not None:
        cfg.data.test_speakers = tuple(s.strip() for s in args.test_speakers.split(",") if s)
    if args.cv is not False:
        run_cv(args, cfg)
        return
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
    n = len(report["classes"])
    print(
        f"test accuracy {report['test_accuracy']:.3f}, unweighted accuracy "
        f"{report['test_unweighted_accuracy']:.3f} on {report['test_clips']} clips "
        f"(chance {1 / n:.3f})"
    )
    print_matrix(report["classes"], report["confusion_matrix"])
    print(f"checkpoint: {report['checkpoint']}")


if __name__ == "__main__":
    main()
