"""The record-level benchmark behind `teb-eval`: forecasts from every 4 s step of whole records,
scored against two baselines.

The model's std is the state-conditioned one fitted on the validation records
(`teb_vae.spread`) and its mean is held at the last valid sample inside decelerations
(`teb_vae.anchoring`), both from the causal state at each issue sample (`teb_vae.state`).

Forecasts: the features of a whole record are computed in one pass (the feature steps are
causal, so step i still sees samples up to 16(i+1) - 1 only) and the model runs over all of its
steps, carrying its causal state through the record. Step i (i >= the warm-up) forecasts the
samples (i+1)T + k, k < H; only valid (measured, see `teb_vae.quality`) samples are scored.

Baselines, issued at the same sample e = (i+1)T - 1:
- persistence: the last valid FHR sample at or before e;
- mean_2min: the mean of the valid FHR samples among e - 479 .. e (persistence when none).
Their spread: a standard deviation per horizon sample, the RMS of their errors on the training
windows (`baseline_spread`, stored in the checkpoint by teb-train), never the test records.

Metrics (bpm): MAE, RMSE, NLL (Gaussian, per sample), CRPS (Gaussian closed form), coverage of
mean +-1 std, +-2 std and of the central 90 % interval (+-1.645 std), and the mean predicted
std (`mean_std`: how the spread reacts to the input). Groups: all valid samples, 8 horizon bins
of 15 s, stage I / II (by the target sample and the header's stage II start), decelerations
(target samples more than 15 bpm below the median of the valid FHR of the preceding 10
minutes, `teb_vae.state.deceleration_mask`; split by whether the forecast was issued inside
one), and after gaps (forecasts issued 15 s or more after the last valid FHR sample).
`z_shuffled_summary`: the model scored again with its latent z shuffled across steps, as
calibrated and as the network's own Gaussian (before the anchoring and the spread model, which
read the state and can take over what z said about it).
Per-record values and bootstrap 95 % intervals over records (the mean over records of a
per-record metric, and of the model-minus-baseline MAE difference).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from teb_vae.checkpoint import TrainedTeb
from teb_vae.data import CTGWindowDataset, Recording, Windows, compute_features, windows_at
from teb_vae.features.preprocess import FHR_SCALE, FS, Cleaned, clean_ctg, denormalize_fhr
from teb_vae.state import deceleration_mask, forecast_state

FORECASTERS = ("model", "persistence", "mean_2min")
METRICS = ("mae", "rmse", "nll", "crps", "cover_1std", "cover_2std", "cover_90")
BIN_S = 15.0
Z90 = 1.6448536269514722
AFTER_GAP_S = 15.0


def last_valid(y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(..., N) -> (..., N): the last valid value at or before each sample (the first valid
    value before any), NaN where a row has none."""
    idx = np.where(valid, np.arange(y.shape[-1]), -1)
    last = np.maximum.accumulate(idx, axis=-1)
    first = np.argmax(valid, axis=-1)[..., None]
    out = np.take_along_axis(y, np.where(last < 0, first, last), axis=-1).astype(np.float64)
    return np.where(valid.any(-1, keepdims=True), out, np.nan)


def baseline_forecasts(
    y: np.ndarray, valid: np.ndarray, issue: np.ndarray, horizon: int
) -> dict[str, np.ndarray]:
    """y, valid (N,); issue (S',) sample indices -> {"persistence", "mean_2min"}: (S',)."""
    persistence = last_valid(y, valid)[issue]
    csum = np.concatenate([[0.0], np.cumsum(np.where(valid, y, 0.0))])
    ccount = np.concatenate([[0], np.cumsum(valid)])
    lo = np.maximum(issue + 1 - horizon, 0)
    count = ccount[issue + 1] - ccount[lo]
    mean = (csum[issue + 1] - csum[lo]) / np.maximum(count, 1)
    return {"persistence": persistence, "mean_2min": np.where(count > 0, mean, persistence)}


