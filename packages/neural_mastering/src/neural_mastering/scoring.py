"""Score a model against the two baselines on (input, target) pairs.

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

from neural_mastering.mastering import master_track
from neural_mastering.metrics import METRICS, compare, loudness_matched
from neural_mastering.model import MasteringModel

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
