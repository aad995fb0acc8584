"""Held-out evaluation on real music: de-mastered pieces the model never saw, and finished
masters left as they are.

Usage: OMP_NUM_THREADS=1 uv run python packages/neural_mastering/benchmarks/heldout_real.py \\
    PIECE [PIECE ...] [--checkpoint CKPT ...] [--chains 20] [--out results.json]

1. Restoration: every piece is de-mastered by `--chains` random chains (`demaster.demaster`)
   seeded [TEST_SEED + k, i] (training chains use [data.seed, index] with a small data.seed),
   both channels, at 44.1 kHz; each method's output is loudness-matched to the original and
   scored against it (`metrics.compare`): multi-resolution STFT distance and octave-band
   balance error (dB). Methods: each checkpoint (the network hears its input normalised to
   `mastering.REFERENCE_LUFS`, as `mastering-infer` does; for a model with a residual, also
   its EQ alone), and the loudness-matched input. Also printed: each octave's RMS (over
   items) of the balance difference, the means per piece, and each method's paired
   difference to the input (mean over items with a 95 % t interval, and the share of items
   it wins). The items are pieces x chains: with few pieces the interval speaks for these
   pieces' chains, not for music at large.
2. Finished masters: the pieces as they are, through each model; the largest change of any
   octave band's share of the energy (31 Hz - 16 kHz, dB) between input and output.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import scipy.stats

from neural_mastering.audio_io import load_audio, resample
from neural_mastering.checkpoint import load_trained
from neural_mastering.demaster import demaster
from neural_mastering.evaluation import TEST_SEED
from neural_mastering.mastering import REFERENCE_LUFS, master_track
from neural_mastering.metrics import (
    OCTAVE_CENTRES_HZ,
    compare,
    loudness_matched,
    lufs,
    spectral_balance_db,
)

INPUT = "loudness-matched input"


def run_model(trained, x: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """{"model": output, and "model EQ only" when it has a residual} at x's level."""
    norm = 10 ** ((REFERENCE_LUFS - lufs(x, sr)) / 20)
    track = master_track(trained.model, x * np.float32(norm))
    outs = {"": track.audio / norm}
    if track.residual is not None:
        outs[" EQ only"] = track.eq_output / norm
    return outs


def score(out: np.ndarray, target: np.ndarray, sr: int, piece: str) -> dict:
    """compare() of out (loudness-matched) against target, with the octave balance difference."""
    matched = loudness_matched(out, target, sr)
    row = compare(matched, target, sr)
    row["octaves"] = spectral_balance_db(matched, sr) - spectral_balance_db(target, sr)
    row["piece"] = piece
    return row


def paired(rows: list[dict], base: list[dict], key: str) -> tuple[float, float, float, float]:
    """Mean of rows[key] - base[key] over items, its 95 % t interval, and the share below 0."""
    d = np.array([r[key] - b[key] for r, b in zip(rows, base)])
    half = (
        scipy.stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        if len(d) > 1
        else np.nan
    )
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half), float(np.mean(d < 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pieces", nargs="+")
    parser.add_argument("--checkpoint", nargs="+", default=[None], help="default: shipped")
    parser.add_argument("--chains", type=int, default=20)
    parser.add_argument("--out")
    args = parser.parse_args()
    models = {(c or "shipped"): load_trained(c) for c in args.checkpoint}
    sr = 44100
    rows: dict[str, list[dict]] = {}
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
            rows.setdefault(INPUT, []).append(score(source, target, sr, name))
            for label, trained in models.items():
                for suffix, out in run_model(trained, source, sr).items():
                    rows.setdefault(label + suffix, []).append(score(out, target, sr, name))
    table = {
        m: {k: float(np.mean([r[k] for r in rs])) for k in ("stft", "balance_error")}
        for m, rs in rows.items()
    }
    octaves = {m: np.sqrt(np.mean([r["octaves"] ** 2 for r in rs], 0)) for m, rs in rows.items()}
    names = list(dict.fromkeys(r["piece"] for r in rows[INPUT]))
    n = len(rows[INPUT])
    print(f"{len(args.pieces)} pieces x {args.chains} held-out chains (loudness-matched):")
    print("| method | MR-STFT | balance error (dB) |\n| --- | --- | --- |")
    for m, r in table.items():
        print(f"| {m} | {r['stft']:.3f} | {r['balance_error']:.2f} |")
    print("\nbalance error by octave, RMS over items (dB):")
    print("| method | " + " | ".join(f"{f:.0f} Hz" for f in OCTAVE_CENTRES_HZ) + " |")
    print("| --- " * (len(OCTAVE_CENTRES_HZ) + 1) + "|")
    for m, v in octaves.items():
        print(f"| {m} | " + " | ".join(f"{e:.2f}" for e in v) + " |")
    print("\nmean per piece, MR-STFT / balance error (dB):")
    for m, rs in rows.items():
        per = [[r for r in rs if r["piece"] == p] for p in names]
        means = [[np.mean([r[k] for r in g]) for k in ("stft", "balance_error")] for g in per]
        cells = [f"{a:.3f} / {b:.2f}" for a, b in means]
        print(f"{m}: " + ", ".join(f"{p} {c}" for p, c in zip(names, cells)))
    print(f"\nmethod minus input over the {n} items: mean [95 % interval], share of items won")
    comparison = {}
    for m, rs in rows.items():
        if m == INPUT:
            continue
        comparison[m] = {k: paired(rs, rows[INPUT], k) for k in ("stft", "balance_error")}
        cells = [
            f"{k} {a:+.3f} [{lo:+.3f}, {hi:+.3f}], wins {w:.0%}"
            for k, (a, lo, hi, w) in comparison[m].items()
        ]
        print(f"{m}: " + "; ".join(cells))
    print("\nfinished masters, largest octave-band change (dB):")
    for m, per in finished.items():
        print(f"{m}: " + ", ".join(f"{k} {v:.2f}" for k, v in per.items()))
    if args.out:
        result = {
            "restoration": table,
            "octave_rms_db": {m: v.tolist() for m, v in octaves.items()},
            "minus_input": comparison,
            "finished": finished,
        }
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
