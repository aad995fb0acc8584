"""The design document's two evaluation modes on held-out recordings.

reconstruction: each reference x0 (per-recording z-scored) is noised to a random step
    t ~ U{0..999} and the model's one-step estimate x0_hat is compared with x0.
generation: DDIM (60 steps, eta 0 by default) from noise with the reference's static
    parameters; the sample is compared with the reference recording.

Per signal: MSE, L1, Pearson, SNR (dB), multi-resolution STFT distance and DTW, on the
z-scored signals (the document's scale), and the wave I / III / V peak-latency error in ms
against the peaks found the same way in the reference (and, for synthetic data, against the
true latencies too). Summaries are means over signals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from abr_diffusion.checkpoint import TrainedModel
from abr_diffusion.data import ABRDataset
from abr_diffusion.peaks import WAVES, peak_latencies
from sigshared import metrics
from sigshared.losses import MultiResolutionSTFTLoss

METRICS = ("mse", "l1", "pearson", "snr_db", "stft", "dtw")
# The design document's table (its clinical data, not ours): reference points only.
DOCUMENT_TABLE = {
    "reconstruction": {"mse": 0.0056, "pearson": 0.919, "dtw": 5.42, "snr_db": 12.1},
    "generation": {"mse": 0.052, "pearson": 0.349, "dtw": 18.4, "snr_db": -0.03},
}


@dataclass
class ModeResult:
    """Per-signal results of one mode; arrays are (N, T) z-scored or (N,) / (N, 3)."""

    reference: np.ndarray
    output: np.ndarray
    per_signal: dict[str, np.ndarray]
    latency_ref: np.ndarray
    latency_out: np.ndarray
    latency_true: np.ndarray | None = None
    extra: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        out = {k: float(np.mean(v)) for k, v in self.per_signal.items()}
        err = np.abs(self.latency_out - self.latency_ref)
        for j, wave in enumerate(WAVES):
            out[f"latency_error_{wave}_ms"] = float(err[:, j].mean())
        if self.latency_true is not None:
            err_true = np.abs(self.latency_out - self.latency_true)
            for j, wave in enumerate(WAVES):
                out[f"latency_error_true_{wave}_ms"] = float(err_true[:, j].mean())
        out.update(self.extra)
        return out


def signal_metrics(reference: torch.Tensor, output: torch.Tensor) -> dict[str, np.ndarray]:
    """(N, T) reference and output -> per-signal metric arrays (N,)."""
    stft = MultiResolutionSTFTLoss(fft_sizes=(16, 32, 64), hop_sizes=(4, 8, 16))
    per_stft = torch.stack([stft(o[None], r[None]) for o, r in zip(output, reference)])
    values = {
        "mse": metrics.mse(output, reference),
        "l1": metrics.l1(output, reference),
        "pearson": metrics.pearson(output, reference),
        "snr_db": metrics.snr_db(reference, output),
        "stft": per_stft,
        "dtw": metrics.dtw(output, reference),
    }
    return {k: v.double().cpu().numpy() for k, v in values.items()}


def _mode_result(
    reference: torch.Tensor, output: torch.Tensor, latency_true: np.ndarray | None
) -> ModeResult:
    ref, out = reference.cpu(), output.cpu()
    return ModeResult(
        reference=ref.numpy(),
        output=out.numpy(),
        per_signal=signal_metrics(ref, out),
        latency_ref=peak_latencies(ref.numpy()),
        latency_out=peak_latencies(out.numpy()),
        latency_true=latency_true,
    )


@torch.no_grad()
def evaluate(
    trained: TrainedModel,
    dataset: ABRDataset,
    index: np.ndarray,
    batch_size: int = 256,
    seed: int = 42,
    steps: int | None = None,
    eta: float | None = None,
    guidance: float | None = None,
    progress: bool = False,
) -> dict[str, ModeResult]:
    """Both modes on the recordings `index` of `dataset`; seeded."""
    device = trained.device
    gen = torch.Generator().manual_seed(seed)
    x0_all = dataset.x[index]
    static_all = dataset.static[index]
    t_all = torch.randint(0, trained.diffusion.schedule.num_timesteps, (len(index),), generator=gen)
    noise_all = torch.randn(x0_all.shape, generator=gen)
    recon, generated = [], []
    starts = range(0, len(index), batch_size)
    for s in tqdm(starts, disable=not progress, desc="evaluating"):
        x0 = x0_all[s : s + batch_size].to(device)
        static = static_all[s : s + batch_size].to(device)
        t = t_all[s : s + batch_size].to(device)
        noise = noise_all[s : s + batch_size].to(device)
        recon.append(trained.diffusion.reconstruct(trained.net, x0, static, t, noise).cpu())
        x_T = torch.randn(x0.shape, generator=gen).to(device)
        generated.append(
            trained.diffusion.generate(
                trained.net, static, steps, eta, guidance, x_T=x_T, seq_len=x0.shape[-1]
            ).cpu()
        )
    ref = x0_all[:, 0]
    lat = dataset.data.latencies
    lat_true = None if lat is None else lat[index]
    results = {
        "reconstruction": _mode_result(ref, torch.cat(recon)[:, 0], lat_true),
        "generation": _mode_result(ref, torch.cat(generated)[:, 0], lat_true),
    }
    results["reconstruction"].extra["mean_t"] = float(t_all.float().mean())
    return results


def summary_table(results: dict[str, ModeResult]) -> list[dict[str, object]]:
    """Rows {mode, metric, value, document} for CSV / printing."""
    rows = []
    for mode, res in results.items():
        for metric, value in res.summary().items():
            rows.append(
                {
                    "mode": mode,
                    "metric": metric,
                    "value": value,
                    "document": DOCUMENT_TABLE[mode].get(metric, ""),
                }
            )
    return rows


def format_table(rows: list[dict[str, object]]) -> str:
    """A plain-text table of `summary_table` rows."""
    lines = [f"{'mode':<15} {'metric':<26} {'ours':>10} {'document':>10}"]
    for r in rows:
        doc = f"{r['document']:>10.4g}" if r["document"] != "" else f"{'':>10}"
        lines.append(f"{r['mode']:<15} {r['metric']:<26} {r['value']:>10.4g} {doc}")
    return "\n".join(lines)
