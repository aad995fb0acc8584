"""Master every piece of a folder with the shipped model and print one row per piece.

Usage: OMP_NUM_THREADS=1 uv run python packages/neural_mastering/benchmarks/real_music.py \\
    DIR [--preset streaming] [--out results.json]

Each piece goes through what `mastering-infer PIECE` runs: `streaming.master_stream` reading
the file block by block (`blockio.FileSource`); the output blocks are kept in memory here to
be measured. Per piece: LUFS in / out, true peak out by the independent 8x FFT meter, limiter
gain reduction (max / mean), loudness range in / out, the EQ's largest boost and cut, whether
the residual was kept, seconds taken (the streaming chain, start-up excluded) and the
real-time factor; then the level-invariance check: the same piece at -12, -6, 0, +6 dB (the
streaming chain from memory, `blockio.ArraySource`) and the largest difference of its EQ
curves.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from neural_mastering.audio_io import load_audio
from neural_mastering.blockio import ArraySource, FileSource
from neural_mastering.checkpoint import load_trained
from neural_mastering.data import audio_files
from neural_mastering.delivery import PRESETS
from neural_mastering.dsp.eq import magnitude_db
from neural_mastering.dsp.loudness import loudness_range
from neural_mastering.metrics import lufs, true_peak_fft_db
from neural_mastering.streaming import master_stream


def eq_curve(result) -> np.ndarray:
    """The EQ's response (dB) at 200 log-spaced frequencies, 20 Hz .. 20 kHz."""
    f = torch.logspace(np.log10(20), np.log10(20000), 200)
    b, a = torch.from_numpy(result.b), torch.from_numpy(result.a)
    return magnitude_db(b, a, f, result.sample_rate).numpy()


def stream(trained, source, **kw):
    """(output (C, T), result) of `master_stream` from `source`."""
    blocks = []
    result = master_stream(trained, source, blocks.append, **kw)
    return np.concatenate(blocks, axis=1), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--preset", default="streaming", choices=sorted(PRESETS))
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args()
    target, ceiling = PRESETS[args.preset]
    trained = load_trained()
    rows = []
    print(
        f"{'piece':<28}{'s':>6}{'LUFS in':>9}{'out':>7}{'TP 8x':>7}{'GR max':>8}{'mean':>6}"
        f"{'LRA in':>8}{'out':>6}{'EQ +':>6}{'EQ -':>6}{'resid':>7}{'x RT':>6}"
    )
    for path in audio_files(args.folder, "music folder"):
        x, sr = load_audio(path)
        with FileSource(path) as source:
            started = time.perf_counter()
            y, r = stream(trained, source, target_lufs=target, ceiling_db=ceiling)
            took = time.perf_counter() - started
        curve = eq_curve(r)
        row = {
            "piece": path.name,
            "seconds": x.shape[1] / sr,
            "lufs_in": lufs(x, sr),
            "lufs_out": lufs(y, sr),
            "true_peak_8x_out": true_peak_fft_db(y),
            "gr_max_db": r.reduction_max_db,
            "gr_mean_db": r.reduction_mean_db,
            "lra_in": loudness_range(torch.from_numpy(x).double(), sr),
            "lra_out": loudness_range(torch.from_numpy(y).double(), sr),
            "eq_max_boost_db": float(curve.max()),
            "eq_max_cut_db": float(curve.min()),
            "residual_used": bool(r.residual["used"]),
            "residual_reason": r.residual.get("reason", ""),
            "time_s": took,
        }
        rows.append(row)
        print(
            f"{path.name[:27]:<28}{row['seconds']:>6.1f}{row['lufs_in']:>9.2f}"
            f"{row['lufs_out']:>7.2f}{row['true_peak_8x_out']:>7.2f}{row['gr_max_db']:>8.2f}"
            f"{row['gr_mean_db']:>6.2f}{row['lra_in']:>8.1f}{row['lra_out']:>6.1f}"
            f"{row['eq_max_boost_db']:>6.1f}{row['eq_max_cut_db']:>6.1f}"
            f"{'yes' if row['residual_used'] else 'no':>7}{row['seconds'] / took:>6.1f}"
        )
    # Level invariance on the first piece: EQ curves of the same mix at four levels.
    x, sr = load_audio(audio_files(args.folder, "music folder")[0])
    x = x[:, : 20 * sr]
    curves = [
        eq_curve(stream(trained, ArraySource(x * np.float32(10 ** (g / 20)), sr))[1])
        for g in (-12.0, -6.0, 0.0, 6.0)
    ]
    spread = float(max(np.abs(c - curves[0]).max() for c in curves[1:]))
    print(f"level invariance (first 20 s, -12/-6/0/+6 dB): EQ curves within {spread:.4f} dB")
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows, "eq_spread_db": spread}, indent=2))


if __name__ == "__main__":
    main()
