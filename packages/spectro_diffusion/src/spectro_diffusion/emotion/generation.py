"""Sampling spectrograms from a trained generator, and writing them as images and WAVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spectro_diffusion.emotion.audio import spectrograms_to_wavs
from spectro_diffusion.emotion.checkpoint import TrainedGenerator
from spectro_diffusion.emotion.plots import spectrogram_sheet


@torch.no_grad()
def sample_spectrograms(
    gen: TrainedGenerator,
    labels: torch.Tensor | None,
    num: int,
    *,
    num_inference_steps: int,
    guidance_scale: float,
    sampler: str,
    eta: float = 0.0,
    seed: int = 0,
    x_T: torch.Tensor | None = None,
    t_start: int | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """(num, 1, n_mels, n_frames) scaled spectrograms in [-1, 1] for class indices `labels`
    (None: an unconditional model). guidance_scale 1 = the conditional model alone; eta
    applies to DDIM only (the other samplers ignore it here).

    The same seed gives the same images; x_T with t_start starts from a partly noised image
    (reconstruction / SDEdit).
    """
    mel = gen.config.data.mel
    conditional = gen.net.num_classes > 0 and labels is not None
    cond = labels.to(gen.device) if conditional else None
    out = gen.diffusion.sample(
        cond,
        shape=(num, 1, mel.n_mels, mel.n_frames),
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale if conditional else 1.0,
        sampler=sampler,
        eta=eta if sampler == "ddim" else 0.0,
        generator=torch.Generator(device="cpu").manual_seed(seed),
        x_T=x_T,
        t_start=t_start,
        clip_x0=(-1.0, 1.0),
        progress=progress,
    )
    return out.clamp(-1, 1)


def write_generated(
    gen: TrainedGenerator,
    images: np.ndarray,
    names: list[str],
    titles: list[str],
    out_dir: Path,
    griffin_lim_iters: int,
) -> list[dict]:
    """Per image: <name>.npy (the scaled image), <name>.png and <name>.wav (Griffin-Lim);
    plus sheet.png of all of them. Returns the per-clip records of `spectrograms_to_wavs`."""
    mel = gen.config.data.mel
    for name, title, img in zip(names, titles, images):
        np.save(out_dir / f"{name}.npy", img)
        spectrogram_sheet(img[None], [title], mel, out_dir / f"{name}.png", gen.db_max, gen.top_db)
    spectrogram_sheet(images, titles, mel, out_dir / "sheet.png", gen.db_max, gen.top_db)
    return spectrograms_to_wavs(
        images, names, out_dir, mel, gen.db_max, gen.top_db, griffin_lim_iters
    )
