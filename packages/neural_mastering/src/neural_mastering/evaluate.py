"""`mastering-eval`: score a model against two baselines (unprocessed, loudness-matched input).

Test sets: `--pairs DIR` (unmastered/ + mastered/), `--tracks DIR` (finished tracks, each
de-mastered by a seeded random chain) and/or `--synthetic N` (N built-in synthetic songs,
de-mastered likewise; `--seed` picks the test set, by default one disjoint from training).
Prints one table per set and writes
report.json into the output folder.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from neural_mastering.audio_io import load_audio, resample
from neural_mastering.data import audio_files, find_pairs, load_pair
from neural_mastering.demaster import demaster
from neural_mastering.modelio import load_model
from neural_mastering.scoring import format_scores, score_items
from neural_mastering.synthetic import synth_song
from sigshared.cli import add_common_arguments, cli_entry
from sigshared.errors import UserError
from sigshared.training import create_run_dir, select_device

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


@cli_entry
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="mastering-eval",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser, default_config=None)
    parser.add_argument("--checkpoint", help="model checkpoint (default: the shipped one)")
    parser.add_argument("--pairs", metavar="DIR", help="folder with unmastered/ and mastered/")
    parser.add_argument(
        "--tracks", metavar="DIR", help="folder of finished tracks (self-supervised)"
    )
    parser.add_argument(
        "--synthetic", type=int, default=0, metavar="N", help="N synthetic test songs"
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per synthetic song (default 10)"
    )
    args = parser.parse_args(argv)
    if not (args.pairs or args.tracks or args.synthetic > 0):
        raise UserError("nothing to evaluate: give --pairs DIR, --tracks DIR or --synthetic N")
    model, cfg = load_model(args.checkpoint)
    sr = cfg.model.sample_rate
    device = select_device(args.device)
    seed = TEST_SEED if args.seed is None else args.seed
    sets = {}
    if args.pairs:
        sets["pairs"] = pairs_set(args.pairs, sr)
    if args.tracks:
        sets["tracks"] = tracks_set(args.tracks, sr, seed)
    if args.synthetic > 0:
        sets["synthetic"] = synthetic_set(args.synthetic, args.duration, sr, seed)
    run_dir = create_run_dir("neural_mastering", args.out, overwrite=args.overwrite)
    report = {"checkpoint": str(args.checkpoint or "shipped default"), "phase": cfg.model.phase}
    for name, pairs in sets.items():
        scores = score_items(model, pairs, sr, device=device, progress=not args.quiet)
        report[name] = {"items": len(pairs), "scores": scores}
        print(f"\n{name} ({len(pairs)} items; lower is better)\n{format_scores(scores)}")
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    print(f"\nreport: {run_dir / 'report.json'}")


if __name__ == "__main__":
    main()
