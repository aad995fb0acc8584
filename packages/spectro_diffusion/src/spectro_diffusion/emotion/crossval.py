"""Speaker-independent cross-validation of emotion recognition from utterance functionals.

Protocol (the usual one for EmoDB in the literature, e.g. Schuller et al. 2009; Eyben et al.
2016): every fold holds out whole speakers (leave-one-speaker-out, or k speaker folds); each
utterance is described by the functionals of `functionals.py`; features are z-normalised per
speaker (mean and deviation over all of that speaker's utterances, labels unused; for a test
speaker this uses their unlabelled test utterances, the standard "speaker normalisation"),
then standardised with the training folds' statistics; a linear SVM (one-vs-one, sklearn's
SVC) is trained, its C chosen per outer fold by an inner leave-one-speaker-out on the training
speakers only (nested, so no test speaker influences the choice).

Reported: accuracy and unweighted accuracy (UA, the mean of per-class recalls) per fold and
overall (over the pooled predictions), the mean of the per-fold UAs, and the confusion matrix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from sklearn.svm import SVC
from tqdm.auto import tqdm

from sigshared.errors import DataError
from sigshared.files import unique_temp_path
from spectro_diffusion.emotion.config import EmotionConfig
from spectro_diffusion.emotion.corpora import (
    EMOTIONS,
    Utterance,
    scan_corpus,
    speaker_folds,
    speaker_gender,
)
from spectro_diffusion.emotion.data import resolve_root
from spectro_diffusion.emotion.evaluation import confusion_matrix_np, unweighted_accuracy
from spectro_diffusion.emotion.features import trim_silence
from spectro_diffusion.emotion.functionals import utterance_functionals

FEATURE_VERSION = "functionals-v2"  # part of the cache key: bump when the features change


@dataclass
class FeatureSet:
    """(N, D) functionals, (N,) class indices, the utterances' speakers and the class names."""

    features: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    classes: list[str]


def clip_functionals(path: str | Path, trim_top_db: float, cache_dir: Path | None) -> np.ndarray:
    """The functionals of one WAV (mono, its own sample rate, silence trimmed), cached as NPY
    keyed by the file (path, size, mtime) and FEATURE_VERSION."""
    path = Path(path)
    cache = None
    if cache_dir is not None:
        st = path.stat()
        ident = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{trim_top_db}|{FEATURE_VERSION}"
        cache = cache_dir / (hashlib.sha1(ident.encode()).hexdigest()[:16] + ".npy")
        if cache.is_file():
            return np.load(cache)
    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises its own LibsndfileError / RuntimeError
        raise DataError(f"cannot read audio file {path}: {err}; remove or replace it") from None
    audio = audio.mean(axis=1)
    if audio.size == 0 or not np.isfinite(audio).all() or not np.abs(audio).max() > 0:
        raise DataError(f"audio file {path} is empty, silent or holds NaN/Inf samples")
    feats = utterance_functionals(trim_silence(audio, trim_top_db), sr)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = unique_temp_path(cache)
        with open(tmp, "wb") as f:
            np.save(f, feats)
        tmp.replace(cache)
    return feats


def corpus_features(
    utterances: Sequence[Utterance],
    trim_top_db: float,
    cache_dir: Path | None,
    progress: bool = False,
) -> FeatureSet:
    """Functionals of every utterance; classes in the order of the shared label space."""
    present = {u.emotion for u in utterances}
    classes = [e for e in EMOTIONS if e in present]
    index = {c: i for i, c in enumerate(classes)}
    rows = [
        clip_functionals(u.path, trim_top_db, cache_dir)
        for u in tqdm(utterances, desc="functionals", disable=not progress, leave=False)
    ]
    return FeatureSet(
        np.stack(rows),
        np.array([index[u.emotion] for u in utterances]),
        np.array([u.speaker for u in utterances]),
        classes,
    )


