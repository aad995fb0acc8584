"""`spectro-generate`: sample log-mel spectrograms of one emotion from a `spectro-train`
checkpoint (by default the EmoDB model shipped in the package), write their PNGs, WAV files
(Griffin-Lim) and a sheet of all of them.

Output folder (default runs/spectro_diffusion-generate/<stamp>/): <emotion>_<i>.png,
<emotion>_<i>.wav, <emotion>_<i>.npy (the scaled image), sheet.png, report.json.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from sigshared.cli import add_common_arguments, bounded_int, cli_entry, require_file
from sigshared.errors import UserError
from sigshared.files import output_dir
from sigshared.training import select_device
from spectro_diffusion.emotion.checkpoint import load_trained, shipped_generator
from spectro_diffusion.emotion.cli.common import (
    add_sampling_arguments,
    default_out,
    describe_data,
    sampling_settings,
)
from spectro_diffusion.emotion.generation import sample_spectrograms, write_generated


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spectro-generate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser, default_config=None)
    add_sampling_arguments(parser)
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="a spectro-train checkpoint (.pt) (default: the EmoDB model shipped in the package)",
    )
    parser.add_argument(
        "--emotion",
        default=None,
        help="emotion to generate, one the model was trained on (e.g. anger); "
        "omit for an unconditional model",
    )
    parser.add_argument(
        "--num-samples", type=bounded_int(1, 10_000), default=4, help="how many (default 4)"
    )
    parser.add_argument(
        "--griffin-lim-iters",
        type=bounded_int(1, 10_000),
        default=None,
        help="Griffin-Lim iterations (default: the config's)",
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    out = default_out("spectro_diffusion-generate") if args.out is None else args.out
    path = shipped_generator() if args.checkpoint is None else args.checkpoint
    gen = load_trained(require_file(path, "checkpoint"), select_device(args.device))
    which = "the shipped model" if args.checkpoint is None else "a model"
    print(
        f"spectro-generate: {which} trained on "
        f"{gen.data_description or describe_data(gen.config)}; classes {', '.join(gen.classes)}"
    )
    s = gen.config.sample
    if gen.net.num_classes:
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
    settings = sampling_settings(args, s)
    seed = 0 if args.seed is None else args.seed
    iters = args.griffin_lim_iters or s.griffin_lim_iters
    with output_dir(out, overwrite=args.overwrite) as out:
        images = (
            sample_spectrograms(
                gen, labels, args.num_samples, **settings, seed=seed, progress=not args.quiet
            )[:, 0]
            .cpu()
            .numpy()
        )
        names = [f"{name}_{i}" for i in range(args.num_samples)]
        titles = [f"{name} #{i} (generated)" for i in range(args.num_samples)]
        records = write_generated(gen, images, names, titles, out, iters)
        report = {
            "checkpoint": str(path),
            "weights": gen.weights,
            "emotion": name,
            **settings,
            "seed": seed,
            "griffin_lim_iters": iters,
            "clips": records,
        }
        (out / "report.json").write_text(json.dumps(report, indent=2))
    for n, r in zip(names, records):
        if r["problem"]:
            print(f"not written: {n}.wav: {r['problem']}")
    written = sum(r["file"] is not None for r in records)
    sc = np.mean([r["spectral_convergence"] for r in records])
    print(
        f"{written}/{len(records)} WAVs written to {out} (Griffin-Lim spectral convergence "
        f"{sc:.3f}); sheet: {out / 'sheet.png'}"
    )


if __name__ == "__main__":
    main()
