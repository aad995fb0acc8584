"""`spectro-eval`: how good a trained emotion diffusion model is, beside the document's figures.

Reconstruction MSE (test spectrograms noised to step t and denoised), Griffin-Lim audio SNR
and spectral convergence, emotion preservation (a `spectro-train-classifier` model's accuracy
on generated samples), and the Fréchet distance of classifier embeddings, real test vs
generated. Writes report.json and generated.png to the output folder.
"""

from __future__ import annotations

import argparse
import json

from sigshared.cli import add_common_arguments, bounded_int, cli_entry, require_file
from sigshared.errors import UserError
from sigshared.files import output_dir
from sigshared.training import select_device
from spectro_diffusion.emotion.checkpoint import load_trained, load_trained_classifier
from spectro_diffusion.emotion.cli.common import (
    add_sampling_arguments,
    default_out,
    describe_data,
    print_data,
    sampling_settings,
)
from spectro_diffusion.emotion.data import prepare_data
from spectro_diffusion.emotion.evaluation import check_compatible, evaluate_generator
from spectro_diffusion.emotion.plots import spectrogram_sheet


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spectro-eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser, default_config=None)
    add_sampling_arguments(parser)
    parser.add_argument("--checkpoint", required=True, help="a spectro-train checkpoint")
    parser.add_argument(
        "--classifier", required=True, help="a spectro-train-classifier checkpoint (same data)"
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
        default=16,
        help="test clips for the Griffin-Lim SNR (default 16)",
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    out = default_out("spectro_diffusion-eval") if args.out is None else args.out
    device = select_device(args.device)
    gen = load_trained(require_file(args.checkpoint, "checkpoint"), device)
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
        report, fake = evaluate_generator(
            gen,
            clf,
            data,
            num_per_class=args.num_per_class,
            t_recon=t_recon,
            audio_clips=args.audio_clips,
            seed=seed,
            **settings,
        )
        n = len(gen.classes)
        spectrogram_sheet(
            fake[:: args.num_per_class, 0].numpy(),
            [f"asked {c}" for c in gen.classes],
            cfg.data.mel,
            out / "generated.png",
            gen.db_max,
            gen.top_db,
        )
        report = {"checkpoint": args.checkpoint, "classifier": args.classifier, **report}
        (out / "report.json").write_text(json.dumps(report, indent=2))
    pres = report["emotion_preservation"]

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    rows = [
        (f"reconstruction MSE (t={t_recon})", f"{report['reconstruction_mse']:.4f}", "0.0098"),
        ("  noisy input MSE, same t", f"{report['noisy_input_mse']:.4f}", "-"),
        ("Griffin-Lim audio SNR (dB)", f"{report['audio_snr_db']:.2f}", "19.2"),
        (
            "Griffin-Lim spectral convergence",
            f"{report['griffin_lim_spectral_convergence']:.3f}",
            "-",
        ),
        ("emotion preservation", "-" if pres is None else f"{pres:.1%}", "85.4%"),
        ("classifier accuracy, real test", f"{report['classifier_accuracy_real_test']:.1%}", "-"),
        ("chance", f"{1 / n:.1%}", "-"),
        ("Fréchet distance (classifier emb.)", f"{report['frechet_distance']:.3f}", "-"),
        ("  real val vs real test speakers", fmt(report["frechet_distance_real_val_vs_test"]), "-"),
        ("voiced fraction, generated (GL)", f"{report['voiced_fraction_generated']:.2f}", "-"),
        ("  real test clips", f"{report['voiced_fraction_real']:.2f}", "-"),
        ("  real test clips through GL", f"{report['voiced_fraction_real_inverted']:.2f}", "-"),
    ]
    print(f"{'metric':<36} {'this model':>12} {'document':>10}")
    for name, ours, doc in rows:
        print(f"{name:<36} {ours:>12} {doc:>10}")
    print(f"report: {out / 'report.json'}")


if __name__ == "__main__":
    main()
