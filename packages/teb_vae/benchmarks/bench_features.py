"""Feature speed against kymatio, and a 90-minute record through features and the shipped model.

    uv run --with kymatio --with 'scipy<1.15' python packages/teb_vae/benchmarks/bench_features.py
        [--batch 16] [--repeats 7] [--json bench_features.json]

kymatio is not a dependency: run with `uv run --with kymatio` (its last release imports
`scipy.special.sph_harm`, removed in SciPy 1.15, hence the pin in that throwaway environment);
without it the comparison is skipped. One thread (torch.set_num_threads(1)), timings
interleaved (kymatio, ours, ours, ... per repeat) and reported as medians and ratios, since
the machine may be shared.

1. The same batch of `--batch` 20-minute windows (4800 samples, 4 Hz) through kymatio's
   Scattering1D torch frontend (J = 6, Q = (3, 1), T = 16: the scattering our y_st computes)
   and through ours: y_st alone, y_st + y_ph + x_ph (all three tensors the model reads), and
   y_st at full resolution (features.oversampling = 4).
2. A 90-minute synthetic record (21600 samples) through `teb_vae.benchmark.
   forecast_whole_record` with the shipped model: cleaning, features over the whole record,
   one causal model pass over its 1350 steps; wall seconds and the process's CPU seconds
   (one thread, so the time on one core even when other jobs share the machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from teb_vae.benchmark import forecast_whole_record
from teb_vae.checkpoint import load_trained
from teb_vae.config import FeatureConfig
from teb_vae.data import Recording
from teb_vae.features import FeatureExtractor
from teb_vae.synthetic import synthetic_ctg


def _kymatio(n: int):
    """kymatio's Scattering1D torch frontend, or None when kymatio is not installed."""
    try:
        from kymatio.scattering1d.frontend.torch_frontend import ScatteringTorch1D
    except ImportError:
        return None
    return ScatteringTorch1D(J=6, shape=n, Q=(3, 1), T=16)


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16, help="windows per batch (default 16)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repeats (default 7)")
    parser.add_argument("--json", default="bench_features.json", help="where to write results")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = FeatureConfig()
    g = torch.Generator().manual_seed(0)
    # a random walk: broadband like FHR, so no stage of either transform is trivially empty
    fhr = torch.randn(args.batch, cfg.window, generator=g).cumsum(-1) * 0.05
    up = torch.randn(args.batch, cfg.window, generator=g).cumsum(-1) * 0.05
    ours = FeatureExtractor(cfg)
    full = FeatureExtractor(FeatureConfig(oversampling=4))
    kym = _kymatio(cfg.window)
    cases = {
        "ours_y_st": lambda: ours.scattering_only(fhr),
        "ours_all_three": lambda: ours(fhr, up),
        "ours_y_st_full_resolution": lambda: full.scattering_only(fhr),
    }
    if kym is not None:
        cases = {"kymatio_scattering1d": lambda: kym(fhr), **cases}
    for fn in cases.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.repeats):
        for name, fn in cases.items():
            times[name].append(_seconds(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    results: dict = {"batch": args.batch, "window": cfg.window, "threads": 1}
    results["median_s"] = med
    if kym is not None:
        results["ratio_to_kymatio"] = {k: v / med["kymatio_scattering1d"] for k, v in med.items()}
    else:
        results["kymatio"] = "not installed: run with uv run --with kymatio --with 'scipy<1.15'"

    trained = load_trained()
    sig = synthetic_ctg(90, seed=0)
    rec = Recording("synthetic-90min", sig["fhr"], sig["up"])
    forecast_whole_record(trained, rec)  # warm-up
    record_s, record_cpu = [], []
    for _ in range(3):
        cpu = time.process_time()
        record_s.append(_seconds(lambda: forecast_whole_record(trained, rec)))
        record_cpu.append(time.process_time() - cpu)
    results["record_90min_s"] = statistics.median(record_s)
    # CPU seconds of this one-thread process: the time on one core, whatever else runs
    results["record_90min_cpu_s"] = statistics.median(record_cpu)
    results["record_90min_steps"] = len(sig["fhr"]) // cfg.decimation

    print(json.dumps(results, indent=2))
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
