"""How good a trained emotion generator is, beside the design document's figures.

- reconstruction MSE: test spectrograms noised to step t (default a fifth of the training
  steps) and denoised with their own emotion, MSE against the clean image in the [-1, 1] scale;
- SNR of Griffin-Lim audio of the test spectrograms against the original (preprocessed)
  waveform, with the spectral convergence of that reconstruction;
- emotion preservation: the classifier's accuracy on generated samples against the emotion
  they were asked for, beside its accuracy on the real test split;
- Fréchet distance between classifier embeddings of real test and generated spectrograms.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from scipy import linalg
from torch import nn

from sigshared.diffusion import q_sample
from sigshared.errors import DataError, UserError
from sigshared.metrics import snr_db
from spectro_diffusion.emotion.checkpoint import TrainedClassifier, TrainedGenerator
from spectro_diffusion.emotion.data import PreparedData
from spectro_diffusion.emotion.features import griffin_lim, load_clip, unscale_db
from spectro_diffusion.emotion.generation import sample_spectrograms

# The design document's figures (measured on data this project cannot obtain).
DOCUMENT = {"reconstruction_mse": 0.0098, "audio_snr_db": 19.2, "emotion_preservation": 0.854}


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to (N, D) and (M, D) embeddings:
    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) (Heusel et al. 2017)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = np.real(linalg.sqrtm(s_a @ s_b))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root))


@torch.no_grad()
def predict(net: nn.Module, x: torch.Tensor, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, H, W) -> (predicted class (N,), embeddings (N, embed_dim)), in eval mode."""
    net.eval()
    dev = next(net.parameters()).device
    preds, embs = [], []
    for i in range(0, len(x), batch):
        e = net.embed(x[i : i + batch].to(dev))
        preds.append(net.head(e).argmax(dim=1).cpu())
        embs.append(e.cpu())
    return torch.cat(preds), torch.cat(embs)


def confusion_matrix(true: torch.Tensor, pred: torch.Tensor, n: int) -> np.ndarray:
    """(n, n) counts, rows the true class and columns the predicted one."""
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (true.numpy(), pred.numpy()), 1)
    return m


def check_compatible(gen: TrainedGenerator, clf: TrainedClassifier) -> None:
    """A UserError unless the classifier knows the generator's classes on the same log-mels."""
    if clf.classes != gen.classes:
        raise UserError(
            f"the classifier knows {clf.classes}, the diffusion model {gen.classes}; "
            "train the classifier on the same data"
        )
    if dataclasses.asdict(clf.config.data.mel) != dataclasses.asdict(gen.config.data.mel):
        raise UserError("the classifier was trained on other log-mel settings than the model")


def evaluate_generator(
    gen: TrainedGenerator,
    clf: TrainedClassifier,
    data: PreparedData,
    *,
    num_per_class: int,
    num_inference_steps: int,
    guidance_scale: float,
    sampler: str,
    eta: float,
    t_recon: int,
    audio_clips: int,
    seed: int = 0,
) -> tuple[dict[str, Any], torch.Tensor]:
    """The figures of the module docstring on `data`'s test split; returns the report and the
    generated images ((num_per_class * classes, 1, n_mels, n_frames), class-major order)."""
    test = data.splits["test"]
    if len(test) == 0:
        raise DataError("the test split is empty; nothing to evaluate")
    T = gen.config.diffusion.num_train_timesteps
    if not 0 <= t_recon < T:
        raise UserError(f"the reconstruction step must be in 0..{T - 1}, got {t_recon}")
    kw = dict(
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale,
        sampler=sampler,
        eta=eta,
    )
    conditional = gen.net.num_classes > 0

    # Reconstruction: noise to t, then back from t with the clip's own emotion (DDIM; the
    # partial start is defined for DDIM and DDPM only).
    g = torch.Generator().manual_seed(seed)
    x0 = test.images
    t = torch.full((len(x0),), t_recon, dtype=torch.long)
    noise = torch.randn(x0.shape, generator=g)
    x_t = q_sample(gen.diffusion.schedule.to("cpu"), x0, t, noise)
    recon_kw = {**kw, "sampler": sampler if sampler in ("ddim", "ddpm") else "ddim"}
    labels = test.labels if conditional else None
    recon = sample_spectrograms(
        gen, labels, len(x0), **recon_kw, seed=seed, x_T=x_t, t_start=t_recon
    ).cpu()
    recon_mse = float(((recon - x0) ** 2).mean())
    noisy_mse = float(((x_t.clamp(-1, 1) - x0) ** 2).mean())

    # Griffin-Lim audio of real test spectrograms against the original waveform.
    mel = gen.config.data.mel
    iters = gen.config.sample.griffin_lim_iters
    snrs, scs = [], []
    for u, img in list(zip(data.utterances["test"], x0[:, 0].numpy()))[:audio_clips]:
        audio, sc = griffin_lim(unscale_db(img, gen.db_max, gen.top_db), mel, iters)
        ref = load_clip(u.path, mel)[: len(audio)]
        snrs.append(float(snr_db(torch.from_numpy(ref), torch.from_numpy(audio))))
        scs.append(sc)

    # Emotion preservation and Fréchet distance.
    real_pred, real_emb = predict(clf.net, test.images)
    real_acc = float((real_pred == test.labels).float().mean())
    n = len(gen.classes)
    asked = torch.arange(n).repeat_interleave(num_per_class)
    fake = sample_spectrograms(
        gen, asked if conditional else None, len(asked), **kw, seed=seed + 1
    ).cpu()
    fake_pred, fake_emb = predict(clf.net, fake)
    preservation = float((fake_pred == asked).float().mean()) if conditional else None
    per_class = {
        c: float((fake_pred[asked == k] == k).float().mean()) for k, c in enumerate(gen.classes)
    }
    report = {
        "test_clips": len(test),
        "t_recon": t_recon,
        "sampler": sampler,
        "num_inference_steps": num_inference_steps,
        "eta": eta,
        "guidance_scale": guidance_scale,
        "reconstruction_mse": recon_mse,
        "noisy_input_mse": noisy_mse,
        "audio_snr_db": float(np.mean(snrs)),
        "griffin_lim_spectral_convergence": float(np.mean(scs)),
        "classifier_accuracy_real_test": real_acc,
        "emotion_preservation": preservation,
        "emotion_preservation_per_class": per_class if conditional else None,
        "chance": 1 / n,
        "frechet_distance": frechet_distance(real_emb.numpy(), fake_emb.numpy()),
        "document": DOCUMENT,
    }
    return report, fake
