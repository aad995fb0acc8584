"""`spectro-eval`: how good a trained emotion diffusion model is, beside real references.

Reconstruction MSE (test spectrograms noised to step t and denoised), Griffin-Lim audio SNR
and spectral convergence; pyin voiced fraction of real test clips, of the same clips through
the inversion and of generated clips through it; emotion preservation per emotion and the
Fréchet distance (generated vs real, beside real vs real) judged by the speaker-independent
functional classifier of `spectro-train-classifier --cv`, fitted on the training speakers;
the same two figures on a CNN classifier's embeddings with --classifier. Writes report.json,
generated.png (one spectrogram per emotion), pitch.png (pyin tracks) and the WAVs of the
first clip of each kind to the output folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from sigshared.cli import add_common_arguments, bounded_int, cli_entry, require_file
from sigshared.errors import UserError
from sigshared.files import output_dir
from sigshared.training import select_device
from spectro_diffusion.emotion.checkpoint import (
    TrainedGenerator,
    load_trained,
    load_trained_classifier,
    shipped_generator,
)
from spectro_diffusion.emotion.cli.common import (
    add_sampling_arguments,
    default_out,
    describe_data,
    print_data,
    sampling_settings,
)
from spectro_diffusion.emotion.data import prepare_data
from spectro_diffusion.emotion.evaluation import check_compatible, evaluate_generator
from spectro_diffusion.emotion.features import write_wav
from spectro_diffusion.emotion.judge import fit_judge
from spectro_diffusion.emotion.plots import pitch_figure, spectrogram_sheet
from spectro_diffusion.emotion.voicing import pitch_track


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spectro-eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser, default_config=None)
    add_sampling_arguments(parser)
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="a spectro-train checkpoint (default: the shipped EmoDB model; give --data)",
    )
    parser.add_argument(
        "--classifier",
        default=None,
        help="a spectro-train-classifier CNN checkpoint (same data): adds its preservation "
        "and Fréchet rows",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="corpus folder (default: the one the diffusion model was trained on)",
    )
    parser.add_argument(
        "--num-per-class",
        type=bounded_int(2, 10_000),
        default=8,
        help="generated samples per emotion (default 8)",
    )
    parser.add_argument(
        "--t-recon",
        type=bounded_int(0, None),
        default=None,
        help="noise step of the reconstruction test (default: a fifth of the training steps, "
        "200 of 1000)",
    )
    parser.add_argument(
        "--audio-clips",
        type=bounded_int(1, 10_000),
        default=32,
        help="real clips (test speakers, and as many of the validation speakers) taken through "
        "Griffin-Lim for the SNR, voicing and judge rows (default 32)",
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    out = default_out("spectro_diffusion-eval") if args.out is None else args.out
    device = select_device(args.device)
    path = shipped_generator() if args.checkpoint is None else args.checkpoint
    gen = load_trained(require_file(path, "checkpoint"), device)
    clf = None
    if args.classifier is not None:
        clf = load_trained_classifier(require_file(args.classifier, "classifier"), device)
        check_compatible(gen, clf)
    cfg = gen.config
    if args.data is not None:
        cfg.data.root = args.data
    print(f"spectro-eval: test speakers of {describe_data(cfg)}")
    s = cfg.sample
    settings = sampling_settings(args, s)
    T = cfg.diffusion.num_train_timesteps
    t_recon = T // 5 if args.t_recon is None else args.t_recon
    if t_recon >= T:
        raise UserError(f"--t-recon must be below the model's {T} training steps, got {t_recon}")
    seed = 0 if args.seed is None else args.seed
    with output_dir(out, overwrite=args.overwrite) as out:
        data = prepare_data(cfg.data, not args.quiet, gen.classes, gen.db_max)
        print_data(data)
        judge = fit_judge(
            data.utterances["train"],
            gen.classes,
            cfg.data.mel.trim_top_db,
            Path(cfg.data.cache_dir) / "functionals",
            cfg.classifier.svm_c_grid,
        )
        report, fake, audio = evaluate_generator(
            gen,
            clf,
            judge,
            data,
            num_per_class=args.num_per_class,
            t_recon=t_recon,
            audio_clips=args.audio_clips,
            seed=seed,
            **settings,
        )
        write_figures(gen, fake, audio, args.num_per_class, out)
        report = {
            "checkpoint": str(path),
            "classifier": args.classifier,
            "classes": gen.classes,
            **report,
        }
        (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"{'metric':<44} {'this model':>12} {'reference':>10}")
    for name, ours, ref in table_rows(report, len(gen.classes)):
        print(f"{name:<44} {ours:>12} {ref:>10}")
    print(f"report: {out / 'report.json'}")


def write_figures(
    gen: TrainedGenerator,
    fake: torch.Tensor,
    audio: dict[str, list[np.ndarray]],
    num_per_class: int,
    out: Path,
) -> None:
    """generated.png (first sample of each emotion), pitch.png (pyin tracks of four real test
    clips through the inversion and of those samples) and their WAVs."""
    mel = gen.config.data.mel
    first = list(range(0, len(fake), num_per_class))
    titles = [f"asked {c}" for c in gen.classes]
    spectrogram_sheet(
        fake[first, 0].numpy(), titles, mel, out / "generated.png", gen.db_max, gen.top_db
    )
    real = audio["real_inverted"][:4]
    clips = real + [audio["generated"][i] for i in first]
    names = [f"real_inverted_{i}" for i in range(len(real))] + [
        f"generated_{c}" for c in gen.classes
    ]
    tracks = []
    for name, clip in zip(names, clips):
        write_wav(out / f"{name}.wav", clip, mel.sample_rate)
        times, f0, _ = pitch_track(clip, mel.sample_rate)
        tracks.append((times, f0))
    pitch_figure(tracks, names, out / "pitch.png")


def table_rows(report: dict, n: int) -> list[tuple[str, str, str]]:
    """(metric, this model, reference) rows of the printed table."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    rows = [
        (
            f"reconstruction MSE (t={report['t_recon']})",
            f"{report['reconstruction_mse']:.4f}",
            "doc 0.0098",
        ),
        ("  noisy input MSE, same t", f"{report['noisy_input_mse']:.4f}", "-"),
        ("Griffin-Lim audio SNR (dB)", f"{report['audio_snr_db']:.2f}", "doc 19.2"),
        (
            "Griffin-Lim spectral convergence",
            f"{report['griffin_lim_spectral_convergence']:.3f}",
            "-",
        ),
        (
            "voiced fraction (pyin), generated",
            f"{report['voiced_fraction_generated']:.2f}",
            f"{report['voiced_fraction_real_inverted']:.2f}",
        ),
        (
            "  real test clips through the same inversion",
            "",
            f"{report['voiced_fraction_real_inverted']:.2f}",
        ),
        ("  real test clips", "", f"{report['voiced_fraction_real']:.2f}"),
    ]

    def frac(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    for c, v in report["voiced_fraction_per_class"].items():
        rows.append((f"  voiced, {c}", frac(v["generated"]), frac(v["real_inverted"])))
    judge = report.get("judge")
    if judge is not None:
        rows += [
            (
                "emotion preservation (functional SVM)",
                pct(judge["emotion_preservation"]),
                pct(judge["judge_accuracy_real_inverted"]),
            ),
            ("  reference: its accuracy on real test clips through the inversion", "", ""),
        ]
        real = judge["judge_recall_real_inverted_per_class"]
        for c, v in judge["emotion_preservation_per_class"].items():
            rows.append((f"  {c}", pct(v), pct(real[c])))
        rows += [
            (
                "Fréchet distance (functionals), vs real test",
                f"{judge['frechet_distance']:.2f}",
                f"{judge['frechet_distance_real_vs_real']:.2f}",
            ),
            ("  reference: real validation vs real test speakers", "", ""),
        ]
    cnn = report.get("cnn")
    if cnn is not None:
        real_fd = cnn["frechet_distance_real_vs_real"]
        rows += [
            (
                "emotion preservation (CNN classifier)",
                pct(cnn["emotion_preservation"]),
                pct(cnn["classifier_accuracy_real_test"]),
            ),
            (
                "Fréchet distance (CNN embeddings)",
                f"{cnn['frechet_distance']:.3f}",
                "-" if real_fd is None else f"{real_fd:.3f}",
            ),
        ]
    rows.append(("chance", f"{1 / n:.1%}", ""))
    return rows


if __name__ == "__main__":
    main()
