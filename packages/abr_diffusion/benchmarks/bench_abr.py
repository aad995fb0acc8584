"""Throughput of the ABR transformer: the forward pass's FLOP rate as a fraction of this
machine's fp32 matmul rate (one thread and all threads), then training and DDIM-60
generation rates.

The forward pass and the matmul reference are timed interleaved (forward, matmul, forward,
matmul, ...), so a change in machine load hits both alike; each figure is the median of
`--repeats` (>= 5) runs, and the ratio is the median of the per-pair ratios. FLOPs are
counted by `torch.utils.flop_counter.FlopCounterMode` (matmuls, convolutions and attention),
not estimated. The matmul reference is a square fp32 `torch.mm` on the same device. Prints a
table and writes JSON.

    uv run python packages/abr_diffusion/benchmarks/bench_abr.py --model default --out bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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


def once(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds of one call of `fn`."""
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def interleaved(
    fns: dict[str, Callable[[], object]], device: torch.device, repeats: int
) -> dict[str, list[float]]:
    """Seconds of each function over `repeats` rounds; each round calls every function once
    in turn (after one warm-up round)."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(once(fn, device))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="config whose model to time")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--batch", type=int, default=32, help="training / forward batch")
    parser.add_argument("--gen-batch", type=int, default=8, help="DDIM generation batch")
    parser.add_argument("--matmul-size", type=int, default=2048, help="n of the n x n matmul")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (>= 5)")
    parser.add_argument("--out", default="bench_abr.json", help="JSON output path")
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats must be >= 5 (the median of at least five runs)")
    device = select_device(args.device)
    torch.manual_seed(0)
    cfg = load(args.model)
    seq_len, static_dim = cfg.data.seq_len, len(cfg.data.conditions)
    if any(c.categorical for c in cfg.data.conditions):
        parser.error("the benchmark builds numeric conditions; pick a config without categorical")
    net = build_model(cfg.model, seq_len, static_dim)
    diffusion = build_diffusion(net, cfg.diffusion).to(device)
    x = torch.randn(args.batch, 1, seq_len, device=device)
    cond = make_cond(torch.randn(args.batch, static_dim, device=device))
    t = torch.randint(0, cfg.diffusion.num_train_timesteps, (args.batch,), device=device)
    n = args.matmul_size
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)

    result: dict[str, object] = {}
    out = Path(args.out)

    def record(name: str, value: object) -> None:
        # Printed and saved as soon as measured, so a stopped run keeps what it measured.
        result[name] = value
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"{name:<34}  {text}", flush=True)
        out.write_text(json.dumps(result, indent=2))

    record("device", str(device))
    record("model", args.model)
    record("parameters", sum(p.numel() for p in net.parameters()))
    record("forward_batch", args.batch)
    record("repeats", args.repeats)
    net.eval()
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            net(x, t, cond)
        flops = counter.get_total_flops()
        record("forward_gflop_counted", flops / 1e9)
        record("forward_gflop_per_sample", flops / 1e9 / args.batch)
        all_threads = torch.get_num_threads() if device.type != "cpu" else os.cpu_count() or 1
        for threads in sorted({1, all_threads}):
            torch.set_num_threads(threads)
            times = interleaved(
                {"forward": lambda: net(x, t, cond), "matmul": lambda: a @ b},
                device,
                args.repeats,
            )
            fwd = [flops / s / 1e9 for s in times["forward"]]
            mm = [2 * n**3 / s / 1e9 for s in times["matmul"]]
            tag = f"{threads}thr"
            record(f"forward_gflops_{tag}", statistics.median(fwd))
            record(f"matmul_fp32_gflops_{tag}", statistics.median(mm))
            record(
                f"forward_fraction_of_matmul_{tag}",
                statistics.median(f / m for f, m in zip(fwd, mm)),
            )
        torch.set_num_threads(all_threads)

    net.train()
    opt = torch.optim.AdamW(diffusion.parameters(), lr=1e-4)
    batch = {"x": x, "static": cond["static"]}

    def train_step() -> None:
        loss = loss_step(diffusion, batch)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step_s = statistics.median(interleaved({"train": train_step}, device, args.repeats)["train"])
    record("train_samples_per_s", args.batch / step_s)

    net.eval()
    g_cond = make_cond(cond["static"][: args.gen_batch])
    record("generation_batch", args.gen_batch)
    for scale, name in ((1.0, "ddim60_samples_per_s"), (2.0, "ddim60_guided_samples_per_s")):
        seconds = once(
            lambda scale=scale: diffusion.sample(
                g_cond,
                shape=(args.gen_batch, 1, seq_len),
                num_inference_steps=60,
                guidance_scale=scale,
                sampler="ddim",
            ),
            device,
        )
        record(name, args.gen_batch / seconds)
    print(f"written {out}")


if __name__ == "__main__":
    main()
