"""Speed of neural_mastering: inference real-time factor, batched EQ speed-up, training steps/s.

Run from the workspace root:

    OMP_NUM_THREADS=2 uv run python packages/neural_mastering/benchmarks/bench_mastering.py

1. Real-time factor (audio seconds per wall-clock second) of the `mastering-infer` pipeline
   at the model rate (latent, IIR EQ, chunked residual, loudness + true-peak gain) on a
   3-minute stereo 44.1 kHz synthetic track, per phase, with the default latent from 60 s of
   excerpts; phase 1A also with the latent from every sample (`--latent-s 0`). Phase 1B uses
   the shipped checkpoint; 1A and 1C the same architecture with fresh weights (speed does not
   depend on them).
2. EQ on one batch (8 items x 5 s, 5 bands), from the band parameters: the FFT-grid path
   (batched) against a loop over items and bands of time-domain IIR filtering, the document's
   per-item per-band approach. Forward only, the loop is scipy.signal.lfilter (compiled C, the
   fastest loop there is). Forward + backward (what a training step needs), the loop is
   `dsp.iir.lfilter_biquad`, the same recursion with its adjoint gradient, standing in for
   torchaudio's lfilter (no build for this torch). Both paths in one run.
3. Training steps per second of the demo config (phase 1B, batch 4 x 0.6 s).
Prints a table and writes JSON (--json).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.signal
import torch

from neural_mastering.checkpoint import load_trained
from neural_mastering.config import load
from neural_mastering.delivery import deliver
from neural_mastering.dsp.eq import apply_eq_fft, band_coefficients
from neural_mastering.dsp.iir import lfilter_biquad
from neural_mastering.mastering import master_track
from neural_mastering.model import MasteringModel
from neural_mastering.objective import MasteringLoss
from neural_mastering.synthetic import synth_song

SR = 44100


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_inference(seconds: float) -> dict[str, float]:
    song = synth_song(0, seconds, SR)
    x = np.stack([song, np.roll(song, 441)])
    trained = load_trained()
    shipped, cfg = trained.model, trained.config
    rtf = {}
    for name, phase, latent_s in (
        ("1A", "1A", 60.0),
        ("1A (--latent-s 0)", "1A", None),
        ("1B", "1B", 60.0),
        ("1C", "1C", 60.0),
    ):
        if phase == cfg.model.phase:
            model = shipped
        else:
            model = MasteringModel(load("demo", [f"model.phase={phase}"]).model).eval()

        def run(model=model, latent_s=latent_s):
            y = master_track(model, x, latent_s=latent_s).audio
            deliver(y, SR, -14.0, -1.0)

        rtf[name] = seconds / best_of(run, 2 if phase == "1A" else 1)
    return rtf


def bench_eq(batch: int = 8, bands: int = 5, seconds: float = 5.0) -> dict[str, float]:
    g = torch.Generator().manual_seed(0)
    freq = 20 * 1000 ** torch.rand(batch, bands, generator=g)
    gain = (torch.rand(batch, bands, generator=g) - 0.5) * 24
    q = 0.5 + 4.5 * torch.rand(batch, bands, generator=g)
    x = torch.randn(batch, 1, int(seconds * SR), generator=g)
    w = torch.randn(batch, 1, int(seconds * SR), generator=g)

    def fft_path(backward: bool):
        params = [p.clone().requires_grad_(backward) for p in (freq, gain, q)]
        y = apply_eq_fft(x, *band_coefficients(*params, SR))
        if backward:
            (y * w).sum().backward()

    def loop_forward():
        b, a = (t.double().numpy() for t in band_coefficients(freq, gain, q, SR))
        xn = x.double().numpy()
        for i in range(batch):
            y = xn[i, 0]
            for k in range(bands):
                y = scipy.signal.lfilter(b[i, k], a[i, k], y)

    def loop_backward():
        # float64, as in loop_forward: a recursion with poles near z = 1 needs it.
        params = [p.double().requires_grad_(True) for p in (freq, gain, q)]
        b, a = band_coefficients(*params, SR)
        rows = []
        for i in range(batch):
            y = x[i, 0].double()
            for k in range(bands):
                y = lfilter_biquad(y, b[i, k], a[i, k])
            rows.append(y)
        (torch.stack(rows)[:, None] * w).sum().backward()

    fwd = best_of(lambda: fft_path(False), 7), best_of(loop_forward, 7)
    both = best_of(lambda: fft_path(True), 7), best_of(loop_backward, 7)
    return {
        "forward_fft_s": fwd[0],
        "forward_loop_s": fwd[1],
        "forward_speedup": fwd[1] / fwd[0],
        "train_fft_s": both[0],
        "train_loop_s": both[1],
        "train_speedup": both[1] / both[0],
    }


def bench_training(steps: int = 5) -> float:
    cfg = load("demo")
    model = MasteringModel(cfg.model).train()
    loss = MasteringLoss(cfg.loss, SR)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    n = int(cfg.data.crop_s * SR)
    x, y = (
        0.1 * torch.randn(cfg.trainer.batch_size, 1, n),
        0.1 * torch.randn(cfg.trainer.batch_size, 1, n),
    )

    def step():
        opt.zero_grad()
        loss(model(x), y)["loss"].backward()
        opt.step()

    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="track length (default 180)")
    parser.add_argument("--json", default="runs/neural_mastering/bench_mastering.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    results = {
        "threads": torch.get_num_threads(),
        "realtime_factor": bench_inference(args.seconds),
        "eq": bench_eq(),
        "train_steps_per_s": bench_training(),
    }
    print(f"threads: {results['threads']}")
    print(f"{'measure':<52}{'value':>12}")
    for phase, v in results["realtime_factor"].items():
        print(f"{'infer real-time factor, ' + phase:<52}{v:>11.1f}x")
    eq = results["eq"]
    for kind, label in (("forward", "forward"), ("train", "forward + backward")):
        print(f"{'EQ 8 x 5 s x 5 bands, ' + label + ', FFT (s)':<52}{eq[kind + '_fft_s']:>12.4f}")
        print(f"{'  per-item per-band IIR loop (s)':<52}{eq[kind + '_loop_s']:>12.4f}")
        print(f"{'  speed-up (loop / FFT)':<52}{eq[kind + '_speedup']:>11.1f}x")
    print(f"{'training steps/s (demo config)':<52}{results['train_steps_per_s']:>12.3f}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
