"""`mastering-infer`: master songs with a trained model (the shipped one by default).

Any length, mono or stereo, any sample rate, any format libsndfile reads (WAV, FLAC, OGG,
MP3, AIFF); the output keeps the input's rate, channels and length. The network hears each
song loudness-normalised, sets an EQ (and a residual, dropped if it misbehaves); the last stage
blocks DC, sets the integrated loudness and limits the true peak with a look-ahead brickwall
limiter. Writes SONG_mastered.wav beside each input unless -o names a file (one input) or a
folder (ending in /, or an existing folder); never overwrites without --overwrite.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from neural_mastering.audio_io import (
    BIT_DEPTHS,
    WRITE_SUFFIXES,
    AudioWriter,
    check_audio_file,
    check_bit_depth,
    load_audio,
    write_audio,
)
from neural_mastering.blockio import FileSource
from neural_mastering.checkpoint import load_trained
from neural_mastering.config import PHASES
from neural_mastering.delivery import GR_WARNING_DB, PRESETS
from neural_mastering.mastering import master_audio
from neural_mastering.metrics import lufs
from neural_mastering.reference import reference_balance
from neural_mastering.report import (
    build_report,
    build_stream_report,
    plot_report,
    plot_stream_report,
)
from neural_mastering.streaming import master_stream
from sigshared.cli import check_output_path, cli_entry, finite_float
from sigshared.errors import ConfigError, OutputError
from sigshared.files import atomic_output
from sigshared.training import select_device

DEFAULT_PRESET = "streaming"
# How far the reached loudness may sit from the target before the command says so (LU).
TARGET_TOLERANCE_LU = 0.3


def build_parser() -> argparse.ArgumentParser:
    presets = ", ".join(f"{k} ({v[0]:g} LUFS, {v[1]:g} dBTP)" for k, v in PRESETS.items())
    parser = argparse.ArgumentParser(
        prog="mastering-infer",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("songs", nargs="+", metavar="SONG", help="input audio files")
    parser.add_argument(
        "-o",
        "--output",
        help=f"output file ({' / '.join(WRITE_SUFFIXES)}; one input only) or folder (ends "
        "in / or exists): SONG_mastered.wav inside (default: beside each input)",
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=DEFAULT_PRESET,
        help=f"delivery target: {presets} (default {DEFAULT_PRESET})",
    )
    parser.add_argument(
        "--target-lufs",
        type=finite_float(-70.0, 0.0),
        help="integrated loudness of the output in LUFS, -70..0 (overrides the preset's)",
    )
    parser.add_argument(
        "--ceiling",
        type=finite_float(-20.0, 0.0),
        help="true-peak ceiling in dBTP, -20..0 (overrides the preset's)",
    )
    parser.add_argument(
        "--mix",
        type=finite_float(0.0, 100.0),
        default=100.0,
        help="wet/dry in percent, 0..100: the processed signal blended with the "
        "loudness-matched original before the last stage (default 100)",
    )
    parser.add_argument(
        "--eq-amount",
        type=finite_float(0.0, 100.0),
        default=100.0,
        help="percent of the predicted EQ band gains applied, 0..100 (default 100)",
    )
    parser.add_argument(
        "--reference",
        nargs="+",
        metavar="REF",
        help="reference tracks: the output's third-octave balance is matched to theirs and "
        "its loudness to their mean, unless --target-lufs is given (--ceiling still holds)",
    )
    parser.add_argument(
        "--reference-weights",
        nargs="+",
        type=finite_float(0.0, lo_open=True),
        metavar="W",
        help="one weight > 0 per reference (default: equal)",
    )
    parser.add_argument(
        "--bit-depth",
        choices=BIT_DEPTHS,
        default="24",
        help="output sample format: 16 (with TPDF dither), 24 or 32f (float) (default 24)",
    )
    parser.add_argument(
        "--checkpoint", help="model checkpoint (default: the one shipped in the package)"
    )
    parser.add_argument(
        "--phase", choices=PHASES, help="require the checkpoint to be of this phase"
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
        help="also write OUTPUT.json (settings, EQ bands, limiter gain reduction, loudness "
        "range, levels before / after) and OUTPUT.png (EQ, spectra, gain-reduction trace)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the 16-bit dither")
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


def output_paths(songs: list[Path], output: str | None) -> list[Path]:
    """The output file of each input song for `-o` (None, a file or a folder)."""
    if output is not None and (output.endswith(("/", "\\")) or Path(output).is_dir()):
        outs = [Path(output) / f"{s.stem}_mastered.wav" for s in songs]
    elif output is not None:
        if len(songs) > 1:
            raise OutputError(f"{len(songs)} inputs need an output folder, not the file {output}")
        outs = [Path(output)]
    else:
        outs = [s.with_name(f"{s.stem}_mastered.wav") for s in songs]
    seen: dict[Path, Path] = {}
    for song, out in zip(songs, outs, strict=True):
        if out.resolve() == song.resolve():
            raise OutputError(f"the output {out} is the input; choose another -o")
        if out.resolve() in seen:
            raise OutputError(f"{seen[out.resolve()]} and {song} would both be written to {out}")
        seen[out.resolve()] = song
    return outs


@cli_entry
def main(argv: list[str] | None = None) -> None:
    # Intermixed: songs may come before and after the flags (a.wav --report b.wav).
    args = build_parser().parse_intermixed_args(argv)
    target, ceiling = PRESETS[args.preset]
    target = target if args.target_lufs is None else args.target_lufs
    ceiling = ceiling if args.ceiling is None else args.ceiling
    songs = [Path(s) for s in args.songs]
    for song in songs + [Path(r) for r in args.reference or []]:
        check_audio_file(song)
    if args.reference_weights and len(args.reference_weights) != len(args.reference or []):
        raise ConfigError(
            f"--reference-weights gives {len(args.reference_weights)} weights for "
            f"{len(args.reference or [])} references; give one per reference"
        )
    outs = output_paths(songs, args.output)
    plan = []
    for out in outs:
        check_output_path(out, suffixes=WRITE_SUFFIXES, overwrite=args.overwrite)
        check_bit_depth(out.suffix, args.bit_depth)
        extras = [out.with_suffix(".json"), out.with_suffix(".png")] if args.report else []
        for p in extras:
            check_output_path(p, overwrite=args.overwrite, what="report")
        plan.append((out, extras))
    reference_db = None
    if args.reference:
        refs = [load_audio(r) for r in args.reference]
        reference_db = reference_balance(refs, args.reference_weights)
        if args.target_lufs is None:
            w = args.reference_weights or [1.0] * len(refs)
            target = float(np.average([lufs(x, sr) for x, sr in refs], weights=w))
            print(f"reference loudness: {target:.1f} LUFS")
    device = select_device(args.device)
    trained = load_trained(args.checkpoint, args.phase)
    rng = np.random.default_rng(args.seed)
    bar = tqdm(
        list(zip(songs, plan, strict=True)),
        desc="mastering",
        unit="song",
        disable=args.quiet or not sys.stderr.isatty() or len(songs) == 1,
    )
    for song, (out, extras) in bar:
        master_one(args, trained, song, out, extras, target, ceiling, reference_db, device, rng)


def _settings(args, target: float, ceiling: float) -> dict:
    return {
        "preset": args.preset,
        "target_lufs": target,
        "ceiling_dbtp": ceiling,
        "mix_percent": args.mix,
        "eq_amount_percent": args.eq_amount,
        "bit_depth": args.bit_depth,
        "references": args.reference or [],
        "reference_weights": args.reference_weights or [],
    }


def master_one(
    args, trained, song, out, extras, target, ceiling, reference_db, device, rng
) -> None:
    """Master one song into `out` (and the report files `extras`) and print what happened:
    streamed through the file in blocks (`streaming.master_stream`), or held in memory when
    references are given (`mastering.master_audio`: the balance match filters the whole
    song)."""
    started = time.perf_counter()
    phase = trained.config.model.phase
    # the settings both chains take
    chain = {
        "target_lufs": target,
        "ceiling_db": ceiling,
        "chunk_s": args.chunk_s,
        "latent_s": args.latent_s,
        "mix": args.mix / 100,
        "eq_amount": args.eq_amount / 100,
        "device": device,
    }
    # All outputs go to temporary names first and are renamed together at the end, so a
    # failure in any of them leaves none behind.
    with ExitStack() as stack:
        tmp = stack.enter_context(atomic_output(out))
        if reference_db is None:
            source = stack.enter_context(FileSource(song))
            writer = stack.enter_context(
                AudioWriter(
                    tmp, source.sample_rate, source.channels, out.suffix, args.bit_depth, rng
                )
            )
            r = master_stream(
                trained,
                source,
                writer.write,
                **chain,
                scratch=str(out.parent),
                progress=not args.quiet,
                measure=bool(extras),
            )
            writer.file.close()
            duration = r.frames / r.sample_rate
            summary = (r.lufs, r.true_peak_db, r.reduction_max_db, r.reduction_mean_db, r.silent)
            verdict, distance = r.residual, None
            if extras:
                report = {"input": str(song), "output": str(out)}
                report |= build_stream_report(
                    r, source.channels, phase, _settings(args, target, ceiling)
                )
                stack.enter_context(atomic_output(extras[0])).write_text(
                    json.dumps(report, indent=2)
                )
                plot_stream_report(stack.enter_context(atomic_output(extras[1])), r)
        else:
            x, sr = load_audio(song)
            result = master_audio(
                trained,
                x,
                sr,
                **chain,
                reference_db=reference_db,
                progress=not args.quiet and len(args.songs) == 1,
            )
            d = result.delivered
            write_audio(tmp, d.audio, sr, fmt=out.suffix, bit_depth=args.bit_depth, rng=rng)
            duration = x.shape[1] / sr
            summary = (d.lufs, d.true_peak_db, d.reduction_max_db, d.reduction_mean_db, d.silent)
            verdict, distance = result.residual, result.balance_distance_db
            if extras:
                report = {"input": str(song), "output": str(out)}
                report |= build_report(result, x, sr, phase, _settings(args, target, ceiling))
                stack.enter_context(atomic_output(extras[0])).write_text(
                    json.dumps(report, indent=2)
                )
                png = stack.enter_context(atomic_output(extras[1]))
                plot_report(
                    png,
                    result.track,
                    x,
                    d.audio,
                    d.reduction_db,
                    sr,
                    trained.config.model.sample_rate,
                )
    elapsed = time.perf_counter() - started
    level, peak, red_max, red_mean, silent = summary
    print(
        f"{out}: {duration:.1f} s, {level:.1f} LUFS, true peak {peak:.2f} dBTP, "
        f"limiter max {red_max:.1f} dB / mean {red_mean:.2f} dB, "
        f"{duration / elapsed:.1f}x real time"
    )
    if silent:
        print(f"note: {song} is silent; written without loudness change")
    elif abs(level - target) > TARGET_TOLERANCE_LU:
        print(f"warning: {out} reached {level:.1f} LUFS, not {target:g}")
    if red_max > GR_WARNING_DB:
        print(
            f"warning: the limiter reduced up to {red_max:.1f} dB (over "
            f"{GR_WARNING_DB:g} dB: audible pumping or flattened transients are likely); a "
            "lower --target-lufs or a quieter --preset limits less"
        )
    if not verdict["used"] and trained.model.residual is not None:
        print(f"note: residual path dropped ({verdict['reason']}); EQ only")
    if distance is not None:
        print(
            f"balance distance to the references: {distance['input']:.2f} dB (input) -> "
            f"{distance['output']:.2f} dB (output)"
        )
    if extras:
        print(f"report: {extras[0]}, {extras[1]}")


if __name__ == "__main__":
    main()
