"""Griffin-Lim start-up penalty: the first call in a fresh process against a later call in
the same process, for the shipped EmoDB mel settings, on one thread (issue 15, item 3).

Each repeat starts a new Python interpreter (so every import, allocation and any lazy
compilation is paid again), imports the package, then times `griffin_lim` on one 1-s clip
twice; the penalty is first minus second. Repeats are interleaved with nothing else, and the
median is reported, because the machine is shared and noisy.

    OMP_NUM_THREADS=1 uv run python packages/spectro_diffusion/benchmarks/bench_gl_startup.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, time
import numpy as np
import torch
torch.set_num_threads(1)
from spectro_diffusion.emotion.config import load_emotion_config
from spectro_diffusion.emotion.features import griffin_lim, mel_db
mel = load_emotion_config("{config}").data.mel
t = np.arange(mel.num_samples) / mel.sample_rate
clip = (0.3 * np.sin(2 * np.pi * 140 * t) * np.hanning(t.size)).astype(np.float32)
db = mel_db(clip, mel)
times = []
for _ in range(2):
    start = time.perf_counter()
    griffin_lim(db, mel, n_iter={iters})
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="emodb", help="config whose mel settings to use")
    parser.add_argument("--iters", type=int, default=100, help="Griffin-Lim iterations")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes (median)")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    code = CHILD.format(config=args.config, iters=args.iters)
    runs = []
    for _ in range(args.repeats):
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    first = statistics.median(r[0] for r in runs)
    later = statistics.median(r[1] for r in runs)
    result = {
        "config": args.config,
        "iters": args.iters,
        "first_call_s": first,
        "later_call_s": later,
        "startup_penalty_s": first - later,
        "runs": runs,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