def baseline_spread(
    windows: Windows, horizon: int, decimation: int, warmup: int
) -> dict[str, list[float]]:
    """The baselines' standard deviation (bpm) per horizon sample: the RMS of their errors on
    the valid targets of `windows` (the training windows), from every step past the warm-up."""
    sq = {name: np.zeros(horizon) for name in FORECASTERS[1:]}
    n = np.zeros(horizon)
    k = np.arange(horizon)
    for fhr_n, valid in zip(windows.fhr, windows.valid):
        y = denormalize_fhr(fhr_n.astype(np.float64))
        steps = np.arange(warmup, len(y) // decimation)
        issue = (steps + 1) * decimation - 1
        idx = issue[:, None] + 1 + k[None]
        inside = idx < len(y)
        ok = inside & valid[np.minimum(idx, len(y) - 1)]
        target = y[np.minimum(idx, len(y) - 1)]
        for name, pred in baseline_forecasts(y, valid, issue, horizon).items():
            err = np.where(ok, pred[:, None] - target, 0.0)
            sq[name] += np.nansum(err**2, axis=0)
        n += ok.sum(0)
    return {name: np.sqrt(v / np.maximum(n, 1)).tolist() for name, v in sq.items()}


@dataclasses.dataclass
class WholeRecordForecast:
    """Whole-record forecasts: issue (S',) sample indices; mu, std (S', H) in bpm, the model's
    (anchored, state-conditioned spread); net_mu, net_std (S', H) the network's own Gaussian
    before both."""

    issue: np.ndarray
    mu: np.ndarray
    std: np.ndarray
    clean: Cleaned
    net_mu: np.ndarray
    net_std: np.ndarray

    def network(self) -> WholeRecordForecast:
        """The same forecasts with the network's own mean and std as the model's."""
        return dataclasses.replace(self, mu=self.net_mu, std=self.net_std)


@torch.no_grad()
def forecast_whole_record(
    trained: TrainedTeb,
    rec: Recording,
    device: torch.device | str = "cpu",
    shuffle_z_seed: int | None = None,
) -> WholeRecordForecast:
    """Forecasts from every step past the warm-up of a whole record, in one causal pass.

    With `shuffle_z_seed`, each step is decoded from the latent z of another step of the
    record (a seeded permutation) while everything else (level forecast, anchor) stays: how
    much worse that scores is what z carries about the moment."""
    cfg = trained.cfg
    t = cfg.features.decimation
    n = len(rec.fhr) // t * t
    clean = clean_ctg(rec.fhr[:n], rec.up[:n])
    fcfg = dataclasses.replace(cfg.features, window=n)
    windows = windows_at(rec.name, clean, [0], n)
    feats = compute_features(windows, fcfg, None, device)
    ds = CTGWindowDataset(windows, feats, trained.stats, cfg.model.validity_channels > 0)
    item = {k: v[None].to(device) for k, v in ds[0].items()}
    model = trained.model.eval()
    z = model.encode(item["y_st"], item["y_ph"], item["x_ph"])["z"]
    if shuffle_z_seed is not None:
        g = torch.Generator().manual_seed(shuffle_z_seed)
        z = z[:, torch.randperm(z.shape[1], generator=g).to(z.device)]
    all_steps = torch.arange(z.shape[1], device=z.device)
    out = model.decode_z(z, item["y_st"], item["x_ph"], all_steps)
    w = cfg.model.warmup_period
    mu = denormalize_fhr(out["raw_signal_mu"][0, w:].double().cpu().numpy())
    std = FHR_SCALE * torch.exp(0.5 * out["raw_signal_logvar"][0, w:].double()).cpu().numpy()
    steps = np.arange(w, n // t)
    issue = (steps + 1) * t - 1
    state = forecast_state(clean.fhr, clean.valid, issue)
    adjusted = trained.adjust_mean(mu, clean.fhr[issue], state)  # clean.fhr: last valid value
    return WholeRecordForecast(issue, adjusted, trained.scale_std(std, state), clean, mu, std)


def _sums(err: np.ndarray, std: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sums over `mask` of [n, |e|, e^2, NLL, CRPS, in 1 std, in 2 std, in 90 %, std]."""
    e, s = err[mask], np.broadcast_to(std, err.shape)[mask]
    z = e / s
    phi = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + _erf(z / math.sqrt(2)))
    crps = s * (z * (2 * cdf - 1) + 2 * phi - 1 / math.sqrt(math.pi))
    nll = 0.5 * np.log(2 * math.pi * s**2) + 0.5 * z**2
    az = np.abs(z)
    return np.array(
        [e.size, np.abs(e).sum(), (e**2).sum(), nll.sum(), crps.sum()]
        + [(az <= 1).sum(), (az <= 2).sum(), (az <= Z90).sum(), s.sum()],
        dtype=np.float64,
    )


def _erf(x: np.ndarray) -> np.ndarray:
    return torch.special.erf(torch.from_numpy(np.asarray(x, np.float64))).numpy()


def _metrics(s: np.ndarray) -> dict[str, float]:
    n = max(s[0], 1.0)
    return {
        "mae": s[1] / n,
        "rmse": math.sqrt(s[2] / n),
        "nll": s[3] / n,
        "crps": s[4] / n,
        "cover_1std": s[5] / n,
        "cover_2std": s[6] / n,
        "cover_90": s[7] / n,
        "mean_std": s[8] / n,
        "samples": int(s[0]),
    }


def score_record(
    fc: WholeRecordForecast, stage2_start: int | None, spread: dict[str, list[float]] | None
) -> dict[str, dict[str, np.ndarray]]:
    """{forecaster: {group: sums}} for one record; groups "all", "bin0".."bin7", "stage_I",
    "stage_II", "decelerations" (split into "decel_ongoing": forecasts issued when the last
    valid FHR sample was itself in a deceleration, and "decel_onset": the others, which could
    not see it coming), "after_gap" (forecasts issued when the last valid FHR sample was at
    least AFTER_GAP_S old). The baselines are scored with their `spread` (per horizon sample);
    with None, the model alone."""
    y, valid = fc.clean.fhr, fc.clean.valid
    n, h = len(y), fc.mu.shape[1]
    idx = fc.issue[:, None] + 1 + np.arange(h)[None]
    inside = idx < n
    safe = np.minimum(idx, n - 1)
    ok = inside & valid[safe]
    target = y[safe]
    decel_all = deceleration_mask(y, valid)
    decel = decel_all[safe]
    stage2 = idx >= (stage2_start if stage2_start is not None else n + h)
    bin_len = int(BIN_S * FS)
    groups = {"all": ok, "stage_I": ok & ~stage2, "stage_II": ok & stage2}
    groups["decelerations"] = ok & decel
    last = np.maximum.accumulate(np.where(valid, np.arange(n), -1))[fc.issue]
    in_decel = (decel_all[np.maximum(last, 0)] & (last >= 0))[:, None]
    groups["decel_ongoing"] = ok & decel & in_decel
    groups["decel_onset"] = ok & decel & ~in_decel
    gap = (fc.issue - last) >= AFTER_GAP_S * FS
    groups["after_gap"] = ok & gap[:, None]
    k = np.arange(h)[None]
    for b in range(math.ceil(h / bin_len)):
        groups[f"bin{b}"] = ok & (k // bin_len == b)
    preds = {"model": (fc.mu, fc.std)}
    baselines = baseline_forecasts(y, valid, fc.issue, h) if spread is not None else {}
    for name, pred in baselines.items():
        preds[name] = (np.broadcast_to(pred[:, None], ok.shape), np.asarray(spread[name])[None])
    return {
        name: {g: _sums(mu - target, std, m) for g, m in groups.items()}
        for name, (mu, std) in preds.items()
    }


def z_shuffled_summary(own: dict[str, np.ndarray], shuffled: dict[str, np.ndarray]) -> dict:
    """own, shuffled: {record: the "all" sums of `score_record`'s model} with the record's own
    latent z and with z shuffled across its steps (`forecast_whole_record(shuffle_z_seed=...)`)
    -> the overall metrics of both and, per record, the increase of NLL, MAE and CRPS with its
    bootstrap interval: > 0 means the forecasts use what z carries about the moment."""
    names = list(own)
    mine = {r: _metrics(own[r]) for r in names}
    shuf = {r: _metrics(shuffled[r]) for r in names}
    out: dict = {
        "model": _metrics(sum(own[r] for r in names)),
        "shuffled": _metrics(sum(shuffled[r] for r in names)),
    }
    for m in ("nll", "mae", "crps"):
        diff = [shuf[r][m] - mine[r][m] for r in names]
        out[f"{m}_increase"] = {"mean": float(np.mean(diff)), "ci95": bootstrap_ci(diff)}
    return out


def bootstrap_ci(values: np.ndarray, reps: int = 2000, seed: int = 0) -> list[float]:
    """95 % percentile interval of the mean of `values` (one per record) over resampled
    records."""
    values = np.asarray(values, np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (reps, len(values)))].mean(1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def summarise(per_record: dict[str, dict], horizon: int) -> dict:
    """benchmark.json's body from {record: score_record(...)}."""
    names = list(per_record)
    n_bins = math.ceil(horizon / (BIN_S * FS))
    out: dict = {"horizons_s": [BIN_S * (b + 1) for b in range(n_bins)], "forecasters": {}}
    for f in FORECASTERS:

        def total(group: str, f: str = f) -> dict[str, float]:
            return _metrics(sum(per_record[r][f][group] for r in names))

        rec_metrics = {r: _metrics(per_record[r][f]["all"]) for r in names}
        entry = {
            "overall": total("all"),
            "by_horizon": [total(f"bin{b}") for b in range(n_bins)],
            "stage_I": total("stage_I"),
            "stage_II": total("stage_II"),
            "decelerations": total("decelerations"),
            "decel_onset": total("decel_onset"),
            "decel_ongoing": total("decel_ongoing"),
            "after_gap": total("after_gap"),
            "per_record": rec_metrics,
        }
        entry["mae_by_horizon"] = [m["mae"] for m in entry["by_horizon"]]
        entry["record_mean_ci95"] = {
            m: bootstrap_ci([rec_metrics[r][m] for r in names]) for m in METRICS
        }
        out["forecasters"][f] = entry
    model = out["forecasters"]["model"]["per_record"]
    out["model_minus_baseline_mae"] = {}
    for b in FORECASTERS[1:]:
        base = out["forecasters"][b]["per_record"]
        diff = [model[r]["mae"] - base[r]["mae"] for r in names]
        out["model_minus_baseline_mae"][b] = {
            "mean": float(np.mean(diff)),
            "ci95": bootstrap_ci(diff),
        }
    return out