def speaker_normalise(x: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """(N, D) features z-scored within each speaker (population deviation, floor 1e-8)."""
    out = np.empty_like(x, dtype=np.float64)
    for s in np.unique(speakers):
        rows = speakers == s
        out[rows] = (x[rows] - x[rows].mean(0)) / (x[rows].std(0) + 1e-8)
    return out


def _fit_predict(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, c: float) -> np.ndarray:
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-8
    return SVC(kernel="linear", C=c).fit((xtr - mu) / sd, ytr).predict((xte - mu) / sd)


def choose_c(x: np.ndarray, y: np.ndarray, speakers: np.ndarray, grid: Sequence[float]) -> float:
    """The C of `grid` with the best leave-one-speaker-out UA on these speakers (ties: smaller)."""
    best_c, best_ua = grid[0], -1.0
    for c in sorted(grid):
        pred = np.empty_like(y)
        for s in np.unique(speakers):
            rows = speakers == s
            pred[rows] = _fit_predict(x[~rows], y[~rows], x[rows], c)
        ua = unweighted_accuracy(y, pred)
        if ua > best_ua:
            best_c, best_ua = c, ua
    return best_c


def cross_validate(
    data: FeatureSet,
    folds: Sequence[Sequence[str]],
    c_grid: Sequence[float],
    speaker_norm: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the protocol of the module docstring over `folds` (lists of test speakers)."""
    x = speaker_normalise(data.features, data.speakers) if speaker_norm else data.features
    y = data.labels
    pred = np.full_like(y, -1)
    per_fold = []
    for test in tqdm(folds, desc="folds", disable=not progress, leave=False):
        rows = np.isin(data.speakers, list(test))
        if not rows.any() or rows.all():
            raise DataError(f"fold with test speakers {list(test)} leaves no test or no training")
        c = choose_c(x[~rows], y[~rows], data.speakers[~rows], c_grid)
        pred[rows] = _fit_predict(x[~rows], y[~rows], x[rows], c)
        per_fold.append(
            {
                "test_speakers": sorted(test),
                "genders": [speaker_gender(s) for s in sorted(test)],
                "clips": int(rows.sum()),
                "accuracy": float(np.mean(pred[rows] == y[rows])),
                "unweighted_accuracy": unweighted_accuracy(y[rows], pred[rows]),
                "svm_c": c,
            }
        )
    n = len(data.classes)
    return {
        "classes": data.classes,
        "clips": int(len(y)),
        "speakers": int(len(np.unique(data.speakers))),
        "features": int(x.shape[1]),
        "speaker_normalisation": speaker_norm,
        "accuracy": float(np.mean(pred == y)),
        "unweighted_accuracy": unweighted_accuracy(y, pred),
        "mean_fold_unweighted_accuracy": float(
            np.mean([f["unweighted_accuracy"] for f in per_fold])
        ),
        "chance": 1 / n,
        "confusion_matrix": confusion_matrix_np(y, pred, n).tolist(),
        "folds": per_fold,
    }


def corpus_cross_validation(
    cfg: EmotionConfig, k: int | None, balance_gender: bool, progress: bool = False
) -> dict[str, Any]:
    """Cross-validate on the corpus of `cfg.data` (all of it, every split): leave-one-speaker-
    out when k is None, else k speaker folds (gender-balanced if asked)."""
    root = resolve_root(cfg.data)
    scan = scan_corpus(root, cfg.data.corpus, cfg.data.include_song)
    if not scan.utterances:
        raise DataError(f"no usable {scan.corpus} WAV files in {root}")
    speakers = sorted({u.speaker for u in scan.utterances})
    try:
        folds = speaker_folds(speakers, k, balance_gender, cfg.data.split_seed)
    except ValueError as err:
        raise DataError(f"{root}: {err}") from None
    cache = Path(cfg.data.cache_dir) / "functionals"
    data = corpus_features(scan.utterances, cfg.data.mel.trim_top_db, cache, progress)
    c = cfg.classifier
    report = cross_validate(data, folds, c.svm_c_grid, c.speaker_norm, progress)
    return {
        "corpus": scan.corpus,
        "root": str(root),
        "scheme": "loso" if k is None else f"{k} speaker folds",
        **report,
    }
