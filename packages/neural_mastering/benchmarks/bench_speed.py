"""End-to-end speed of `mastering-infer` (start-up excluded) on a 3-minute stereo track, as a
ratio to real time, with one and with two threads.

Usage: uv run python packages/neural_mastering/benchmarks/bench_speed.py [--checkpoint CKPT]
    [--repeats 3] [--seconds 180]

The track (a seeded synthetic song, 44.1 kHz stereo, 24-bit WAV) is written to a temporary
folder; each run is what `mastering-infer song.wav -o out.wav` does after loading the model:
`streaming.master_stream` from the file into a 24-bit WAV. Thread counts are interleaved
(1, 2, 1, 2, ...) so that the machine's load falls on both alike; the median of the repeats
is reported, as wall-clock time (the figure) and, for one thread, as the process's CPU time
too (less sensitive to other programs on the machine; it misses time spent waiting on the
disk). The load average before and after is printed: on a busy machine the wall-clock
figure is low.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from neural_mastering.audio_io import AudioWriter
from neural_mastering.blockio import FileSource
from neural_mastering.checkpoint import load_trained
from neural_mastering.streaming import master_stream
from neural_mastering.synthetic import synth_song


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="default: the shipped model")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=180.0)
    args = parser.parse_args()
    trained = load_trained(args.checkpoint)
    sr = 44100
    with tempfile.TemporaryDirectory() as tmp:
        song = Path(tmp) / "song.wav"
        mono = synth_song(20_240, args.seconds, sr)
        sf.write(song, np.stack([mono, np.roll(mono, 29)]).T, sr, subtype="PCM_24")
        ratios: dict[int, list[float]] = {1: [], 2: []}
        cpu: list[float] = []
        load_before = os.getloadavg()[0]
        for _ in range(args.repeats):
            for threads in (1, 2):
                torch.set_num_threads(threads)
                started, started_cpu = time.perf_counter(), time.process_time()
                with (
                    FileSource(song) as source,
                    AudioWriter(Path(tmp) / "out.wav", sr, 2, ".wav") as writer,
                ):
                    master_stream(trained, source, writer.write, scratch=tmp)
                ratios[threads].append(args.seconds / (time.perf_counter() - started))
                if threads == 1:
                    cpu.append(args.seconds / (time.process_time() - started_cpu))
    phase = trained.config.model.phase
    print(f"model {trained.path} (phase {phase}), {args.seconds:g} s stereo at {sr} Hz")
    print(
        f"{os.cpu_count()} CPUs; load average (1 min) {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    for threads, values in ratios.items():
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"{threads} thread(s): median {statistics.median(values):.1f}x real time ({runs})")
    runs = ", ".join(f"{v:.1f}" for v in cpu)
    print(f"1 thread, CPU time: median {statistics.median(cpu):.1f}x real time ({runs})")


if __name__ == "__main__":
    main()
