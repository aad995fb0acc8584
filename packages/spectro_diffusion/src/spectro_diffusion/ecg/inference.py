"""Generation from a trained checkpoint over folders of conditions, with optional figures and
metrics against ground truth (beside the emb_init baseline, see `evaluation`).

Conditions come from folders `amp_init/` and `emb_init/` of `.npy` files paired by stem. For
each stem the run writes `{stem}_images.npy` and `{stem}_freq_embeddings.npy` (physical units,
the shapes of the training files), with `visualize` a PNG per sample, and with ground truth a
side-by-side figure per sample and metrics.json.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from sigshared.errors import DataError
from spectro_diffusion.ecg.checkpoint import TrainedEcg
from spectro_diffusion.ecg.config import InferenceConfig
from spectro_diffusion.ecg.data import CONDITIONS, FOLDERS, OUTPUTS, load_array
from spectro_diffusion.ecg.evaluation import compare_to_truth, generate
from spectro_diffusion.ecg.plots import plot_comparison, plot_generated

SOURCES = ("generated", "emb_init_baseline")


def condition_folders(input_dir: Path, split: str) -> dict[str, Path]:
    """{amp_init, emb_init: folder of .npy files} inside an inits-like folder (its `split`
    subfolder when there is one)."""
    folders = {}
    for name in CONDITIONS:
        base = input_dir / name
        if not base.is_dir():
            raise DataError(f"{input_dir} needs subfolders amp_init/ and emb_init/")
        with_split = base / split
        folders[name] = with_split if with_split.is_dir() else base
    return folders


def dataset_folders(dataset: Path, split: str) -> dict[str, Path]:
    """{array name: folder} of one split of a prepared dataset."""
    if not (dataset / "inits").is_dir():
        raise DataError(f"dataset {dataset} not found (no inits/ folder)")
    return {n: dataset / folder / split for n, folder in FOLDERS.items()}


def paired_stems(folders: dict[str, Path]) -> list[str]:
    """Stems present in every folder; a DataError when there are none."""
    sets = {n: {p.stem for p in f.glob("*.npy")} for n, f in folders.items()}
    common = sorted(set.intersection(*sets.values()))
    if not common:
        counts = ", ".join(f"{f} ({len(sets[n])} files)" for n, f in folders.items())
        raise DataError(f"no stem is present in every folder: {counts}")
    return common


def check_truth(truth_dirs: dict[str, Path], stems: list[str]) -> None:
    """DataError naming the first ground-truth file that is missing."""
    for stem in stems:
        for folder in truth_dirs.values():
            if not (folder / f"{stem}.npy").is_file():
                raise DataError(f"no ground truth {folder / stem}.npy for the comparison")


def run_inference(
    trained: TrainedEcg,
    folders: dict[str, Path],
    stems: list[str],
    out: Path,
    inference: InferenceConfig,
    truth_dirs: dict[str, Path] | None = None,
    visualize: bool = False,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, float]] | None:
    """Generate every stem into `out`; with `truth_dirs`, compare and write metrics.json.
    Returns {"generated": mean metrics, "emb_init_baseline": mean metrics} or None."""
    specs, stats = trained.specs, trained.stats
    device = next(trained.diffusion.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    projection = trained.cfg.training.consistency_projection
    per_sample: dict[str, dict[str, dict[str, float]]] = {s: {} for s in SOURCES}
    title = f"{inference.sampler} {inference.num_inference_steps} steps, eta {inference.eta:g}"
    for start in range(0, len(stems), inference.batch_size):
        chunk = stems[start : start + inference.batch_size]
        conds = {
            n: torch.stack([load_array(folders[n] / f"{s}.npy", specs[n], n) for s in chunk])
            for n in CONDITIONS
        }
        generated = generate(
            trained.diffusion,
            stats,
            {n: c.to(device) for n, c in conds.items()},
            inference,
            trained.cfg.diffusion,
            gen,
        )
        truth = metrics = None
        if truth_dirs is not None:
            truth = {
                n: torch.stack([load_array(truth_dirs[n] / f"{s}.npy", specs[n], n) for s in chunk])
                for n in OUTPUTS
            }
            metrics = compare_to_truth(generated, truth, conds["emb_init"], specs, projection)
        for i, stem in enumerate(chunk):
            for n in OUTPUTS:
                arr = generated[n][i].numpy().reshape(specs[n].file_shape)
                np.save(out / f"{stem}_{n}.npy", arr.astype(np.float32))
            cond_np = {n: conds[n][i].numpy() for n in CONDITIONS}
            gen_np = {n: generated[n][i].numpy() for n in OUTPUTS}
            if visualize:
                plot_generated(
                    cond_np, gen_np["images"], gen_np["freq_embeddings"], stem, out / f"{stem}.png"
                )
            if truth is not None and metrics is not None:
                for source, values in metrics.items():
                    per_sample[source][stem] = {k: float(v[i]) for k, v in values.items()}
                plot_comparison(
                    cond_np,
                    gen_np,
                    {n: truth[n][i].numpy() for n in OUTPUTS},
                    f"{stem}: {title}",
                    out / f"{stem}_compare.png",
                )
        log(f"generated {min(start + inference.batch_size, len(stems))}/{len(stems)}")
    if truth_dirs is None:
        return None
    mean = {
        source: {
            k: float(np.nanmean([m[k] for m in rows.values()])) for k in next(iter(rows.values()))
        }
        for source, rows in per_sample.items()
        if rows
    }
    summary = {
        "mean": mean,
        "per_sample": per_sample,
        "sampler": inference.sampler,
        "num_inference_steps": inference.num_inference_steps,
        "eta": inference.eta,
        "guidance_scale": inference.guidance_scale,
    }
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    return mean
