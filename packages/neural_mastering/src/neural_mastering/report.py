"""The `mastering-infer --report` outputs: a JSON summary and a PNG of the EQ and spectra."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import scipy.signal
import torch

from neural_mastering.dsp.eq import magnitude_db
from neural_mastering.dsp.loudness import loudness_range, momentary_max, short_term_max
from neural_mastering.mastering import MasteredTrack, MasteringResult
from neural_mastering.metrics import crest_factor_db, lufs, true_peak, true_peak_fft_db
from neural_mastering.streaming import StreamedMaster
from sigshared.plotting import new_figure


def band_table(track: MasteredTrack | StreamedMaster) -> list[dict[str, float | str]]:
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
    """LUFS, loudness range, momentary / short-term maxima, true peak (the 4x meter and the
    independent 8x FFT meter) and crest factor of (C, T)."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    return {
        "lufs": lufs(x, sr),
        "loudness_range_lu": loudness_range(t, sr),
        "momentary_max_lufs": momentary_max(t, sr),
        "short_term_max_lufs": short_term_max(t, sr),
        "true_peak_dbtp": true_peak(x),
        "true_peak_8x_dbtp": true_peak_fft_db(x),
        "crest_factor_db": crest_factor_db(x),
    }


def reduction_trace(reduction_db: np.ndarray, sr: int, points: int = 2000) -> tuple:
    """(times s, max reduction dB) of the limiter's reduction in `points` equal bins."""
    n = len(reduction_db)
    edges = np.linspace(0, n, min(points, max(n, 1)) + 1).astype(int)
    peaks = np.maximum.reduceat(reduction_db, edges[:-1]) if n else np.zeros(0)
    return edges[:-1] / sr, peaks


def _plot(
    path: Path,
    params: dict[str, np.ndarray],
    b: np.ndarray,
    a: np.ndarray,
    coeff_sr: int,
    spectra: dict[str, tuple[np.ndarray, np.ndarray]],
    trace: tuple[np.ndarray, np.ndarray],
    reduction: tuple[float, float],
    sr: int,
) -> None:
    """EQ curve (total and per band; coefficients at `coeff_sr`), the before / after spectra
    {label: (f, psd)} of the channel mean and the limiter's gain-reduction trace (times s,
    max dB per bin) with its (max, mean), written to `path` as PNG."""
    fig, (ax_eq, ax_sp, ax_gr) = new_figure(3, 1, figsize=(9, 10))
    f = np.geomspace(20, min(20000, 0.49 * coeff_sr), 512)
    ft = torch.from_numpy(f)
    bt, at = torch.from_numpy(b), torch.from_numpy(a)
    for i in range(bt.shape[0]):
        ax_eq.semilogx(f, magnitude_db(bt[i : i + 1], at[i : i + 1], ft, coeff_sr), "--", lw=0.8)
    ax_eq.semilogx(f, magnitude_db(bt, at, ft, coeff_sr), "k", lw=2, label="EQ total")
    ax_eq.set_ylabel("gain (dB)")
    ax_eq.set_title(f"EQ (make-up gain {float(params['makeup_db']):+.1f} dB not drawn)")
    ax_eq.legend()
    for label, (fr, psd) in spectra.items():
        ax_sp.semilogx(fr[1:], 10 * np.log10(psd[1:] + 1e-20), label=label, lw=1)
    ax_sp.set_xlim(20, sr / 2)
    ax_sp.set_xlabel("frequency (Hz)")
    ax_sp.set_ylabel("power (dB/Hz)")
    ax_sp.legend()
    times, peaks = trace
    ax_gr.fill_between(times, 0, -peaks, step="post", lw=0.5)
    ax_gr.set_xlabel("time (s)")
    ax_gr.set_ylabel("limiter gain (dB)")
    ax_gr.set_title(
        f"limiter gain reduction: max {reduction[0]:.1f} dB, mean {reduction[1]:.2f} dB"
    )
    # PNG by name, not by suffix: the path may be a temporary one (see sigshared.files).
    try:
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)


def plot_report(
    path: Path,
    track: MasteredTrack,
    before: np.ndarray,
    after: np.ndarray,
    reduction_db: np.ndarray,
    sr: int,
    model_sr: int,
) -> None:
    """`_plot` of a song mastered in memory (`mastering.master_audio`)."""
    spectra = {
        label: scipy.signal.welch(x.mean(0), sr, nperseg=8192)
        for x, label in ((before, "before"), (after, "after"))
    }
    reduction = (
        float(reduction_db.max()) if reduction_db.size else 0.0,
        float(reduction_db.mean()) if reduction_db.size else 0.0,
    )
    _plot(
        path,
        track.params,
        track.b,
        track.a,
        model_sr,
        spectra,
        reduction_trace(reduction_db, sr),
        reduction,
        sr,
    )


def plot_stream_report(path: Path, result: StreamedMaster) -> None:
    """`_plot` of a song mastered by `streaming.master_stream(..., measure=True)`."""
    _plot(
        path,
        result.params,
        result.b,
        result.a,
        result.sample_rate,
        result.spectra,
        result.trace,
        (result.reduction_max_db, result.reduction_mean_db),
        result.sample_rate,
    )


def build_stream_report(
    result: StreamedMaster, channels: int, phase: str, settings: dict[str, float | int | str]
) -> dict:
    """The JSON report (as `build_report`) of a song mastered by `streaming.master_stream`."""
    report = {
        "phase": phase,
        "sample_rate": result.sample_rate,
        "channels": channels,
        "settings": settings,
        "eq_bands": band_table(result),
        "network_input_gain_db": result.input_gain_db,
        "residual": result.residual,
        "output_gain_db": result.gain_db,
        "limiter": {
            "gain_reduction_max_db": result.reduction_max_db,
            "gain_reduction_mean_db": result.reduction_mean_db,
            "loudness_iterations": result.iterations,
        },
        "silent_input": result.silent,
        "before": result.before,
        "after": result.after,
    }
    if "band_weights" in result.params:
        report["band_weights"] = [float(w) for w in result.params["band_weights"]]
    return report


def build_report(
    result: MasteringResult,
    before: np.ndarray,
    sample_rate: int,
    phase: str,
    settings: dict[str, float | int | str],
) -> dict:
    """The JSON report of one mastered song: settings, EQ bands, the network's input gain,
    the residual guard, the limiter's gain reduction, levels before / after."""
    track, delivered = result.track, result.delivered
    report = {
        "phase": phase,
        "sample_rate": sample_rate,
        "channels": int(before.shape[0]),
        "settings": settings,
        "eq_bands": band_table(track),
        "network_input_gain_db": result.input_gain_db,
        "residual": result.residual,
        "output_gain_db": delivered.gain_db,
        "limiter": {
            "gain_reduction_max_db": delivered.reduction_max_db,
            "gain_reduction_mean_db": delivered.reduction_mean_db,
            "loudness_iterations": delivered.iterations,
        },
        "silent_input": delivered.silent,
        "before": level_stats(before, sample_rate),
        "after": level_stats(result.audio, sample_rate),
    }
    if result.balance_distance_db is not None:
        report["reference_balance_distance_db"] = result.balance_distance_db
    if "band_weights" in track.params:
        report["band_weights"] = [float(w) for w in track.params["band_weights"]]
    return report
