"""`ecg-infer`: generate images and frequency embeddings from a trained checkpoint.

Conditions come from `--input-dir` laid out like a dataset's `inits/` folder (`amp_init/*.npy`
and `emb_init/*.npy`, optionally inside a `train/` or `val/` subfolder, paired by stem), or by
default from the `--split` of the dataset the checkpoint was trained on. `--compare` adds the
ground truth of the same stems (from `--dataset-path`, default the training dataset): figures,
metrics.json, and the mean metrics of the model beside the emb_init baseline.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from sigshared.cli import bounded_int, cli_entry, finite_float, require_file
from sigshared.errors import UserError
from sigshared.files import output_dir
from sigshared.training import seed_everything, select_device
from spectro_diffusion.ecg.checkpoint import load_trained
from spectro_diffusion.ecg.config import SAMPLERS
from spectro_diffusion.ecg.data import CONDITIONS, OUTPUTS
from spectro_diffusion.ecg.evaluation import check_sampling
from spectro_diffusion.ecg.inference import (
    SOURCES,
    check_truth,
    condition_folders,
    dataset_folders,
    paired_stems,
    run_inference,
)

PACKAGE = "spectro_diffusion_ecg_infer"
# Flag -> inference config key; a flag left out keeps the checkpoint's config value.
OVERRIDES = {
    "num_samples": "num_samples",
    "num_inference_steps": "num_inference_steps",
    "sampler": "sampler",
    "eta": "eta",
    "guidance_scale": "guidance_scale",
    "batch_size": "batch_size",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ecg-infer",
        description="Generate {stem}_images.npy and {stem}_freq_embeddings.npy from amp_init / "
        "emb_init conditions, optionally with figures and metrics against ground truth.",
    )
    p.add_argument("--checkpoint", required=True, help="ecg-train checkpoint (best.pt / last.pt)")
    p.add_argument(
        "--num-samples", type=bounded_int(1), help="how many stems to generate (config: 4)"
    )
    p.add_argument("--sampler", choices=SAMPLERS, help="ddim, ddpm or dpmpp_2m (config: ddim)")
    p.add_argument("--num-inference-steps", type=bounded_int(1), help="sampling steps (config: 50)")
    p.add_argument(
        "--eta", type=finite_float(0), help="DDIM eta: 0 deterministic .. 1 DDPM (config: 0)"
    )
    p.add_argument(
        "--guidance-scale",
        type=finite_float(),
        help="classifier-free guidance; 1 = the conditional model alone (config: 1); other "
        "values need a model trained with diffusion.cond_drop_prob > 0",
    )
    p.add_argument("--batch-size", type=bounded_int(1), help="samples per batch (config: 8)")
    p.add_argument("--visualize", action="store_true", help="write a PNG per sample")
    p.add_argument(
        "--compare",
        action="store_true",
        help="figures, metrics.json and mean metrics vs ground truth, beside the emb_init baseline",
    )
    p.add_argument("--input-dir", help="folder with amp_init/ and emb_init/ (like inits/)")
    p.add_argument(
        "--dataset-path",
        help="dataset for conditions / ground truth (default: the checkpoint's training dataset)",
    )
    p.add_argument("--split", default="val", help="dataset split to read (default: val)")
    p.add_argument(
        "--output-dir", help="output folder (default: runs/spectro_diffusion_ecg_infer/<time>/)"
    )
    p.add_argument("--raw-weights", action="store_true", help="use raw weights, not the EMA")
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda", "mps"],
        help="where to run (default: auto)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the initial noise (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--overwrite", action="store_true", help="allow a non-empty --output-dir")
    return p


def format_means(mean: dict[str, dict[str, float]]) -> str:
    """A small table: one row per metric, one column per source (model, baseline)."""
    sources = [s for s in SOURCES if s in mean]
    keys = list(mean["generated"])
    lines = [f"{'metric':<16}" + "".join(f"{s:>20}" for s in sources)]
    for k in keys:
        row = [f"{mean[s][k]:>20.4g}" if k in mean[s] else f"{'-':>20}" for s in sources]
        lines.append(f"{k:<16}" + "".join(row))
    return "\n".join(lines)


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    device = select_device(args.device)
    seed_everything(args.seed)
    trained = load_trained(
        require_file(args.checkpoint, "checkpoint"), device, prefer_ema=not args.raw_weights
    )
    cfg = trained.cfg
    chosen = {key: getattr(args, flag) for flag, key in OVERRIDES.items()}
    inference = dataclasses.replace(
        cfg.inference, **{k: v for k, v in chosen.items() if v is not None}
    )
    check_sampling(inference, cfg.diffusion)
    dataset = Path(args.dataset_path or cfg.dataset.path or "")
    if args.input_dir:
        if not Path(args.input_dir).is_dir():
            raise UserError(f"--input-dir not found: {args.input_dir}")
        folders = condition_folders(Path(args.input_dir), args.split)
    else:
        folders = {n: dataset_folders(dataset, args.split)[n] for n in CONDITIONS}
    stems = paired_stems(folders)[: inference.num_samples]
    truth_dirs = None
    if args.compare:
        truth_dirs = {n: dataset_folders(dataset, args.split)[n] for n in OUTPUTS}
        check_truth(truth_dirs, stems)
    out_path = args.output_dir or inference.output_dir
    if out_path is None:
        out_path = Path("runs") / PACKAGE / time.strftime("%Y%m%d-%H%M%S")
    log = (lambda _: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    with output_dir(out_path, overwrite=args.overwrite) as out:
        mean = run_inference(
            trained, folders, stems, out, inference, truth_dirs, args.visualize, args.seed, log
        )
    if mean is not None:
        print(
            f"mean over {len(stems)} samples ({inference.sampler}, "
            f"{inference.num_inference_steps} steps):"
        )
        print(format_means(mean))
    print(f"wrote {len(stems)} samples to {out}")


if __name__ == "__main__":
    main()
