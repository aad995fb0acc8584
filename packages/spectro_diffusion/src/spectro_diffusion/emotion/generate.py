"""`spectro-generate`: sample log-mel spectrograms of one emotion from a `spectro-train`
checkpoint, write their PNGs, WAV files (Griffin-Lim) and a sheet of all of them.

Output folder (default runs/spectro_diffusion-generate/<stamp>/): <emotion>_<i>.png,
<emotion>_<i>.wav, <emotion>_<i>.npy (the scaled image), sheet.png, report.json.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from sigshared.cli import add_common_arguments, cli_entry, require_file
from sigshared.errors import UserError
from sigshared.training import create_run_dir, select_device
from spectro_diffusion.emotion.audio import spectrograms_to_wavs
from spectro_diffusion.emotion.diffusion import load_generator
from spectro_diffusion.emotion.plots import spectrogram_sheet


@cli_entry
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="spectro-generate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser, default_config=None)
    parser.add_argument("--checkpoint", required=True, help="a spectro-train checkpoint (.pt)")
    parser.add_argument(
        "--emotion",
        default=None,
        help="emotion to generate, one the model was trained on (e.g. anger); "
        "omit for an unconditional model",
    )
    parser.add_argument("--num-samples", type=int, default=4, help="how many (default 4)")
    parser.add_argument(
        "--sampler",
        choices=["ddim", "ddpm"],
        default=None,
        help="DDIM (fast, deterministic with eta 0) or ancestral DDPM (default: the config's)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="sampling steps (default: the config's for DDIM, all 1000 training steps for DDPM)",
    )
    parser.add_argument("--eta", type=float, default=None, help="DDIM eta (default: config's)")
    parser.add_argument(
        "--guidance",
        type=float,
        default=None,
        help="classifier-free guidance scale; 1 = none (default: the config's)",
    )
    parser.add_argument(
        "--griffin-lim-iters",
        type=int,
        default=None,
        help="Griffin-Lim iterations (default: the config's)",
    )
    args = parser.parse_args(argv)
    if args.num_samples < 1:
        raise UserError(f"--num-samples must be >= 1, got {args.num_samples}")
    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps must be >= 1, got {args.steps}")
    device = select_device(args.device)
    gen = load_generator(require_file(args.checkpoint, "checkpoint"), device)
    s = gen.config.sample
    if gen.model.num_classes:
        if args.emotion is None:
            raise UserError(
                f"this model is conditional; pass --emotion, one of {', '.join(gen.classes)}"
            )
        labels = torch.full((args.num_samples,), gen.class_index(args.emotion))
        name = args.emotion
    else:
        if args.emotion is not None:
            raise UserError("this model is unconditional; drop --emotion")
        labels, name = None, "unconditional"
    sampler = args.sampler or s.sampler
    steps = args.steps if args.steps is not None else (s.steps if sampler == "ddim" else None)
    guidance = s.guidance if args.guidance is None else args.guidance
    eta = s.eta if args.eta is None else args.eta
    seed = 0 if args.seed is None else args.seed
    out = create_run_dir("spectro_diffusion-generate", args.out, overwrite=args.overwrite)
    images = (
        gen.sample(
            labels, args.num_samples, sampler, steps, eta, guidance, seed, progress=not args.quiet
        )[:, 0]
        .cpu()
        .numpy()
    )
    mel = gen.config.data.mel
    names = [f"{name}_{i}" for i in range(args.num_samples)]
    for n, img in zip(names, images):
        np.save(out / f"{n}.npy", img)
        spectrogram_sheet(
            img[None], [f"{name} (generated)"], mel, out / f"{n}.png", gen.db_max, gen.top_db
        )
    spectrogram_sheet(
        images,
        [f"{name} #{i}" for i in range(len(images))],
        mel,
        out / "sheet.png",
        gen.db_max,
        gen.top_db,
    )
    iters = args.griffin_lim_iters or s.griffin_lim_iters
    records = spectrograms_to_wavs(images, names, out, mel, gen.db_max, gen.top_db, iters)
    report = {
        "checkpoint": args.checkpoint,
        "weights": gen.weights,
        "emotion": name,
        "sampler": sampler,
        "steps": steps if steps is not None else gen.schedule.num_timesteps,
        "guidance": guidance,
        "eta": eta if sampler == "ddim" else None,
        "seed": seed,
        "clips": records,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    written = sum(r["file"] is not None for r in records)
    sc = np.mean([r["spectral_convergence"] for r in records])
    print(
        f"{written}/{len(records)} WAVs written to {out} (Griffin-Lim spectral convergence "
        f"{sc:.3f}); sheet: {out / 'sheet.png'}"
    )


if __name__ == "__main__":
    main()
