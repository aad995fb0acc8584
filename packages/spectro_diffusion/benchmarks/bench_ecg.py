"""Benchmark of the ECG variant: training and sampling throughput, peak memory.

For the `default` and `low_memory` configs on random data of the prepared shapes (image
S x S, freq_embeddings S, amp_init S, emb_init S x S): training samples/s (forward, backward,
AdamW step), sampling samples/s with DDIM at 10 and 50 steps and DPM-Solver++(2M) at 20,
FLOPs per training sample (counted by `torch.utils.flop_counter`), and the fraction of the
machine's own measured matmul throughput that this reaches (the comparable number across
machines). Peak memory: CUDA max allocated, or the process's peak resident set size on CPU.
Prints a table and writes JSON.

    uv run python packages/spectro_diffusion/benchmarks/bench_ecg.py --out bench_ecg.json
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from spectro_diffusion.ecg.config import load_ecg_config
from spectro_diffusion.ecg.data import identity_stats, infer_spec
from spectro_diffusion.ecg.model import pack
from spectro_diffusion.ecg.objective import make_diffusion


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_gflops(device: torch.device, n: int = 1024, repeats: int = 5) -> float:
    """Measured float32 matmul throughput of this machine in GFLOP/s."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_config(name: str, size: int, batch: int, steps: int, device: torch.device) -> dict:
    cfg = load_ecg_config(name)
    specs = {
        "images": infer_spec((size, size)),
        "freq_embeddings": infer_spec((size,)),
        "amp_init": infer_spec((size,)),
        "emb_init": infer_spec((size, size)),
    }
    model = make_diffusion(cfg, specs, identity_stats()).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = {n: torch.randn(batch, *s.model_shape, device=device) for n, s in specs.items()}
    x0 = pack(x["images"], x["freq_embeddings"])
    cond = {n: x[n] for n in ("amp_init", "emb_init")}

    def train_step() -> None:
        loss = model.loss(x0, cond)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    with FlopCounterMode(display=False) as counter:
        train_step()
    flops_per_sample = counter.get_total_flops() / batch
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        train_step()
    sync(device)
    train_sps = steps * batch / (time.perf_counter() - start)
    model.eval()
    sampling = {}
    for sampler, n_steps in (("ddim", 10), ("ddim", 50), ("dpmpp_2m", 20)):
        sync(device)
        start = time.perf_counter()
        model.sample(
            cond,
            shape=tuple(x0.shape),
            num_inference_steps=n_steps,
            guidance_scale=1.0,
            sampler=sampler,
        )
        sync(device)
        sampling[f"{sampler}{n_steps}_samples_per_s"] = batch / (time.perf_counter() - start)
    return {
        "config": name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_samples_per_s": train_sps,
        "train_gflop_per_sample": flops_per_sample / 1e9,
        "achieved_train_gflops": train_sps * flops_per_sample / 1e9,
        **sampling,
        "peak_memory_mb": peak_memory_mb(device),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--image-size", type=int, default=64, help="image side S (default 64)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=3, help="timed training steps per config")
    p.add_argument("--out", default="bench_ecg.json", help="JSON output path")
    args = p.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    peak = matmul_gflops(device)
    rows = [
        bench_config(name, args.image_size, args.batch_size, args.steps, device)
        for name in ("default", "low_memory")
    ]
    for row in rows:
        row["fraction_of_matmul_peak"] = row["achieved_train_gflops"] / peak
    result = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "matmul_gflops": peak,
        "configs": rows,
    }
    header = (
        f"{'config':<11} {'params':>9} {'train/s':>8} {'GFLOP/sample':>12} {'of peak':>8} "
        f"{'ddim10/s':>9} {'ddim50/s':>9} {'dpm++20/s':>9} {'peak MB':>8}"
    )
    print(f"device {device}, {torch.get_num_threads()} threads, matmul {peak:.1f} GFLOP/s")
    print(header)
    for r in rows:
        print(
            f"{r['config']:<11} {r['parameters']:>9} {r['train_samples_per_s']:>8.2f} "
            f"{r['train_gflop_per_sample']:>12.2f} {r['fraction_of_matmul_peak']:>8.1%} "
            f"{r['ddim10_samples_per_s']:>9.3f} {r['ddim50_samples_per_s']:>9.3f} "
            f"{r['dpmpp_2m20_samples_per_s']:>9.3f} "
            f"{r['peak_memory_mb']:>8.0f}"
        )
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
