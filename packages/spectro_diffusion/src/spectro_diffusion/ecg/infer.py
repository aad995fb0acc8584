"""`ecg-infer`: generate images and frequency embeddings from a trained checkpoint.

Conditions come from `--input-dir` laid out like a dataset's `inits/` folder
(`amp_init/*.npy` and `emb_init/*.npy`, optionally inside a `train/` or `val/` subfolder, paired
by stem), or by default from the `--split` of the dataset the checkpoint was trained on. For
each of the first `--num-samples` stems it writes `{stem}_freq_embeddings.npy` and
`{stem}_images.npy` (physical units, the shapes of the training files); with `--visualize` a
PNG per sample; with `--compare` a side-by-side figure with the ground truth of the same stem
(from `--dataset-path`, default the training dataset) and metrics.json with MSE, PSNR, SSIM of
the images, MSE and Pearson r of the embeddings and the consistency error of the generated
pair (see `spectro_diffusion.ecg.metrics`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from sigshared.cli import cli_entry, require_file
from sigshared.errors import UserError
from sigshared.training import (
    create_run_dir,
    load_checkpoint,
    load_model_weights,
    seed_everything,
    select_device,
)
from spectro_diffusion.ecg.config import EcgConfig, load_ecg_config
from spectro_diffusion.ecg.data import (
    CONDITIONS,
    FOLDERS,
    OUTPUTS,
    ArraySpec,
    denormalise,
    load_array,
    normalise,
)
from spectro_diffusion.ecg.diffusion import JointLayout, make_schedule, sample
from spectro_diffusion.ecg.metrics import compare
from spectro_diffusion.ecg.model import EcgDiffusionModel
from spectro_diffusion.ecg.plots import plot_comparison, plot_generated

PACKAGE = "spectro_diffusion_ecg_infer"


def load_trained(path: str | Path, device: torch.device, prefer_ema: bool = True):
    """(model in eval mode, config, specs, stats) from an ecg-train checkpoint."""
    state = load_checkpoint(require_file(path, "checkpoint"), map_location="cpu")
    extra = state.get("extra", {})
    if "specs" not in extra or "stats" not in extra:
        raise UserError(f"{path} is not an ecg-train checkpoint (no shapes / statistics)")
    cfg: EcgConfig = load_ecg_config(extra["config"])
    specs = {n: ArraySpec.from_dict(d) for n, d in extra["specs"].items()}
    model = EcgDiffusionModel(specs, cfg.model)
    load_model_weights(model, state, prefer_ema=prefer_ema)
    return model.to(device).eval(), cfg, specs, extra["stats"]


def condition_folders(input_dir: Path, split: str) -> dict[str, Path]:
    """{amp_init, emb_init: folder of .npy files} inside an inits-like folder."""
    folders = {}
    for name in CONDITIONS:
        base = input_dir / name
        if not base.is_dir():
            raise UserError(f"--input-dir {input_dir} needs subfolders amp_init/ and emb_init/")
        with_split = base / split
        folders[name] = with_split if with_split.is_dir() else base
    return folders


def paired_stems(folders: dict[str, Path]) -> list[str]:
    """Stems present in every folder; a UserError when there are none."""
    sets = {n: {p.stem for p in f.glob("*.npy")} for n, f in folders.items()}
    common = sorted(set.intersection(*sets.values()))
    if not common:
        counts = ", ".join(f"{f} ({len(sets[n])} files)" for n, f in folders.items())
        raise UserError(f"no stem is present in both condition folders: {counts}")
    return common


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ecg-infer",
        description="Generate {stem}_images.npy and {stem}_freq_embeddings.npy from amp_init / "
        "emb_init conditions with DDIM, optionally with figures and metrics against ground "
        "truth.",
    )
    p.add_argument("--checkpoint", required=True, help="ecg-train checkpoint (best.pt / last.pt)")
    p.add_argument("--num-samples", type=int, help="how many stems to generate (config: 4)")
    p.add_argument("--num-steps", type=int, help="DDIM steps (config: 50)")
    p.add_argument("--eta", type=float, help="DDIM eta: 0 deterministic .. 1 DDPM (config: 0)")
    p.add_argument("--batch-size", type=int, help="samples per batch (config: 8)")
    p.add_argument("--visualize", action="store_true", help="write a PNG per sample")
    p.add_argument("--compare", action="store_true", help="figures and metrics vs ground truth")
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


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    device = select_device(args.device)
    seed_everything(args.seed)
    model, cfg, specs, stats = load_trained(args.checkpoint, device, not args.raw_weights)
    inf = cfg.inference
    num = inf.num_samples if args.num_samples is None else args.num_samples
    steps = inf.num_inference_steps if args.num_steps is None else args.num_steps
    eta = inf.eta if args.eta is None else args.eta
    batch_size = inf.batch_size if args.batch_size is None else args.batch_size
    if num < 1 or batch_size < 1:
        raise UserError("--num-samples and --batch-size must be >= 1")
    dataset = Path(args.dataset_path or cfg.dataset.path or "")
    if args.input_dir:
        input_dir = Path(args.input_dir)
        if not input_dir.is_dir():
            raise UserError(f"--input-dir not found: {input_dir}")
        folders = condition_folders(input_dir, args.split)
    else:
        if not (dataset / "inits").is_dir():
            raise UserError(
                f"dataset {dataset} not found (no inits/ folder); pass --dataset-path or "
                "--input-dir"
            )
        folders = {n: dataset / FOLDERS[n] / args.split for n in CONDITIONS}
    stems = paired_stems(folders)[:num]
    truth_dirs = {n: dataset / FOLDERS[n] / args.split for n in OUTPUTS}
    if args.compare:
        for stem in stems:
            for folder in truth_dirs.values():
                if not (folder / f"{stem}.npy").is_file():
                    raise UserError(
                        f"--compare: no ground truth {folder / stem}.npy; pass --dataset-path "
                        "with the matching dataset or drop --compare"
                    )
    out = create_run_dir(PACKAGE, args.output_dir or inf.output_dir, overwrite=args.overwrite)
    layout = JointLayout(specs["images"], specs["freq_embeddings"])
    schedule = make_schedule(cfg.diffusion)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    all_metrics: dict[str, dict[str, float]] = {}
    for start in range(0, len(stems), batch_size):
        chunk = stems[start : start + batch_size]
        conds = {
            n: torch.stack([load_array(folders[n] / f"{s}.npy", specs[n], n) for s in chunk]).to(
                device
            )
            for n in CONDITIONS
        }
        image, freq = sample(
            model,
            schedule,
            layout,
            normalise(conds["amp_init"], stats["amp_init"]),
            normalise(conds["emb_init"], stats["emb_init"]),
            steps,
            eta,
            cfg.diffusion.prediction_type,
            gen,
            cfg.diffusion.clip_x0,
        )
        gen_out = {
            "images": denormalise(image, stats["images"]).cpu(),
            "freq_embeddings": denormalise(freq, stats["freq_embeddings"]).cpu(),
        }
        if args.compare:
            truth = {
                n: torch.stack([load_array(truth_dirs[n] / f"{s}.npy", specs[n], n) for s in chunk])
                for n in OUTPUTS
            }
            metrics = compare(
                gen_out["images"],
                gen_out["freq_embeddings"],
                truth["images"],
                truth["freq_embeddings"],
                cfg.training.consistency_projection,
            )
        for i, stem in enumerate(chunk):
            for n in OUTPUTS:
                arr = gen_out[n][i].numpy().reshape(specs[n].file_shape)
                np.save(out / f"{stem}_{n}.npy", arr.astype(np.float32))
            cond_np = {n: conds[n][i].cpu().numpy() for n in CONDITIONS}
            gen_np = {n: gen_out[n][i].numpy() for n in OUTPUTS}
            if args.visualize:
                plot_generated(
                    cond_np,
                    gen_np["images"],
                    gen_np["freq_embeddings"],
                    stem,
                    out / f"{stem}.png",
                )
            if args.compare:
                all_metrics[stem] = {k: float(v[i]) for k, v in metrics.items()}
                plot_comparison(
                    cond_np,
                    gen_np,
                    {n: truth[n][i].numpy() for n in OUTPUTS},
                    f"{stem}: DDIM {steps} steps, eta {eta:g}",
                    out / f"{stem}_compare.png",
                )
        if not args.quiet:
            print(f"generated {min(start + batch_size, len(stems))}/{len(stems)}", flush=True)
    if args.compare:
        keys = next(iter(all_metrics.values())).keys()
        mean = {k: float(np.nanmean([m[k] for m in all_metrics.values()])) for k in keys}
        (out / "metrics.json").write_text(
            json.dumps(
                {"mean": mean, "per_sample": all_metrics, "num_steps": steps, "eta": eta}, indent=2
            )
        )
        print("mean over samples: " + ", ".join(f"{k} {v:.4g}" for k, v in mean.items()))
    print(f"wrote {len(stems)} samples to {out}")


if __name__ == "__main__":
    main()
