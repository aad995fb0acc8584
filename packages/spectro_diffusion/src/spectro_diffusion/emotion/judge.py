"""The speaker-independent emotion classifier of `spectro-train-classifier --cv` (utterance
functionals, speaker normalisation, linear SVM) fitted once on the training speakers and used
as a judge of audio it has never seen: generated clips, or real clips through the inversion.

It also gives the space of the Fréchet distance that `spectro-eval` reports without a CNN
classifier: the functionals standardised with the training speakers' statistics (no speaker
normalisation, so level and timbre shifts count), reduced to their first principal components
on the training speakers. Functionals describe pitch, loudness, MFCCs and voicing, i.e. the
things a listener hears as emotion, and need no trained network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.svm import SVC

from spectro_diffusion.emotion.corpora import Utterance
from spectro_diffusion.emotion.crossval import (
    choose_c,
    clip_functionals,
    speaker_normalise,
)
from spectro_diffusion.emotion.evaluation import frechet_distance
from spectro_diffusion.emotion.features import MelSettings, trim_silence
from spectro_diffusion.emotion.functionals import utterance_functionals


@dataclass
class FunctionalJudge:
    """A fitted SVM on speaker-normalised functionals, and the embedding of the module doc."""

    classes: list[str]
    svm: SVC
    mu: np.ndarray  # standardisation of the speaker-normalised training features
    sd: np.ndarray
    raw_mu: np.ndarray  # standardisation of the raw features (embedding)
    raw_sd: np.ndarray
    basis: np.ndarray  # (D, k) principal directions of the standardised raw features
    svm_c: float

    def predict(self, features: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """(N, D) functionals -> (N,) class indices; each group (a speaker, or one generated
        set) is z-normalised on its own first, as a test speaker is in the cross-validation."""
        x = speaker_normalise(features, groups)
        return self.svm.predict((x - self.mu) / self.sd)

    def embed(self, features: np.ndarray) -> np.ndarray:
        """(N, D) functionals -> (N, k) principal components."""
        return ((features - self.raw_mu) / self.raw_sd) @ self.basis

    def figures(
        self,
        classes: list[str],
        mel: MelSettings,
        real: Sequence[np.ndarray],
        real_labels: np.ndarray,
        real_speakers: np.ndarray,
        ref: Sequence[np.ndarray],
        fake: Sequence[np.ndarray],
        asked: np.ndarray,
    ) -> dict[str, Any]:
        """Emotion preservation (overall and per emotion) of the generated clips `fake` asked
        for `asked`, the judge's accuracy on the real test clips `real` (through the same
        inversion), and the Fréchet distances in its space: real test vs generated, real test
        vs `ref` (clips of other real speakers). The generated set is normalised as one
        speaker. `classes` must be the judge's."""
        f_real, f_ref, f_fake = (
            audio_functionals(c, mel.sample_rate, mel.trim_top_db) for c in (real, ref, fake)
        )
        real_pred = self.predict(f_real, real_speakers)
        fake_pred = self.predict(f_fake, np.zeros(len(f_fake), dtype=int))

        def recall(pred: np.ndarray, true: np.ndarray, k: int) -> float | None:
            return float(np.mean(pred[true == k] == k)) if (true == k).any() else None

        e_real = self.embed(f_real)
        return {
            "judge_svm_c": self.svm_c,
            "emotion_preservation": float(np.mean(fake_pred == asked)),
            "emotion_preservation_per_class": {
                c: recall(fake_pred, asked, k) for k, c in enumerate(classes)
            },
            "judge_accuracy_real_inverted": float(np.mean(real_pred == real_labels)),
            "judge_recall_real_inverted_per_class": {
                c: recall(real_pred, real_labels, k) for k, c in enumerate(classes)
            },
            "frechet_distance": frechet_distance(e_real, self.embed(f_fake)),
            "frechet_distance_real_vs_real": frechet_distance(e_real, self.embed(f_ref)),
        }


def audio_functionals(clips: Sequence[np.ndarray], sr: int, trim_top_db: float) -> np.ndarray:
    """(N, D) functionals of clips at `sr`, silence at both ends trimmed as for the corpus."""
    return np.stack([utterance_functionals(trim_silence(c, trim_top_db), sr) for c in clips])


def fit_judge(
    utterances: Sequence[Utterance],
    classes: list[str],
    trim_top_db: float,
    cache_dir: Path | None,
    c_grid: Sequence[float],
    n_components: int = 16,
) -> FunctionalJudge:
    """Fit on `utterances` (original files; C by leave-one-speaker-out on them) with the class
    order `classes`; utterances of other emotions are left out."""
    kept = [u for u in utterances if u.emotion in classes]
    feats = np.stack([clip_functionals(u.path, trim_top_db, cache_dir) for u in kept])
    y = np.array([classes.index(u.emotion) for u in kept])
    speakers = np.array([u.speaker for u in kept])
    x = speaker_normalise(feats, speakers)
    c = choose_c(x, y, speakers, c_grid)
    mu, sd = x.mean(0), x.std(0) + 1e-8
    svm = SVC(kernel="linear", C=c).fit((x - mu) / sd, y)
    raw_mu, raw_sd = feats.mean(0), feats.std(0) + 1e-8
    _, _, vt = np.linalg.svd((feats - raw_mu) / raw_sd, full_matrices=False)
    return FunctionalJudge(classes, svm, mu, sd, raw_mu, raw_sd, vt[:n_components].T, c)
