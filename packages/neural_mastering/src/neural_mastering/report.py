"""The `mastering-infer --report` outputs: a JSON summary and a PNG of the EQ and spectra."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import scipy.signal
import torch

from neural_mastering.dsp.eq import magnitude_db
from neural_mastering.mastering import MasteredTrack, MasteringResult
from neural_mastering.metrics import crest_factor_db, lufs, true_peak
from sigshared.plotting import new_figure


def band_table(track: MasteredTrack) -> list[dict[str, float | str]]:
    """One dict per EQ band: kind, frequency Hz, gain dB, Q (and its weight in phase 1C)."""
    p = track.params
    k = len(p["freq_hz"])
    kinds = ["low_shelf"] + ["peaking"] * (k - 2) + ["high_shelf"] if k >= 2 else ["peaking"]
    rows = []
    for i in range(k):
        row = {
            "kind": kinds[i],
            "freq_hz": float(p["freq_hz"][i]),
            "gain_db": float(p["gain_db"][i]),
            "q": float(p["q"][i]),
        }
        if "band_weights" in p:
            row["band_weight"] = float(p["band_weights"][i])
        rows.append(row)
    return rows


def level_stats(x: np.ndarray, sr: int) -> dict[str, float]:
    """LUFS, true peak dBTP and crest factor dB of (C, T)."""
    return {
        "lufs": lufs(x, sr),
        "true_peak_dbtp": true_peak(x),
        "crest_factor_db": crest_factor_db(x),
    }


def plot_report(
    path: Path, track: MasteredTrack, before: np.ndarray, after: np.ndarray, sr: int, model_sr: int
) -> None:
    """EQ curve (total and per band) above the before / after spectra of the channel mean,
    written to `path` as PNG."""
    fig, (ax_eq, ax_sp) = new_figure(2, 1, figsize=(9, 7))
    f = np.geomspace(20, min(20000, 0.49 * model_sr), 512)
    ft = torch.from_numpy(f)
    b, a = torch.from_numpy(track.b), torch.from_numpy(track.a)
    for i in range(b.shape[0]):
        ax_eq.semilogx(f, magnitude_db(b[i : i + 1], a[i : i + 1], ft, model_sr), "--", lw=0.8)
    ax_eq.semilogx(f, magnitude_db(b, a, ft, model_sr), "k", lw=2, label="EQ total")
    ax_eq.set_ylabel("gain (dB)")
    ax_eq.set_title(f"EQ (make-up gain {float(track.params['makeup_db']):+.1f} dB not drawn)")
    ax_eq.legend()
    for x, label in ((before, "before"), (after, "after")):
        fr, psd = scipy.signal.welch(x.mean(0), sr, nperseg=8192)
        ax_sp.semilogx(fr[1:], 10 * np.log10(psd[1:] + 1e-20), label=label, lw=1)
    ax_sp.set_xlim(20, sr / 2)
    ax_sp.set_xlabel("frequency (Hz)")
    ax_sp.set_ylabel("power (dB/Hz)")
    ax_sp.legend()
    # PNG by name, not by suffix: the path may be a temporary one (see sigshared.files).
    try:
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)


def build_report(
    result: MasteringResult,
    before: np.ndarray,
    sample_rate: int,
    phase: str,
    target_lufs: float,
    ceiling_db: float,
) -> dict:
    """The JSON report of one mastered song: EQ bands, gains, levels before / after."""
    track = result.track
    report = {
        "phase": phase,
        "sample_rate": sample_rate,
        "channels": int(before.shape[0]),
        "eq_bands": band_table(track),
        "makeup_gain_db": float(track.params["makeup_db"]),
        "output_gain_db": result.gain_db,
        "target_lufs": target_lufs,
        "ceiling_dbtp": ceiling_db,
        "ceiling_limited": result.ceiling_limited,
        "before": level_stats(before, sample_rate),
        "after": level_stats(result.audio, sample_rate),
    }
    if "band_weights" in track.params:
        report["band_weights"] = [float(w) for w in track.params["band_weights"]]
    return report
