"""`mastering-infer`: master a song with a trained model (the shipped one by default).

Any length, mono or stereo, any sample rate (the output keeps the input's rate and length).
The model runs at its own rate; long files go through overlapping, cross-faded chunks; the
result is loudness-normalised to --target-lufs and a final gain keeps the true peak below
--ceiling dBTP. Writes SONG_mastered.wav beside the input unless -o says otherwise; never
overwrites without --overwrite.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import ExitStack
from pathlib import Path

from neural_mastering.audio_io import WRITE_SUFFIXES, load_audio, write_audio
from neural_mastering.checkpoint import load_trained
from neural_mastering.config import PHASES
from neural_mastering.mastering import master_audio
from neural_mastering.report import build_report, plot_report
from sigshared.cli import check_output_path, cli_entry, finite_float, require_file
from sigshared.errors import OutputError
from sigshared.files import atomic_output
from sigshared.training import select_device


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mastering-infer",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "song", help="input audio file (WAV, FLAC, OGG, AIFF: any libsndfile format)"
    )
    parser.add_argument(
        "-o",
        "--output",
        help=f"output file, {' / '.join(WRITE_SUFFIXES)} (default: SONG_mastered.wav beside "
        "the input)",
    )
    parser.add_argument(
        "--checkpoint", help="model checkpoint (default: the one shipped in the package)"
    )
    parser.add_argument(
        "--phase", choices=PHASES, help="require the checkpoint to be of this phase"
    )
    parser.add_argument(
        "--target-lufs",
        type=finite_float(-70.0, 0.0),
        default=-14.0,
        help="integrated loudness of the output in LUFS, -70..0 (default -14)",
    )
    parser.add_argument(
        "--ceiling",
        type=finite_float(-20.0, 0.0),
        default=-1.0,
        help="true-peak ceiling in dBTP, -20..0 (default -1.0)",
    )
    parser.add_argument(
        "--chunk-s",
        type=finite_float(1.0, 600.0),
        default=10.0,
        help="seconds per processing chunk, 1..600 (default 10)",
    )
    parser.add_argument(
        "--latent-s",
        type=finite_float(0.0),
        default=60.0,
        help="seconds of evenly spaced excerpts the EQ is chosen from when the song is longer "
        "(default 60; 0: the whole song, slower)",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="also write OUTPUT.json (EQ bands, levels before / after) and OUTPUT.png "
        "(EQ curve, spectra)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda", "mps"],
        help="where to run (default: auto)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--overwrite", action="store_true", help="allow replacing existing output files"
    )
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    song = require_file(args.song, "input song")
    out = Path(args.output) if args.output else song.with_name(f"{song.stem}_mastered.wav")
    if out.resolve() == song.resolve():
        raise OutputError(f"the output {out} is the input; choose another -o")
    out = check_output_path(out, suffixes=WRITE_SUFFIXES, overwrite=args.overwrite)
    extras = [out.with_suffix(".json"), out.with_suffix(".png")] if args.report else []
    for p in extras:
        check_output_path(p, overwrite=args.overwrite, what="report")
    x, sr = load_audio(song)
    device = select_device(args.device)
    trained = load_trained(args.checkpoint, args.phase)
    started = time.perf_counter()
    result = master_audio(
        trained,
        x,
        sr,
        target_lufs=args.target_lufs,
        ceiling_db=args.ceiling,
        chunk_s=args.chunk_s,
        latent_s=args.latent_s,
        device=device,
        progress=not args.quiet,
    )
    elapsed = time.perf_counter() - started
    report = None
    if args.report:
        report = {"input": str(song), "output": str(out)}
        report |= build_report(
            result, x, sr, trained.config.model.phase, args.target_lufs, args.ceiling
        )
    # All outputs are written to temporary names first and renamed together at the end, so a
    # failure in any of them leaves none behind.
    with ExitStack() as stack:
        write_audio(stack.enter_context(atomic_output(out)), result.audio, sr, fmt=out.suffix)
        if report is not None:
            stack.enter_context(atomic_output(extras[0])).write_text(json.dumps(report, indent=2))
            png = stack.enter_context(atomic_output(extras[1]))
            plot_report(png, result.track, x, result.audio, sr, trained.config.model.sample_rate)
    duration = x.shape[1] / sr
    print(
        f"{out}: {duration:.1f} s, phase {trained.config.model.phase}, output gain "
        f"{result.gain_db:+.1f} dB, {duration / elapsed:.1f}x real time"
    )
    if result.ceiling_limited:
        print(
            f"note: the output is below {args.target_lufs:g} LUFS: the {args.ceiling:g} dBTP "
            "ceiling capped the gain (lower --target-lufs or raise --ceiling)"
        )
    if report is not None:
        print(f"report: {extras[0]}, {extras[1]}")


if __name__ == "__main__":
    main()
