"""Which mel inversion keeps speech voiced: pyin voiced fraction of real clips, and of the same
clips through mel -> NNLS magnitude -> fast Griffin-Lim, for several mel-bin counts and
iteration counts at 16 kHz (n_fft 1024, hop 256, 1.0 s), with the spectral convergence.

    OMP_NUM_THREADS=1 uv run python packages/spectro_diffusion/benchmarks/inversion_voicing.py \\
        --data ../shared/data/emodb --speakers 03 08 --clips 12
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from spectro_diffusion.emotion.features import MelSettings, griffin_lim, load_clip, mel_db
from spectro_diffusion.emotion.voicing import voiced_fraction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder of EmoDB WAVs")
    parser.add_argument("--speakers", nargs="+", default=["03", "08"], help="speakers used")
    parser.add_argument("--clips", type=int, default=12, help="clips, spread over the files")
    parser.add_argument("--mels", type=int, nargs="+", default=[32, 80, 128])
    parser.add_argument("--iters", type=int, nargs="+", default=[32, 100, 200])
    args = parser.parse_args()
    files = sorted(f for f in Path(args.data).glob("*.wav") if f.name[:2] in args.speakers)
    files = [files[i] for i in np.linspace(0, len(files) - 1, args.clips).round().astype(int)]
    base = MelSettings(sample_rate=16_000, n_fft=1024, hop_length=256, n_frames=64)
    clips = [load_clip(f, base) for f in files]
    rows = [
        {
            "inversion": "none (real clips)",
            "voiced": np.mean([voiced_fraction(c, 16_000) for c in clips]),
        }
    ]
    for n_mels in args.mels:
        s = replace(base, n_mels=n_mels)
        for iters in args.iters:
            start = time.perf_counter()
            out = [griffin_lim(mel_db(c, s), s, n_iter=iters) for c in clips]
            rows.append(
                {
                    "inversion": f"{n_mels} mels, {iters} iterations",
                    "voiced": float(np.mean([voiced_fraction(a, 16_000) for a, _ in out])),
                    "spectral_convergence": float(np.mean([sc for _, sc in out])),
                    "seconds": time.perf_counter() - start,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    print(json.dumps(rows, indent=2, default=float))


if __name__ == "__main__":
    main()
