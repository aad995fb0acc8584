"""`mastering-eval`: score a model against two baselines (unprocessed, loudness-matched input).

Test sets: `--pairs DIR` (unmastered/ + mastered/), `--tracks DIR` (finished tracks, each
de-mastered by a seeded random chain) and/or `--synthetic N` (N built-in synthetic songs,
de-mastered likewise; `--seed` picks the test set, by default one disjoint from training).
Prints one table per set and writes report.json into the output folder.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from neural_mastering.checkpoint import load_trained
from neural_mastering.evaluation import (
    TEST_SEED,
    format_scores,
    pairs_set,
    score_items,
    synthetic_set,
    tracks_set,
)
from sigshared.cli import add_common_arguments, bounded_int, cli_entry, finite_float
from sigshared.errors import UserError
from sigshared.files import atomic_output, output_dir
from sigshared.training import select_device


def build_parser() -> argparse.ArgumentParser:
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
        "--synthetic", type=bounded_int(0), default=0, metavar="N", help="N synthetic test songs"
    )
    parser.add_argument(
        "--duration",
        type=finite_float(0.5, 600.0),
        default=10.0,
        help="seconds per synthetic song, 0.5..600 (default 10)",
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if not (args.pairs or args.tracks or args.synthetic > 0):
        raise UserError("nothing to evaluate: give --pairs DIR, --tracks DIR or --synthetic N")
    trained = load_trained(args.checkpoint)
    sr = trained.config.model.sample_rate
    device = select_device(args.device)
    seed = TEST_SEED if args.seed is None else args.seed
    out = (
        Path(args.out)
        if args.out
        else Path("runs/neural_mastering") / time.strftime("eval-%Y%m%d-%H%M%S")
    )
    # The folder is claimed before the work and removed again if the work fails.
    with output_dir(out, overwrite=args.overwrite) as run_dir:
        sets = {}
        if args.pairs:
            sets["pairs"] = pairs_set(args.pairs, sr)
        if args.tracks:
            sets["tracks"] = tracks_set(args.tracks, sr, seed)
        if args.synthetic > 0:
            sets["synthetic"] = synthetic_set(args.synthetic, args.duration, sr, seed)
        report = {"checkpoint": str(trained.path), "phase": trained.config.model.phase}
        for name, pairs in sets.items():
            scores = score_items(trained.model, pairs, sr, device=device, progress=not args.quiet)
            report[name] = {"items": len(pairs), "scores": scores}
            print(f"\n{name} ({len(pairs)} items; lower is better)\n{format_scores(scores)}")
        with atomic_output(run_dir / "report.json") as tmp:
            tmp.write_text(json.dumps(report, indent=2))
    print(f"\nreport: {run_dir / 'report.json'}")


if __name__ == "__main__":
    main()
