"""Throughput of the ABR transformer: training, reconstruction, DDIM-60 generation, and the
forward pass's FLOP rate as a fraction of this machine's fp32 matmul rate, all in one run.

FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` (matmuls, convolutions and
attention, the operations that dominate), not estimated. The matmul reference is a square
fp32 `torch.mm` of the same device, timed in this run, so the ratio is comparable across
machines. Prints a table and writes JSON.

    uv run python packages/abr_diffusion/benchmarks/bench_abr.py --model default --out bench.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from abr_diffusion.config import load
from abr_diffusion.model import build_model, make_cond
from abr_diffusion.objective import build_diffusion, loss_step
from sigshared.training import select_device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> float:
    """Median seconds of `fn` over `repeats` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def matmul_gflops(device: torch.device, n: int, repeats: int) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    seconds = timed(lambda: a @ b, device, repeats)
    return 2 * n**3 / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="config whose model to time")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--batch", type=int, default=32, help="training / forward batch")
    parser.add_argument("--gen-batch", type=int, default=8, help="DDIM generation batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench_abr.json", help="JSON output path")
    args = parser.parse_args()
    device = select_device(args.device)
    torch.manual_seed(0)
    cfg = load(args.model)
    net = build_model(cfg.model)
    diffusion = build_diffusion(net, cfg.diffusion).to(device)
    t_len, s_dim = cfg.model.seq_len, cfg.model.static_dim
    x = torch.randn(args.batch, 1, t_len, device=device)
    static = torch.randn(args.batch, s_dim, device=device)
    t = torch.randint(0, 1000, (args.batch,), device=device)
    cond = make_cond(static)

    result: dict[str, object] = {}
    out = Path(args.out)

    def record(name: str, value: object) -> None:
        # Printed and saved as soon as measured, so a slow machine shows progress and a
        # stopped run keeps what it measured.
        result[name] = value
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"{name:<30}  {text}", flush=True)
        out.write_text(json.dumps(result, indent=2))

    record("device", str(device))
    record("model", args.model)
    record("parameters", sum(p.numel() for p in net.parameters()))
    record("threads", torch.get_num_threads())
    record("forward_batch", args.batch)
    net.eval()
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            net(x, t, cond)
        flops = counter.get_total_flops()
        record("forward_gflop_counted", flops / 1e9)
        record("forward_gflop_per_sample", flops / 1e9 / args.batch)
        fwd_s = timed(lambda: net(x, t, cond), device, args.repeats)
        record("forward_seconds", fwd_s)
        mm = matmul_gflops(device, 2048, args.repeats)
        record("forward_gflops", flops / fwd_s / 1e9)
        record("matmul_fp32_gflops", mm)
        record("forward_fraction_of_matmul", flops / fwd_s / 1e9 / mm)
        rec_s = timed(lambda: diffusion.predict_x0(x, t, cond), device, args.repeats)
        record("reconstruction_samples_per_s", args.batch / rec_s)

    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    batch = {"x": x, "static": static}

    def train_step() -> None:
        loss = loss_step(diffusion, batch)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    record("train_samples_per_s", args.batch / timed(train_step, device, args.repeats))

    net.eval()
    g_cond = make_cond(static[: args.gen_batch])
    record("generation_batch", args.gen_batch)
    for w, name in ((1.0, "ddim60_samples_per_s"), (2.0, "ddim60_guided_samples_per_s")):
        seconds = timed(
            lambda w=w: diffusion.sample(
                g_cond,
                shape=(args.gen_batch, 1, t_len),
                num_inference_steps=60,
                guidance_scale=w,
                sampler="ddim",
            ),
            device,
            max(1, args.repeats - 2),
            warmup=0,
        )
        record(name, args.gen_batch / seconds)
    print(f"written {out}")


if __name__ == "__main__":
    main()
