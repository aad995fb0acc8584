"""`teb-infer`: forecast the next 2 minutes of FHR, with uncertainty, from a CTG recording.

Reads raw FHR / UP (WFDB record, CSV or NPZ), cleans and normalises them, cuts 20-minute
windows (stride = the window, plus a last window aligned to the end), computes features and
runs a trained checkpoint. Writes, per window, `forecast.npz` (mu / std in bpm for every step,
the assembled mean forecast and band, the step times) and `forecast.csv` (the mean forecast per
sample), plus a 4-panel PDF per window; with --at-minute M only the forecast issued at minute M
(of the recording) is written. --evaluate adds MAE / RMSE / NLL / coverage against the
persistence and last-2-minutes-mean baselines.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from sigshared.cli import cli_entry, refuse_overwrite, require_file
from sigshared.errors import UserError
from sigshared.training import load_checkpoint, load_config, select_device
from teb_vae.config import RunConfig
from teb_vae.data import CTGWindowDataset, FeatureStats, Windows, compute_features, read_recording
from teb_vae.evaluation import evaluate
from teb_vae.features.preprocess import (
    FHR_SCALE,
    FS,
    clean_ctg,
    denormalize_fhr,
    normalize_fhr,
    normalize_up,
)
from teb_vae.forecast import assemble_all
from teb_vae.model import SeqVaeTeb
from teb_vae.plotting import plot_sample


def load_model(path: str | Path, device: torch.device) -> tuple[SeqVaeTeb, RunConfig, FeatureStats]:
    """A trained model (EMA weights when present), its config and feature statistics."""
    state = load_checkpoint(require_file(path, "checkpoint"))
    extra = state.get("extra") or {}
    if "config" not in extra or "feature_stats" not in extra:
        raise UserError(f"{path} is not a teb-train checkpoint (no config / feature statistics)")
    cfg: RunConfig = load_config(RunConfig, extra["config"])
    model = SeqVaeTeb(cfg.model)
    weights = state.get("ema") or state["model"]
    model.load_state_dict(weights)
    return model.to(device).eval(), cfg, FeatureStats.from_state(extra["feature_stats"])


def window_starts(n: int, window: int) -> list[int]:
    """Non-overlapping windows from 0, plus one ending at the last sample if needed."""
    starts = list(range(0, n - window + 1, window))
    if starts[-1] + window < n:
        starts.append(n - window)
    return starts


@cli_entry
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="teb-infer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoint", required=True, help="checkpoints/best.pt or last.pt of a teb-train run"
    )
    parser.add_argument(
        "--input",
        required=True,
        help="a recording: WFDB record (.hea or "
        "stem), CSV or NPZ with fhr / up at 4 Hz, at least 20 minutes long",
    )
    parser.add_argument(
        "--at-minute",
        type=float,
        default=None,
        metavar="M",
        help="only the forecast issued at minute M of the recording",
    )
    parser.add_argument(
        "--evaluate",
        action="store_true",
        help="score the forecasts against the recording and two baselines",
    )
    parser.add_argument(
        "--out", default="teb_forecast", help="output folder (default: teb_forecast)"
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda", "mps"],
        help="where to run (default: auto)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    args = parser.parse_args(argv)
    device = select_device(args.device)
    model, cfg, stats = load_model(args.checkpoint, device)
    rec = read_recording(args.input)
    w = cfg.features.window
    if len(rec.fhr) < w:
        raise UserError(
            f"{args.input} is {len(rec.fhr) / FS / 60:.1f} minutes long ({len(rec.fhr)} samples);"
            f" the model needs at least {w / FS / 60:g} minutes ({w} samples at 4 Hz)"
        )
    clean = clean_ctg(rec.fhr, rec.up)
    if not clean.valid.any():
        raise UserError(
            f"{args.input}: the FHR channel holds no valid sample (all 0 or out of 50..220 bpm)"
        )
    out_dir = Path(args.out)
    starts = window_starts(len(rec.fhr), w)
    if args.at_minute is not None:
        sample = int(round(args.at_minute * 60 * FS)) - 1
        if not 0 <= sample < len(rec.fhr):
            raise UserError(
                f"--at-minute {args.at_minute} is outside the recording "
                f"(0 .. {len(rec.fhr) / FS / 60:.1f} minutes)"
            )
        # the window ending at the chosen sample gives the forecast the longest history
        starts = [max(0, min(sample + 1 - w, len(rec.fhr) - w))]
    fhr = np.stack([normalize_fhr(clean.fhr[s : s + w]) for s in starts]).astype(np.float32)
    up = np.stack([normalize_up(clean.up[s : s + w]) for s in starts]).astype(np.float32)
    valid = np.stack([clean.valid[s : s + w] for s in starts])
    windows = Windows(fhr, up, valid, [f"{rec.name}@{s}" for s in starts])
    feats = compute_features(windows, cfg.features, None, device)
    ds = CTGWindowDataset(windows, feats, stats)
    outputs = ["forecast.npz", "forecast.csv", "report.json"]
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in outputs:
        refuse_overwrite(out_dir / name, args.overwrite)
    t_dec = cfg.model.decimation_factor
    issued, mus, stds, means, bands = [], [], [], [], []
    for i in range(len(ds)):
        item = ds[i]
        batch = {k: v[None].to(device) for k, v in item.items()}
        full = model.predict_raw_signal(batch["x_ph"], batch["y_st"], batch["y_ph"])
        asm = assemble_all(full["raw_signal_mu"], full["raw_signal_logvar"], w, t_dec)
        if args.at_minute is not None:
            r = model.predict_single_timestep(
                batch["x_ph"], batch["y_st"], batch["y_ph"], sample - starts[0], w
            )
            mu, lv = r["raw_signal_mu"][:, None], r["raw_signal_logvar"][:, None]
            issued.append(np.array([starts[0] + (r["decimated_timestep"] + 1) * t_dec]))
        else:
            mu, lv = full["raw_signal_mu"], full["raw_signal_logvar"]
            issued.append(starts[i] + (np.arange(mu.shape[1]) + 1) * t_dec)
        mus.append(denormalize_fhr(mu[0].cpu().numpy()))
        stds.append(FHR_SCALE * torch.exp(0.5 * lv[0]).cpu().numpy())
        means.append(denormalize_fhr(asm["mu_pr_means"][0].cpu().numpy()))
        bands.append(FHR_SCALE * np.exp(0.5 * asm["log_var_means"][0].cpu().numpy()))
        pdf = refuse_overwrite(out_dir / f"forecast_window{i:03d}.pdf", args.overwrite)
        plot_sample(
            model, item, pdf, device, title=f"{rec.name}, samples {starts[i]}..{starts[i] + w - 1}"
        )
    np.savez(
        out_dir / "forecast.npz",
        window_start=np.array(starts),
        issued_at_sample=np.stack(issued),
        mu_bpm=np.stack(mus),
        std_bpm=np.stack(stds),
        mean_forecast_bpm=np.stack(means),
        mean_std_bpm=np.stack(bands),
    )
    rows = ["window,sample,time_s,fhr_bpm,mean_forecast_bpm,std_bpm"]
    for i, s in enumerate(starts):
        for k in range(w):
            rows.append(
                f"{i},{s + k},{(s + k) / FS:.2f},{clean.fhr[s + k]:.2f},"
                f"{means[i][k]:.3f},{bands[i][k]:.3f}"
            )
    (out_dir / "forecast.csv").write_text("\n".join(rows) + "\n")
    report = {"input": str(args.input), "windows": len(starts), "window_starts": starts}
    if args.evaluate:
        report["evaluation"] = evaluate(model, ds, device)
        print(json.dumps(report["evaluation"], indent=2))
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {out_dir}/forecast.npz, forecast.csv, report.json and {len(starts)} PDF(s)")


if __name__ == "__main__":
    main()
