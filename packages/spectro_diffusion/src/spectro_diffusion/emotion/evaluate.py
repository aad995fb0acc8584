"""`spectro-eval`: how good is a trained emotion diffusion model, beside the document's figures.

- reconstruction MSE: test spectrograms noised to step t (default 200 of 1000) and denoised by DDIM
  with their own emotion, MSE against the clean image in the [-1, 1] scale;
- SNR of Griffin-Lim audio of the test spectrograms against the original (preprocessed)
  waveform, with the spectral convergence of that reconstruction;
- emotion preservation: the classifier's accuracy on generated samples against the emotion
  they were asked for, beside its accuracy on the real test split;
- Fréchet distance between classifier embeddings of real test and generated spectrograms.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import torch
from scipy import linalg

from sigshared.cli import add_common_arguments, cli_entry, require_file
from sigshared.diffusion import q_sample
from sigshared.errors import UserError
from sigshared.metrics import snr_db
from sigshared.training import create_run_dir, select_device
from spectro_diffusion.emotion.classifier import load_classifier, predict
from spectro_diffusion.emotion.data import prepare_data
from spectro_diffusion.emotion.diffusion import load_generator
from spectro_diffusion.emotion.features import griffin_lim, load_clip, unscale_db
from spectro_diffusion.emotion.plots import spectrogram_sheet

# The design document's figures (measured on data this project cannot obtain).
DOCUMENT = {"reconstruction_mse": 0.0098, "audio_snr_db": 19.2, "emotion_preservation": 0.854}


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to (N, D) and (M, D) embeddings:
    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) (Heusel et al. 2017)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = np.real(linalg.sqrtm(s_a @ s_b))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spectro-eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser, default_config=None)
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
        "--num-per-class", type=int, default=8, help="generated samples per emotion (default 8)"
    )
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps (default: config's)")
    parser.add_argument(
        "--guidance", type=float, default=None, help="guidance scale (default: config's)"
    )
    parser.add_argument("--eta", type=float, default=None, help="DDIM eta (default: config's)")
    parser.add_argument(
        "--t-recon",
        type=int,
        default=None,
        help="noise step of the reconstruction test (default: a fifth of the training steps, "
        "200 of 1000)",
    )
    parser.add_argument(
        "--audio-clips",
        type=int,
        default=16,
        help="test clips for the Griffin-Lim SNR (default 16)",
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.num_per_class < 2:
        raise UserError(f"--num-per-class must be >= 2, got {args.num_per_class}")
    device = select_device(args.device)
    gen = load_generator(require_file(args.checkpoint, "checkpoint"), device)
    if args.t_recon is None:
        args.t_recon = gen.schedule.num_timesteps // 5
    if not 0 <= args.t_recon < gen.schedule.num_timesteps:
        raise UserError(f"--t-recon must be in 0..{gen.schedule.num_timesteps - 1}")
    clf, clf_extra = load_classifier(require_file(args.classifier, "classifier"), device)
    if list(clf_extra["classes"]) != gen.classes:
        raise UserError(
            f"the classifier knows {clf_extra['classes']}, the diffusion model {gen.classes}; "
            "train the classifier on the same data"
        )
    clf_mel = clf_extra["config"]["data"]["mel"]
    if clf_mel != dataclasses.asdict(gen.config.data.mel):
        raise UserError("the classifier was trained on other log-mel settings than the model")
    seed = 0 if args.seed is None else args.seed
    cfg = gen.config
    if args.data is not None:
        cfg.data.root = args.data
    out = create_run_dir("spectro_diffusion-eval", args.out, overwrite=args.overwrite)
    data = prepare_data(cfg.data, not args.quiet, gen.classes, gen.db_max)
    test = data.splits["test"]
    if len(test) == 0:
        raise UserError("the test split is empty; nothing to evaluate")
    steps = args.steps or cfg.sample.steps
    guidance = cfg.sample.guidance if args.guidance is None else args.guidance
    eta = cfg.sample.eta if args.eta is None else args.eta

    # Reconstruction: noise to t, then DDIM back from t with the clip's own emotion.
    g = torch.Generator().manual_seed(seed)
    x0 = test.images
    t = torch.full((len(x0),), args.t_recon, dtype=torch.long)
    x_t = q_sample(gen.schedule, x0, t, torch.randn(x0.shape, generator=g))
    labels = test.labels if gen.model.num_classes else None
    recon = gen.sample(
        labels, len(x0), "ddim", steps, eta, guidance, seed, x_T=x_t, t_start=args.t_recon
    ).cpu()
    recon_mse = float(((recon - x0) ** 2).mean())
    noisy_mse = float(((x_t.clamp(-1, 1) - x0) ** 2).mean())

    # Griffin-Lim audio of real test spectrograms against the original waveform.
    mel = cfg.data.mel
    snrs, scs = [], []
    for u, img in list(zip(data.utterances["test"], x0[:, 0].numpy()))[: args.audio_clips]:
        audio, sc = griffin_lim(
            unscale_db(img, gen.db_max, gen.top_db), mel, cfg.sample.griffin_lim_iters
        )
        ref = load_clip(u.path, mel)[: len(audio)]
        snrs.append(float(snr_db(torch.from_numpy(ref), torch.from_numpy(audio))))
        scs.append(sc)

    # Emotion preservation and Fréchet distance.
    real_pred, real_emb = predict(clf, test.images)
    real_acc = float((real_pred == test.labels).float().mean())
    n = len(gen.classes)
    asked = torch.arange(n).repeat_interleave(args.num_per_class)
    fake = gen.sample(
        asked if gen.model.num_classes else None, len(asked), "ddim", steps, eta, guidance, seed + 1
    ).cpu()
    fake_pred, fake_emb = predict(clf, fake)
    preservation = float((fake_pred == asked).float().mean()) if gen.model.num_classes else None
    fd = frechet_distance(real_emb.numpy(), fake_emb.numpy())
    per_class = {
        c: float((fake_pred[asked == k] == k).float().mean()) for k, c in enumerate(gen.classes)
    }
    show = torch.arange(n) * args.num_per_class
    spectrogram_sheet(
        fake[show, 0].numpy(),
        [f"asked {c}" for c in gen.classes],
        mel,
        out / "generated.png",
        gen.db_max,
        gen.top_db,
    )
    report = {
        "checkpoint": args.checkpoint,
        "classifier": args.classifier,
        "test_clips": len(test),
        "t_recon": args.t_recon,
        "ddim_steps": steps,
        "eta": eta,
        "guidance": guidance,
        "reconstruction_mse": recon_mse,
        "noisy_input_mse": noisy_mse,
        "audio_snr_db": float(np.mean(snrs)),
        "griffin_lim_spectral_convergence": float(np.mean(scs)),
        "classifier_accuracy_real_test": real_acc,
        "emotion_preservation": preservation,
        "emotion_preservation_per_class": per_class,
        "chance": 1 / n,
        "frechet_distance": fd,
        "document": DOCUMENT,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    rows = [
        (f"reconstruction MSE (t={args.t_recon})", f"{recon_mse:.4f}", "0.0098"),
        ("  noisy input MSE, same t", f"{noisy_mse:.4f}", "-"),
        ("Griffin-Lim audio SNR (dB)", f"{np.mean(snrs):.2f}", "19.2"),
        ("Griffin-Lim spectral convergence", f"{np.mean(scs):.3f}", "-"),
        ("emotion preservation", "-" if preservation is None else f"{preservation:.1%}", "85.4%"),
        ("classifier accuracy, real test", f"{real_acc:.1%}", "-"),
        ("chance", f"{1 / n:.1%}", "-"),
        ("Fréchet distance (classifier emb.)", f"{fd:.3f}", "-"),
    ]
    print(f"{'metric':<36} {'this model':>12} {'document':>10}")
    for name, ours, doc in rows:
        print(f"{name:<36} {ours:>12} {doc:>10}")
    print(f"report: {out / 'report.json'}")


if __name__ == "__main__":
    main()
