"""Forecast evaluation against two baselines, on the same windows and steps.

For every window and every step i >= warm-up, the H future samples (i+1)*T ... that exist and
are valid are compared with:
- the model: mean mu and variance exp(logvar);
- persistence: the last observed sample y[(i+1)*T - 1] repeated;
- last-2-minutes mean: the mean of y[(i+1)*T - H .. (i+1)*T - 1] (fewer samples at the start).
Baselines have no variance of their own; for NLL and coverage they get one constant variance,
their own mean squared error over the evaluated samples (the best constant, a generous choice).
MAE / RMSE are in bpm (denormalised); NLL is per sample in bpm units (normalised NLL +
log(FHR_SCALE)); coverage is the share of true samples inside mean +/- 2 std (ideal 95.4 %).
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader, Dataset

from teb_vae.features.preprocess import FHR_SCALE
from teb_vae.forecast import future_targets
from teb_vae.layers import causal_means
from teb_vae.model import SeqVaeTeb

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def baselines(y: torch.Tensor, steps: torch.Tensor, horizon: int, decimation: int):
    """(B, N) signal -> persistence and last-2-minutes mean forecasts, each (B, S', 1)."""
    last = (steps + 1) * decimation - 1
    persistence = y[:, last][..., None]
    mean = causal_means(y[:, None], [horizon])[:, 0, last]
    return persistence, mean[..., None]


class _Accumulator:
    def __init__(self) -> None:
        self.n = 0
        self.abs = self.sq = self.nll = self.inside = 0.0

    def add(self, err: torch.Tensor, logvar: torch.Tensor | None, mask: torch.Tensor) -> None:
        e = err[mask]
        self.n += e.numel()
        self.abs += float(e.abs().sum())
        self.sq += float((e**2).sum())
        if logvar is not None:
            lv = logvar.expand_as(err)[mask]
            self.nll += float((0.5 * (lv + e**2 * torch.exp(-lv))).sum())
            self.inside += float((e.abs() <= 2 * torch.exp(0.5 * lv)).sum())

    def result(self, own_variance: bool) -> dict[str, float]:
        n = max(self.n, 1)
        mse = self.sq / n
        out = {"mae_bpm": FHR_SCALE * self.abs / n, "rmse_bpm": FHR_SCALE * math.sqrt(mse)}
        if own_variance:
            nll, cover = self.nll / n, self.inside / n
        else:
            # A constant variance equal to the own MSE gives NLL = 0.5 (log mse + 1); the
            # caller computes the coverage, which needs that variance first.
            nll, cover = 0.5 * (math.log(max(mse, 1e-12)) + 1.0), float("nan")
        out["nll"] = nll + HALF_LOG_2PI + math.log(FHR_SCALE)
        out["coverage_2std"] = cover
        return out


@torch.no_grad()
def evaluate(
    model: SeqVaeTeb, dataset: Dataset, device: torch.device | str = "cpu", batch_size: int = 8
) -> dict[str, dict[str, float]]:
    """{"model": {...}, "persistence": {...}, "last2min_mean": {...}, "improvement": {...}}."""
    cfg = model.cfg
    model.eval()
    acc = {"model": _Accumulator(), "persistence": _Accumulator(), "last2min_mean": _Accumulator()}
    base_errors: dict[str, list[torch.Tensor]] = {"persistence": [], "last2min_mean": []}
    for batch in DataLoader(dataset, batch_size=batch_size):
        batch = {k: v.to(device) for k, v in batch.items()}
        y, valid = batch["y_raw"], batch["valid"]
        out = model.predict_raw_signal(batch["x_ph"], batch["y_st"], batch["y_ph"])
        n_steps = out["raw_signal_mu"].shape[1]
        steps = torch.arange(cfg.warmup_period, n_steps, device=y.device)
        if len(steps) == 0:
            continue
        target, mask = future_targets(y, steps, cfg.horizon, cfg.decimation_factor, valid)
        mu = out["raw_signal_mu"][:, steps]
        acc["model"].add(mu - target, out["raw_signal_logvar"][:, steps], mask)
        pers, mean2 = baselines(y, steps, cfg.horizon, cfg.decimation_factor)
        for name, pred in (("persistence", pers), ("last2min_mean", mean2)):
            err = (pred - target).expand_as(target)
            acc[name].add(err, None, mask)
            base_errors[name].append(err[mask])
    result = {"model": acc["model"].result(own_variance=True)}
    for name in base_errors:
        r = acc[name].result(own_variance=False)
        e = torch.cat(base_errors[name]) if base_errors[name] else torch.zeros(0)
        if e.numel():
            r["coverage_2std"] = float((e.abs() <= 2 * e.pow(2).mean().sqrt()).float().mean())
        result[name] = r
    m = result["model"]
    result["improvement"] = {
        f"{k}_vs_{b}_pct": 100.0 * (1 - m[k] / result[b][k])
        for b in ("persistence", "last2min_mean")
        for k in ("mae_bpm", "rmse_bpm")
    }
    result["evaluated_samples"] = {"n": float(acc["model"].n)}
    return result
