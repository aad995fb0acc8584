"""Speed of the emotion application: training images/s, DDIM-50, DPM-Solver++(2M)-20 and
DDPM-1000 sampling images/s, Griffin-Lim seconds per clip; a table on stdout and JSON
(--json, default bench_emotion.json).

Absolute numbers depend on the machine; the ratios printed beside them (real-time factor of
Griffin-Lim, sampling cost relative to one training step, the machine's own measured float32
matmul throughput) are what compare across machines.

    uv run python packages/spectro_diffusion/benchmarks/bench_emotion.py --config demo
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from spectro_diffusion.emotion.checkpoint import TrainedGenerator
from spectro_diffusion.emotion.config import load_emotion_config
from spectro_diffusion.emotion.features import griffin_lim
from spectro_diffusion.emotion.generation import sample_spectrograms
from spectro_diffusion.emotion.objective import build_diffusion, diffusion_loss_step


def matmul_gflops(n: int = 512, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="demo", help="config name or YAML (default demo)")
    parser.add_argument("--train-steps", type=int, default=10, help="timed training steps")
    parser.add_argument("--sample-batch", type=int, default=4, help="images per sampling run")
    parser.add_argument("--ddpm-steps", type=int, default=1000, help="DDPM steps (default 1000)")
    parser.add_argument("--gl-clips", type=int, default=5, help="Griffin-Lim clips timed")
    parser.add_argument("--json", default="bench_emotion.json", help="where to write the JSON")
    args = parser.parse_args()
    torch.manual_seed(0)
    cfg = load_emotion_config(args.config)
    mel = cfg.data.mel
    n_classes = 7
    model = build_diffusion(cfg, n_classes)
    optim = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr)
    bs = cfg.trainer.batch_size
    batch = {
        "x": torch.rand(bs, 1, mel.n_mels, mel.n_frames) * 2 - 1,
        "y": torch.randint(0, n_classes, (bs,)),
    }

    def train_step() -> None:
        optim.zero_grad()
        diffusion_loss_step(model, batch)["loss"].backward()
        optim.step()

    train_step()
    start = time.perf_counter()
    for _ in range(args.train_steps):
        train_step()
    step_s = (time.perf_counter() - start) / args.train_steps

    model.eval()
    classes = [str(i) for i in range(n_classes)]
    gen = TrainedGenerator(model, classes, 0.0, 80.0, cfg, "model", "", "")
    labels = torch.arange(args.sample_batch) % n_classes
    results = {}
    runs = (
        ("ddim50", "ddim", 50),
        ("dpmpp_2m20", "dpmpp_2m", 20),
        ("ddpm", "ddpm", args.ddpm_steps),
    )
    for name, sampler, steps in runs:
        start = time.perf_counter()
        sample_spectrograms(
            gen,
            labels,
            args.sample_batch,
            num_inference_steps=steps,
            guidance_scale=cfg.sample.guidance_scale,
            sampler=sampler,
        )
        results[name] = time.perf_counter() - start

    rng = np.random.default_rng(0)
    db = rng.uniform(-60, 0, (mel.n_mels, mel.n_frames)).astype(np.float32)
    griffin_lim(db, mel, n_iter=cfg.sample.griffin_lim_iters)
    start = time.perf_counter()
    for _ in range(args.gl_clips):
        griffin_lim(db, mel, n_iter=cfg.sample.griffin_lim_iters)
    gl_s = (time.perf_counter() - start) / args.gl_clips
    clip_s = (mel.n_frames - 1) * mel.hop_length / mel.sample_rate

    report = {
        "config": args.config,
        "image": [mel.n_mels, mel.n_frames],
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": torch.get_num_threads(),
        "machine_matmul_gflops": matmul_gflops(),
        "train_images_per_s": bs / step_s,
        "ddim50_images_per_s": args.sample_batch / results["ddim50"],
        "dpmpp_2m20_images_per_s": args.sample_batch / results["dpmpp_2m20"],
        f"ddpm{args.ddpm_steps}_images_per_s": args.sample_batch / results["ddpm"],
        "ddim50_cost_in_train_steps": results["ddim50"] / step_s,
        "griffin_lim_s_per_clip": gl_s,
        "griffin_lim_iters": cfg.sample.griffin_lim_iters,
        "griffin_lim_real_time_factor": gl_s / clip_s,
        "guidance_scale": cfg.sample.guidance_scale,
    }
    width = max(len(k) for k in report)
    for k, v in report.items():
        print(f"{k:<{width}}  {v:.4g}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
