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
from pathlib import Path

import numpy as np

from neural_mastering.audio_io import load_audio, resample, write_audio
from neural_mastering.mastering import finalize_level, master_track
from neural_mastering.metrics import lufs
from neural_mastering.model import PHASES
from neural_mastering.modelio import load_model
from neural_mastering.report import band_table, level_stats, plot_report
from sigshared.cli import cli_entry, refuse_overwrite, require_file
from sigshared.errors import UserError
from sigshared.training import select_device

# How far below the target loudness the output may land before it counts as capped (LU).
LOUDNESS_TOLERANCE_LU = 0.1


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
        "-o", "--output", help="output file (default: SONG_mastered.wav beside the input)"
    )
    parser.add_argument(
        "--checkpoint", help="model checkpoint (default: the one shipped in the package)"
    )
    parser.add_argument(
        "--phase", choices=PHASES, help="require the checkpoint to be of this phase"
    )
    parser.add_argument(
        "--target-lufs",
        type=float,
        default=-14.0,
        help="integrated loudness of the output in LUFS (default -14)",
    )
    parser.add_argument(
        "--ceiling", type=float, default=-1.0, help="true-peak ceiling in dBTP, <= 0 (default -1.0)"
    )
    parser.add_argument(
        "--chunk-s", type=float, default=10.0, help="seconds per processing chunk (default 10)"
    )
    parser.add_argument(
        "--latent-s",
        type=float,
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
    if args.ceiling > 0:
        raise UserError(f"--ceiling must be <= 0 dBTP; got {args.ceiling}")
    if args.chunk_s < 1:
        raise UserError(f"--chunk-s must be >= 1 second; got {args.chunk_s}")
    if args.latent_s < 0:
        raise UserError(f"--latent-s must be >= 0 seconds; got {args.latent_s}")
    out = Path(args.output) if args.output else song.with_name(f"{song.stem}_mastered.wav")
    if out.resolve() == song.resolve():
        raise UserError(f"the output {out} is the input; choose another -o")
    outputs = [out] + ([out.with_suffix(".json"), out.with_suffix(".png")] if args.report else [])
    for p in outputs:
        refuse_overwrite(p, args.overwrite)
    x, sr = load_audio(song)
    device = select_device(args.device)
    model, cfg = load_model(args.checkpoint, args.phase)
    model_sr = cfg.model.sample_rate
    started = time.perf_counter()
    track = master_track(
        model,
        resample(x, sr, model_sr),
        chunk_s=args.chunk_s,
        device=device,
        latent_s=args.latent_s or None,
        progress=not args.quiet,
    )
    y = resample(track.audio, model_sr, sr)
    y = np.pad(y, ((0, 0), (0, max(0, x.shape[1] - y.shape[1]))))[:, : x.shape[1]]
    y, gain_db = finalize_level(y, sr, args.target_lufs, args.ceiling)
    elapsed = time.perf_counter() - started
    write_audio(out, y, sr)
    duration = x.shape[1] / sr
    print(
        f"{out}: {duration:.1f} s, phase {cfg.model.phase}, output gain {gain_db:+.1f} dB, "
        f"{duration / elapsed:.1f}x real time"
    )
    reached_lufs = lufs(y, sr)
    ceiling_limited = bool(
        args.target_lufs is not None
        and np.isfinite(reached_lufs)
        and reached_lufs < args.target_lufs - LOUDNESS_TOLERANCE_LU
    )
    if ceiling_limited:
        # No limiter runs after the model, so a peaky master cannot reach the target safely.
        print(
            f"note: the output is {reached_lufs:.1f} LUFS, not {args.target_lufs:g}: the "
            f"{args.ceiling:g} dBTP ceiling capped the gain (lower --target-lufs or raise "
            "--ceiling)"
        )
    if args.report:
        report = {
            "input": str(song),
            "output": str(out),
            "phase": cfg.model.phase,
            "sample_rate": sr,
            "channels": int(x.shape[0]),
            "eq_bands": band_table(track),
            "makeup_gain_db": float(track.params["makeup_db"]),
            "output_gain_db": gain_db,
            "target_lufs": args.target_lufs,
            "ceiling_dbtp": args.ceiling,
            "ceiling_limited": ceiling_limited,
            "before": level_stats(x, sr),
            "after": level_stats(y, sr),
        }
        if "band_weights" in track.params:
            report["band_weights"] = [float(w) for w in track.params["band_weights"]]
        out.with_suffix(".json").write_text(json.dumps(report, indent=2))
        plot_report(out.with_suffix(".png"), track, x, y, sr, model_sr)
        print(f"report: {out.with_suffix('.json')}, {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
