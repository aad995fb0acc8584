"""What a mouse model trained on BioSigRZ exports does on real recordings.

1. Level-latency shift: wave I latency against stimulus level, real recordings vs generated
   ones (the same conditions, `--samples` per condition), with the least-squares slope in
   ms/dB over the levels where the real recordings hold a response (`--min-level` and up).
2. Denoising on real data: held-out high-level waveforms (test split, level >= `--clean-level`)
   as the clean reference; recorded noise from the sub-threshold rows (level <= `--noise-level`,
   which hold no response; their mean removed) added at gain 1 (as recorded) and larger gains
   (fewer averages); SNR (dB) and Pearson to the clean waveform before and after denoising,
   for the model (one-step x0 estimate and the sampler from step t), a zero-phase Butterworth
   band-pass and a wavelet denoiser (PyWavelets; skipped, and said so, when not installed).

    uv run --with pywavelets python packages/abr_diffusion/benchmarks/mouse_study.py \\
        --checkpoint runs/mouse/checkpoints/best.pt --data '../shared/data/abr-mouse/*.csv'

Prints tables and writes JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import signal as sps

from abr_diffusion.checkpoint import load_trained
from abr_diffusion.config import with_data_overrides
from abr_diffusion.data import load_data
from abr_diffusion.inference import denoise, generate
from abr_diffusion.peaks import peak_latencies
from abr_diffusion.synthetic import ABRData


def slope(levels: np.ndarray, latencies: np.ndarray) -> float:
    """Least-squares slope (ms/dB) of latency on level, NaN rows left out."""
    ok = np.isfinite(latencies)
    return float(np.polyfit(levels[ok], latencies[ok], 1)[0])


def snr_db(clean: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    return 10 * np.log10((clean**2).sum(1) / ((estimate - clean) ** 2).sum(1))


def pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a**2).sum(1) * (b**2).sum(1))


def bandpass(x: np.ndarray, rate: float, low: float, high: float) -> np.ndarray:
    """4th-order Butterworth band-pass, zero phase (forward-backward)."""
    sos = sps.butter(4, [low, high], btype="bandpass", fs=rate, output="sos")
    return sps.sosfiltfilt(sos, x, axis=1)


def wavelet_denoise(x: np.ndarray, wavelet: str = "sym4", level: int = 4) -> np.ndarray | None:
    """Soft thresholding of the detail coefficients at the universal threshold
    sigma sqrt(2 ln N), sigma = MAD(finest details) / 0.6745 (Donoho & Johnstone 1994).
    None when PyWavelets is not installed."""
    try:
        import pywt
    except ImportError:
        return None
    out = []
    for row in x:
        coeffs = pywt.wavedec(row, wavelet, level=level)
        sigma = np.median(np.abs(coeffs[-1])) / 0.6745
        thr = sigma * np.sqrt(2 * np.log(len(row)))
        coeffs = [coeffs[0]] + [pywt.threshold(c, thr, mode="soft") for c in coeffs[1:]]
        out.append(pywt.waverec(coeffs, wavelet)[: len(row)])
    return np.array(out)


def matched_step(trained, noise_share: np.ndarray) -> int:
    """The step t whose 1 - alpha_bar_t is nearest the median noise share of the recordings'
    variance (the noise variance comes from the sub-threshold recordings, as a user would
    estimate it from recordings without a response)."""
    alpha_bar = trained.diffusion.schedule.alphas_cumprod.cpu().numpy()
    return int(np.argmin(np.abs((1 - alpha_bar) - float(np.median(noise_share)))))


def latency_study(trained, data: ABRData, args) -> dict:
    cfg = trained.config
    rate, windows = cfg.data.sample_rate, cfg.peaks.windows
    j = [w for w, _, _ in windows].index(cfg.eval.series_wave)
    real_lat = peak_latencies(data.signals, rate, windows)[:, j]
    cond = data.conditions
    keep = cond["level_db"].to_numpy() >= args.min_level
    rows = (
        cond[keep][["level_db", "stimulus"]]
        .drop_duplicates()
        .sort_values(["stimulus", "level_db"])
        .reset_index(drop=True)
    )
    gen = generate(trained, rows, num_samples=args.samples, seed=args.seed)
    gen_lat = gen.latencies_ms[:, j]
    out: dict[str, dict] = {}
    for stim in sorted(rows["stimulus"].unique(), key=lambda s: (s != "click", s)):
        real_m = keep & (cond["stimulus"] == stim).to_numpy()
        gen_m = (gen.conditions["stimulus"] == stim).to_numpy()
        real_lv = cond["level_db"].to_numpy()[real_m]
        gen_lv = gen.conditions["level_db"].to_numpy(np.float64)[gen_m]
        by_level = {
            f"{lv:g}": [
                float(np.nanmean(real_lat[real_m][real_lv == lv])),
                float(np.nanmean(gen_lat[gen_m][gen_lv == lv])),
            ]
            for lv in sorted(set(real_lv), reverse=True)
        }
        out[stim] = {
            "real_slope_ms_per_db": slope(real_lv, real_lat[real_m]),
            "generated_slope_ms_per_db": slope(gen_lv, gen_lat[gen_m]),
            "latency_by_level_real_generated_ms": by_level,
        }
    return out


def denoising_study(trained, splits, args) -> dict:
    cfg = trained.config
    data, rate = splits.data, cfg.data.sample_rate
    level = data.conditions["level_db"].to_numpy()
    test = np.zeros(len(data), dtype=bool)
    test[splits.test] = True
    clean_idx = np.flatnonzero(test & (level >= args.clean_level))
    noise_idx = np.flatnonzero(level <= args.noise_level)
    rng = np.random.default_rng(args.seed)
    noise = data.signals[rng.choice(noise_idx, len(clean_idx))].astype(np.float64)
    noise -= noise.mean(1, keepdims=True)
    clean = data.signals[clean_idx].astype(np.float64)
    results: dict[str, dict] = {
        "clean_recordings": int(len(clean_idx)),
        "noise_recordings": int(len(noise_idx)),
    }
    for gain in args.gains:
        noisy = clean + gain * noise
        estimates = {"noisy input": noisy}
        estimates[f"band-pass {args.band[0]:g}-{args.band[1]:g} Hz"] = bandpass(
            noisy, rate, *args.band
        )
        wav = wavelet_denoise(noisy)
        if wav is not None:
            estimates["wavelet (sym4, soft, universal threshold)"] = wav
        noisy_data = ABRData(
            noisy.astype(np.float32),
            rate,
            data.conditions.iloc[clean_idx].reset_index(drop=True),
            data.patient_id[clean_idx],
        )
        for t in args.t:
            for steps, name in ((0, "one-step x0"), (None, f"{cfg.diffusion.sampler} from t")):
                den = denoise(trained, noisy_data, t, steps, seed=args.seed)
                estimates[f"model, {name}, t={t}"] = den.denoised_uv
        t_match = matched_step(trained, gain**2 * noise.var(1).mean() / noisy.var(1))
        for steps, name in ((0, "one-step x0"), (None, f"{cfg.diffusion.sampler} from t")):
            den = denoise(trained, noisy_data, t_match, steps, seed=args.seed, add_noise=False)
            estimates[f"model, {name}, input as x_t, t={t_match}"] = den.denoised_uv
        results[f"gain {gain:g}"] = {
            name: {
                "snr_db": float(np.mean(snr_db(clean, est))),
                "pearson": float(np.mean(pearson(clean, est))),
            }
            for name, est in estimates.items()
        }
    if wavelet_denoise(clean[:1]) is None:
        results["wavelet"] = "PyWavelets is not installed; run with `uv run --with pywavelets`"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True, help="the exports (a glob), as in training")
    parser.add_argument("--samples", type=int, default=2, help="generated per condition")
    parser.add_argument("--min-level", type=float, default=30.0, help="dB; slope fit from here")
    parser.add_argument("--clean-level", type=float, default=70.0)
    parser.add_argument("--noise-level", type=float, default=10.0)
    parser.add_argument("--gains", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--t", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--band", type=float, nargs=2, default=[300.0, 3000.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="mouse_study.json")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    trained = load_trained(args.checkpoint)
    trained.config = with_data_overrides(trained.config, [f"data.path={args.data}"])
    splits = load_data(trained.config)
    report = {
        "latency": latency_study(trained, splits.data, args),
        "denoising": denoising_study(trained, splits, args),
    }
    Path(args.out).write_text(json.dumps(report, indent=2))
    for stim, r in report["latency"].items():
        print(
            f"{stim:>6}: slope real {r['real_slope_ms_per_db'] * 1000:.1f} us/dB, generated "
            f"{r['generated_slope_ms_per_db'] * 1000:.1f} us/dB"
        )
    for gain, table in report["denoising"].items():
        if isinstance(table, dict):
            print(f"-- {gain}")
            for name, m in table.items():
                print(f"   {name:<48} SNR {m['snr_db']:6.2f} dB  Pearson {m['pearson']:.3f}")
    print(pd.Series({"written": args.out}).to_string())


if __name__ == "__main__":
    main()
