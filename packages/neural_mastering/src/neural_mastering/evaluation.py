"""Test sets and scoring of a model against the two baselines on (input, target) pairs.

Sets: `synthetic_set` (built-in songs), `tracks_set` (finished tracks, each de-mastered by a
seeded chain), `pairs_set` (unmastered / mastered folders).

Methods: "model" (the inference path of `mastering.master_track`), "unprocessed" (the input
as it is) and "loudness_matched" (the input with one gain that matches the target's LUFS).
"model_loudness_matched" (the model's output with that same kind of gain) separates what the
EQ and residual do from what the level does; `mastering-infer` always normalises loudness.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from tqdm.auto import tqdm

from neural_mastering.audio_io import load_audio, resample
from neural_mastering.data import audio_files, find_pairs, load_pair
from neural_mastering.demaster import demaster
from neural_mastering.mastering import master_track
from neural_mastering.metrics import METRICS, compare, loudness_matched
from neural_mastering.model import MasteringModel
from neural_mastering.synthetic import synth_song

# Test-set seeds: far from the training items' seeds ([data.seed, index] with small data.seed).
TEST_SEED = 987_654


def synthetic_set(
    n: int, duration_s: float, sr: int, seed: int = TEST_SEED
) -> list[tuple[np.ndarray, np.ndarray]]:
    """n de-mastered synthetic songs: (input (1, T), target (1, T)) at sr."""
    pairs = []
    for i in range(n):
        target = synth_song(seed + i, duration_s, sr)[None]
        source, _ = demaster(target, sr, np.random.default_rng([seed, i]))
        pairs.append((source, target))
    return pairs


def tracks_set(folder: str, sr: int, seed: int = TEST_SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every track of `folder` at sr with its channels, de-mastered by a seeded chain."""
    pairs = []
    for i, f in enumerate(audio_files(folder, "tracks folder")):
        x, rate = load_audio(f)
        target = resample(x, rate, sr)
        source, _ = demaster(target, sr, np.random.default_rng([seed, i]))
        pairs.append((source, target))
    return pairs


def pairs_set(folder: str, sr: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every (unmastered, mastered) pair of `folder`, mono at sr."""
    return [tuple(s[None] for s in load_pair(a, b, sr)) for a, b in find_pairs(folder)]


METHODS = ("model", "model_loudness_matched", "unprocessed", "loudness_matched")


def score_items(
    model: MasteringModel,
    pairs: list[tuple[np.ndarray, np.ndarray]],
    sample_rate: int,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> dict[str, dict[str, float]]:
    """Mean of every metric per method over pairs of (C, T) arrays at the model rate."""
    rows: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
    bar = tqdm(pairs, desc="scoring", disable=not (progress and sys.stderr.isatty()), leave=False)
    for x, target in bar:
        out = master_track(model, x, device=device).audio
        rows["model"].append(compare(out, target, sample_rate))
        matched = loudness_matched(out, target, sample_rate)
        rows["model_loudness_matched"].append(compare(matched, target, sample_rate))
        rows["unprocessed"].append(compare(x, target, sample_rate))
        rows["loudness_matched"].append(
            compare(loudness_matched(x, target, sample_rate), target, sample_rate)
        )
    return {m: {k: float(np.mean([r[k] for r in rows[m]])) for k in METRICS} for m in METHODS}


def format_scores(scores: dict[str, dict[str, float]]) -> str:
    """A plain-text table: one row per method, one column per metric (means)."""
    lines = [f"{'method':<24}" + "".join(f"{m:>17}" for m in METRICS)]
    for method, row in scores.items():
        lines.append(f"{method:<24}" + "".join(f"{row[m]:>17.4f}" for m in METRICS))
    return "\n".join(lines)
