"""How good a trained emotion generator is, beside the design document's figures.

- reconstruction MSE: test spectrograms noised to step t (default a fifth of the training
  steps) and denoised with their own emotion, MSE against the clean image in the [-1, 1] scale;
- SNR of Griffin-Lim audio of the test spectrograms against the original (preprocessed)
  waveform, with the spectral convergence of that reconstruction;
- voiced fraction (librosa's pyin, `voicing.py`) of the real test clips, of the same clips
  through the mel + Griffin-Lim inversion, and of generated clips through that inversion (the
  fair comparison for generated audio);
- with the functional judge (`judge.py`, the cross-validated classifier of item 1 fitted on
  the training speakers): emotion preservation, overall and per emotion, on the generated
  audio, beside the judge's accuracy on real test clips through the same inversion; the
  Fréchet distance in its feature space, real test vs generated, beside real test vs the
  real validation speakers (the scale a generated figure is read against);
- with a CNN classifier checkpoint (optional): the same two figures on its embeddings of
  the spectrogram images.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

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
from spectro_diffusion.emotion.voicing import voiced_fraction

if TYPE_CHECKING:  # judge.py imports this module (frechet_distance)
    from spectro_diffusion.emotion.judge import FunctionalJudge

# The design document's figures (measured on data this project cannot obtain).
DOCUMENT = {"reconstruction_mse": 0.0098, "audio_snr_db": 19.2, "emotion_preservation": 0.854}


def voiced_per_class(
    voiced: dict[str, np.ndarray], labels: dict[str, np.ndarray], classes: list[str]
) -> dict[str, dict[str, float | None]]:
    """{emotion: {clip set: mean voiced fraction of its clips of that emotion}}, from the
    per-clip fractions `voiced[set]` (K,) and their class indices `labels[set]` (K,); None
    where a set holds no clip of that emotion."""
    return {
        c: {
            k: float(v[labels[k] == i].mean()) if (labels[k] == i).any() else None
            for k, v in voiced.items()
        }
        for i, c in enumerate(classes)
    }


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


def confusion_matrix_np(true: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """(n, n) counts, rows the true class and columns the predicted one."""
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (np.asarray(true), np.asarray(pred)), 1)
    return m


def confusion_matrix(true: torch.Tensor, pred: torch.Tensor, n: int) -> np.ndarray:
    """`confusion_matrix_np` of two (N,) class-index tensors."""
    return confusion_matrix_np(true.numpy(), pred.numpy(), n)


def unweighted_accuracy(true: np.ndarray, pred: np.ndarray) -> float:
    """Mean over the classes present in `true` of the recall of each (UA)."""
    true, pred = np.asarray(true), np.asarray(pred)
    return float(np.mean([np.mean(pred[true == c] == c) for c in np.unique(true)]))


def check_compatible(gen: TrainedGenerator, clf: TrainedClassifier) -> None:
    """A UserError unless the classifier knows the generator's classes on the same log-mels."""
    if clf.classes != gen.classes:
        raise UserError(
            f"the classifier knows {clf.classes}, the diffusion model {gen.classes}; "
            "train the classifier on the same data"
        )
    if dataclasses.asdict(clf.config.data.mel) != dataclasses.asdict(gen.config.data.mel):
        raise UserError("the classifier was trained on other log-mel settings than the model")


def _invert(images: np.ndarray, gen: TrainedGenerator) -> list[tuple[np.ndarray, float]]:
    """(N, n_mels, n_frames) scaled images -> [(Griffin-Lim audio, spectral convergence)]."""
    mel, iters = gen.config.data.mel, gen.config.sample.griffin_lim_iters
    return [griffin_lim(unscale_db(img, gen.db_max, gen.top_db), mel, iters) for img in images]


