"""Sampling a trained model, and its evaluation against ground truth and the emb_init baseline.

The baseline is the trivial answer a model must beat: `emb_init` (the coarse block-mean image
the model is conditioned on) taken as the image itself, resized to the image grid, and the
frequency embedding that image implies. Its consistency is 0 by construction, so it is not
reported.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from sigshared.diffusion import GaussianDiffusion
from sigshared.errors import ConfigError
from spectro_diffusion.ecg.config import DiffusionConfig, EcgConfig, InferenceConfig
from spectro_diffusion.ecg.data import (
    CONDITIONS,
    FOLDERS,
    OUTPUTS,
    ArraySpec,
    EcgPairs,
    denormalise,
    normalise,
)
from spectro_diffusion.ecg.metrics import compare, project_rows
from spectro_diffusion.ecg.plots import plot_comparison


def check_sampling(inference: InferenceConfig, diffusion: DiffusionConfig) -> None:
    """ConfigError for sampling settings the trained model cannot honour."""
    n, limit = inference.num_inference_steps, diffusion.num_train_timesteps
    if n > limit:
        raise ConfigError(
            f"inference.num_inference_steps must lie in 1..{limit} (the model's "
            f"num_train_timesteps), got {n}"
        )
    if inference.eta != 0 and inference.sampler != "ddim":
        raise ConfigError(
            f"inference.eta applies to the ddim sampler only; got {inference.eta:g} with "
            f"{inference.sampler}"
        )
    if inference.guidance_scale != 1.0 and diffusion.cond_drop_prob == 0:
        raise ConfigError(
            f"inference.guidance_scale {inference.guidance_scale:g} needs a model trained with "
            "diffusion.cond_drop_prob > 0 (this one was trained with 0); use 1.0"
        )


@torch.no_grad()
def generate(
    diffusion: GaussianDiffusion,
    stats: dict[str, dict[str, float]],
    conds: dict[str, torch.Tensor],
    inference: InferenceConfig,
    diffusion_cfg: DiffusionConfig,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Conditions in physical units {amp_init (B, C, L), emb_init (B, C, h, w)} -> generated
    {images (B, C, H, W), freq_embeddings (B, C, L')} in physical units, on the CPU."""
    check_sampling(inference, diffusion_cfg)
    diffusion.eval()
    cond = {n: normalise(conds[n], stats[n]) for n in CONDITIONS}
    layout = diffusion.denoiser.layout
    batch = conds["amp_init"].shape[0]
    x = diffusion.sample(
        cond,
        shape=(batch, layout.n_total),
        num_inference_steps=inference.num_inference_steps,
        guidance_scale=inference.guidance_scale,
        sampler=inference.sampler,
        eta=inference.eta,
        generator=generator,
        clip_x0=diffusion_cfg.clip_x0,
    )
    image, freq = layout.unpack(x)
    return {
        "images": denormalise(image, stats["images"]).cpu(),
        "freq_embeddings": denormalise(freq, stats["freq_embeddings"]).cpu(),
    }


def emb_init_baseline(
    emb_init: torch.Tensor, specs: dict[str, ArraySpec], projection: str
) -> dict[str, torch.Tensor] | None:
    """emb_init (B, C, h, w) resized (nearest) to the image grid, and its implied frequency
    embedding; None when the arrays' shapes do not relate (1-D emb_init, other channels)."""
    if emb_init.ndim != 4:
        return None
    image = F.interpolate(emb_init, size=specs["images"].size, mode="nearest")
    freq = project_rows(image, projection)
    if image.shape[1:] != specs["images"].model_shape:
        return None
    if freq.shape[1:] != specs["freq_embeddings"].model_shape:
        return None
    return {"images": image, "freq_embeddings": freq}


def compare_to_truth(
    generated: dict[str, torch.Tensor],
    truth: dict[str, torch.Tensor],
    emb_init: torch.Tensor,
    specs: dict[str, ArraySpec],
    projection: str,
) -> dict[str, dict[str, torch.Tensor]]:
    """{"generated": per-sample metrics (each (B,)), "emb_init_baseline": the same for the
    baseline, when it applies}; every array in physical units."""
    out = {
        "generated": compare(
            generated["images"],
            generated["freq_embeddings"],
            truth["images"],
            truth["freq_embeddings"],
            projection,
        )
    }
    base = emb_init_baseline(emb_init, specs, projection)
    if base is not None:
        metrics = compare(
            base["images"],
            base["freq_embeddings"],
            truth["images"],
            truth["freq_embeddings"],
            projection,
        )
        metrics.pop("consistency_mse")
        out["emb_init_baseline"] = metrics
    return out


def evaluate(
    diffusion: GaussianDiffusion,
    cfg: EcgConfig,
    dataset: EcgPairs,
    stats: dict[str, dict[str, float]],
    specs: dict[str, ArraySpec],
    plot_dir: Path,
    count: int = 8,
) -> dict[str, float]:
    """Samples for the first `count` examples of `dataset` with the config's sampler: mean
    metrics against ground truth, the same for the emb_init baseline, and a comparison plot
    of up to four examples in `plot_dir`."""
    device = next(diffusion.parameters()).device
    items = [dataset[i] for i in range(min(count, len(dataset)))]
    phys = {k: denormalise(torch.stack([it[k] for it in items]), stats[k]) for k in FOLDERS}
    gen = torch.Generator(device=device).manual_seed(cfg.trainer.seed)
    conds = {n: phys[n].to(device) for n in CONDITIONS}
    generated = generate(diffusion, stats, conds, cfg.inference, cfg.diffusion, gen)
    truth = {n: phys[n] for n in OUTPUTS}
    projection = cfg.training.consistency_projection
    metrics = compare_to_truth(generated, truth, phys["emb_init"], specs, projection)
    report = {f"generated_{k}": float(v.mean()) for k, v in metrics["generated"].items()}
    for k, v in metrics.get("emb_init_baseline", {}).items():
        report[f"emb_init_baseline_{k}"] = float(v.mean())
    inf = cfg.inference
    for i in range(min(4, len(items))):
        stem = dataset.stems[i]
        plot_comparison(
            {n: phys[n][i].numpy() for n in CONDITIONS},
            {n: generated[n][i].numpy() for n in OUTPUTS},
            {n: truth[n][i].numpy() for n in OUTPUTS},
            f"{stem}: {inf.sampler} {inf.num_inference_steps} steps",
            plot_dir / f"val_{stem}.png",
        )
    report["evaluated_examples"] = len(items)
    return report
