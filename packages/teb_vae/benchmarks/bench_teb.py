"""Throughput of the TEB-VAE at the document's dims: training, inference and feature
extraction windows per second, and peak memory, for a batch of 16 (by default).

    uv run python packages/teb_vae/benchmarks/bench_teb.py [--batch 16] [--repeats 3]
        [--device auto] [--decode-steps 64] [--json bench_teb.json]

Peak memory is the CUDA allocator's peak on a GPU and the process's peak resident set size
(ru_maxrss, which includes the Python interpreter and libraries) on a CPU. Training decodes
`--decode-steps` random steps per window, as `optim.train_decode_steps` does in the default
config (0 = all 300). Absolute times only mean something on an idle machine or a GPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from sigshared.training import select_device
from teb_vae.config import RunConfig
from teb_vae.features import FeatureExtractor
from teb_vae.model import SeqVaeTeb
from teb_vae.objective import make_loss_step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16, help="windows per batch (default 16)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (default 3)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument(
        "--decode-steps",
        type=int,
        default=64,
        help="steps decoded per window in training (default 64; 0 = all)",
    )
    parser.add_argument("--json", default="bench_teb.json", help="where to write the results")
    args = parser.parse_args()
    device = select_device(args.device)
    cfg = RunConfig()
    cfg.optim.train_decode_steps = args.decode_steps
    model = SeqVaeTeb(cfg.model).to(device)
    loss_step = make_loss_step(cfg)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    b, c, s, n = args.batch, cfg.model.input_channels, cfg.model.sequence_length, 4800
    g = torch.Generator().manual_seed(0)
    batch = {k: torch.randn(b, c, s, generator=g).to(device) for k in ("y_st", "y_ph")}
    v = cfg.model.validity_channels  # x_ph carries the validity channels after the features
    batch["x_ph"] = torch.randn(b, c + v, s, generator=g).to(device)
    batch["y_raw"] = torch.randn(b, n, generator=g).to(device)
    batch["valid"] = torch.ones(b, n, dtype=torch.bool, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def train_step() -> None:
        model.train()
        loss = loss_step(model, batch)["loss"]
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()

    def infer_step() -> None:
        model.predict_raw_signal(batch["x_ph"], batch["y_st"], batch["y_ph"])

    ext = FeatureExtractor(cfg.features, device)
    fhr, up = torch.randn(b, n, generator=g), torch.randn(b, n, generator=g)

    results = {
        "device": str(device),
        "batch": b,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_decode_steps": args.decode_steps,
        "train_windows_per_s": b / _timed(train_step, device, args.repeats),
        "infer_windows_per_s": b / _timed(infer_step, device, args.repeats),
        "features_windows_per_s": b / _timed(lambda: ext(fhr, up), device, args.repeats),
    }
    if device.type == "cuda":
        results["peak_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
        results["peak_memory_kind"] = "cuda allocator"
    else:
        results["peak_memory_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results["peak_memory_kind"] = "process max RSS"
    width = max(len(k) for k in results)
    for k, v in results.items():
        print(f"{k:<{width}}  {v:.3f}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