def evaluate_generator(
    gen: TrainedGenerator,
    clf: TrainedClassifier | None,
    judge: FunctionalJudge | None,
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
) -> tuple[dict[str, Any], torch.Tensor, dict[str, list[np.ndarray]]]:
    """The figures of the module docstring on `data`'s test split. `clf` (a CNN checkpoint)
    adds its rows; `judge` (the functional SVM) scores the audio. Returns the report, the
    generated images ((num_per_class * classes, 1, n_mels, n_frames), class-major order) and
    the audio: real test clips, the same through the inversion, generated through it."""
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

    # Real test clips (an even spread over the split) and the same through mel + Griffin-Lim.
    mel = gen.config.data.mel
    pick = np.linspace(0, len(x0) - 1, min(audio_clips, len(x0))).round().astype(int)
    pick = np.unique(pick)
    real = [load_clip(data.utterances["test"][i].path, mel) for i in pick]
    inverted = _invert(x0[pick, 0].numpy(), gen)
    snrs = [
        float(snr_db(torch.from_numpy(r[: len(a)]), torch.from_numpy(a)))
        for r, (a, _) in zip(real, inverted)
    ]

    n = len(gen.classes)
    asked = torch.arange(n).repeat_interleave(num_per_class)
    fake = sample_spectrograms(
        gen, asked if conditional else None, len(asked), **kw, seed=seed + 1
    ).cpu()
    fake_audio = [a for a, _ in _invert(fake[:, 0].numpy(), gen)]
    sr = mel.sample_rate
    audio = {
        "real": real,
        "real_inverted": [a for a, _ in inverted],
        "generated": fake_audio,
    }
    # pyin is the slow part of the evaluation: once per clip, then averaged two ways
    voiced = {k: np.array([voiced_fraction(a, sr) for a in v]) for k, v in audio.items()}
    clip_labels = {
        "real": test.labels[pick].numpy(),
        "real_inverted": test.labels[pick].numpy(),
        "generated": asked.numpy(),
    }
    report: dict[str, Any] = {
        "test_clips": len(test),
        "audio_clips": len(pick),
        "t_recon": t_recon,
        "sampler": sampler,
        "num_inference_steps": num_inference_steps,
        "eta": eta,
        "guidance_scale": guidance_scale,
        "reconstruction_mse": recon_mse,
        "noisy_input_mse": noisy_mse,
        "audio_snr_db": float(np.mean(snrs)),
        "griffin_lim_spectral_convergence": float(np.mean([sc for _, sc in inverted])),
        "chance": 1 / n,
        **{f"voiced_fraction_{k}": float(v.mean()) for k, v in voiced.items()},
        "voiced_fraction_per_class": voiced_per_class(voiced, clip_labels, gen.classes),
        "document": DOCUMENT,
    }

    val = data.splits["val"]
    if judge is not None and conditional and len(val) >= 2:
        vpick = np.unique(np.linspace(0, len(val) - 1, min(audio_clips, len(val))).round())
        ref = [a for a, _ in _invert(val.images[vpick.astype(int), 0].numpy(), gen)]
        speakers = np.array([data.utterances["test"][i].speaker for i in pick])
        report["judge"] = judge.figures(
            gen.classes,
            mel,
            audio["real_inverted"],
            test.labels[pick].numpy(),
            speakers,
            ref,
            fake_audio,
            asked.numpy(),
        )

    if clf is not None:
        real_pred, real_emb = predict(clf.net, test.images)
        fake_pred, fake_emb = predict(clf.net, fake)
        report["cnn"] = {
            "classifier_accuracy_real_test": float((real_pred == test.labels).float().mean()),
            "emotion_preservation": float((fake_pred == asked).float().mean())
            if conditional
            else None,
            "emotion_preservation_per_class": {
                c: float((fake_pred[asked == k] == k).float().mean())
                for k, c in enumerate(gen.classes)
            }
            if conditional
            else None,
            "frechet_distance": frechet_distance(real_emb.numpy(), fake_emb.numpy()),
            "frechet_distance_real_vs_real": frechet_distance(
                real_emb.numpy(), predict(clf.net, val.images)[1].numpy()
            )
            if len(val) >= 2
            else None,
        }
    return report, fake, audio
