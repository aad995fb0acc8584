"""Held-out evaluation on real music: de-mastered pieces the model never saw, and finished
masters left as they are.

Usage: OMP_NUM_THREADS=1 uv run python packages/neural_mastering/benchmarks/heldout_real.py \\
    PIECE [PIECE ...] [--checkpoint CKPT ...] [--chains 4] [--out results.json]

1. Restoration: every piece is de-mastered by `--chains` random chains (`demaster.demaster`)
   seeded [TEST_SEED + k, i] (training chains use [data.seed, index] with a small data.seed),
   both channels, at 44.1 kHz; each method's output is loudness-matched to the original and
   scored against it (`metrics.compare`): multi-resolution STFT distance and octave-band
   balance error (dB). Methods: each checkpoint (the network hears its input normalised to
   `mastering.REFERENCE_LUFS`, as `mastering-infer` does; for a model with a residual, also
   its EQ alone), and the loudness-matched input.
2. Finished masters: the pieces as they are, through each model; the largest change of any
   octave band's share of the energy (31 Hz - 16 kHz, dB) between input and output.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from neural_mastering.audio_io import load_audio, resample
from neural_mastering.checkpoint import load_trained
from neural_mastering.demaster import demaster
from neural_mastering.evaluation import TEST_SEED
from neural_mastering.mastering import REFERENCE_LUFS, master_track
from neural_mastering.metrics import compare, loudness_matched, lufs, spectral_balance_db


def run_model(trained, x: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """{"model": output, and "model EQ only" when it has a residual} at x's level."""
    norm = 10 ** ((REFERENCE_LUFS - lufs(x, sr)) / 20)
    track = master_track(trained.model, x * np.float32(norm))
    outs = {"": track.audio / norm}
    if track.residual is not None:
        outs[" EQ only"] = track.eq_output / norm
    return outs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pieces", nargs="+")
    parser.add_argument("--checkpoint", nargs="+", default=[None], help="default: shipped")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--out")
    args = parser.parse_args()
    models = {(c or "shipped"): load_trained(c) for c in args.checkpoint}
    sr = 44100
    rows: dict[str, list[dict[str, float]]] = {}
    finished: dict[str, dict[str, float]] = {}
    for i, path in enumerate(args.pieces):
        x, rate = load_audio(path)
        target = resample(x, rate, sr)
        name = Path(path).name[:40]
        for label, trained in models.items():
            for suffix, out in run_model(trained, target, sr).items():
                change = spectral_balance_db(out, sr) - spectral_balance_db(target, sr)
                finished.setdefault(label + suffix, {})[name] = float(np.abs(change).max())
        for k in range(args.chains):
            source, _ = demaster(target, sr, np.random.default_rng([TEST_SEED + k, i]))
            matched = loudness_matched(source, target, sr)
            rows.setdefault("loudness-matched input", []).append(compare(matched, target, sr))
            for label, trained in models.items():
                for suffix, out in run_model(trained, source, sr).items():
                    scored = compare(loudness_matched(out, target, sr), target, sr)
                    rows.setdefault(label + suffix, []).append(scored)
    table = {
        m: {k: float(np.mean([r[k] for r in rs])) for k in ("stft", "balance_error")}
        for m, rs in rows.items()
    }
    print(f"{len(args.pieces)} pieces x {args.chains} held-out chains (loudness-matched):")
    print("| method | MR-STFT | balance error (dB) |\n| --- | --- | --- |")
    for m, r in table.items():
        print(f"| {m} | {r['stft']:.3f} | {r['balance_error']:.2f} |")
    print("\nfinished masters, largest octave-band change (dB):")
    for m, per in finished.items():
        print(f"{m}: " + ", ".join(f"{k} {v:.2f}" for k, v in per.items()))
    if args.out:
        Path(args.out).write_text(
            json.dumps({"restoration": table, "finished": finished}, indent=2)
        )


if __name__ == "__main__":
    main()
