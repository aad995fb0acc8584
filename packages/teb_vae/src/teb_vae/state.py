"""The causal state of a CTG at the moment a forecast is issued, which the spread reacts to.

Everything here reads only samples at or before the issue sample e (the last sample the
forecast saw), so a live monitor has it too. The state of one forecast (STATE_NAMES), bpm
quantities on a 4 Hz cleaned record (`teb_vae.features.preprocess.Cleaned`: `fhr` holds the
last valid value through gaps, `valid` marks measured samples):

- log_sd_1min: log(1 + std of the valid FHR of the last minute) (5 bpm when fewer than 10 s
  of it are valid): short-term variability; large during decelerations and stage II pushing;
- log_gap_age: log(1 + seconds since the last valid FHR sample), capped at 10 minutes;
- decel_fraction_10min: the share of the last 10 minutes that were in a deceleration
  (`deceleration_mask`): decelerations recur with contractions;
- fall_15s / rise_15s: how far the last valid FHR lies below / above the mean of the valid
  FHR of the last 15 s, in units of DECEL_DROP_BPM (0 with under 2 s of it): a drop in
  progress;
- log_since_decel: log(1 + seconds since the last deceleration sample), capped at 10 minutes;
- in_decel: 1 when the last valid FHR sample (at most 10 minutes old) is in a deceleration.

Decelerations (`deceleration_mask`, also the benchmark's group): valid samples more than
DECEL_DROP_BPM below the median of the valid FHR of the preceding DECEL_BASELINE_S seconds
(at least one minute of it), a simple causal stand-in for the FIGO baseline rule.

Every window is at most 10 minutes and the deceleration mask needs 10 more, so the state at e
depends only on samples e - STATE_HISTORY + 1 .. e: a stream that keeps that many samples
gets exactly the batch values (`teb_vae.streaming`). pandas' rolling windows are used for the
trailing statistics (the field's tool; NaN-aware and O(N) per statistic).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from teb_vae.features.preprocess import FS

DECEL_DROP_BPM = 15.0
DECEL_BASELINE_S = 600.0
STATE_NAMES = (
    "log_sd_1min",
    "log_gap_age",
    "decel_fraction_10min",
    "fall_15s",
    "rise_15s",
    "log_since_decel",
    "in_decel",
)
CAP = int(DECEL_BASELINE_S * FS)  # 10 minutes of samples: the longest look-back of a feature
STATE_HISTORY = 2 * CAP  # the samples the state of one forecast depends on


def deceleration_mask(y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(N,) bool: valid samples more than DECEL_DROP_BPM below the median of the valid FHR of
    the preceding DECEL_BASELINE_S seconds (at least one minute of it)."""
    series = pd.Series(np.where(valid, y, np.nan))
    base = series.rolling(CAP, min_periods=int(60 * FS)).median().to_numpy()
    with np.errstate(invalid="ignore"):
        return valid & (y < base - DECEL_DROP_BPM)


def forecast_state(fhr: np.ndarray, valid: np.ndarray, issue: np.ndarray) -> np.ndarray:
    """fhr (N,) cleaned FHR (bpm), valid (N,) bool, issue (S,) sample indices ->
    (S, len(STATE_NAMES)) float64, the state of the forecasts issued at those samples."""
    n = len(fhr)
    idx = np.arange(n)
    series = pd.Series(np.where(valid, fhr, np.nan))
    sd = series.rolling(int(60 * FS), min_periods=int(10 * FS)).std().to_numpy()
    mean15 = series.rolling(int(15 * FS), min_periods=int(2 * FS)).mean().to_numpy()
    last_valid = np.maximum.accumulate(np.where(valid, idx, -1))
    decel = deceleration_mask(fhr, valid)
    frac = pd.Series(decel.astype(np.float64)).rolling(CAP, min_periods=1).mean().to_numpy()
    last_decel = np.maximum.accumulate(np.where(decel, idx, -CAP))
    e = np.asarray(issue)
    drop = np.nan_to_num((fhr - mean15)[e]) / DECEL_DROP_BPM
    last = last_valid[e]
    in_decel = decel[np.maximum(last, 0)] & (last >= 0) & (e - last < CAP)
    return np.stack(
        [
            np.log1p(np.nan_to_num(sd[e], nan=5.0)),
            np.log1p(np.minimum(e - last_valid[e], CAP) / FS),
            frac[e],
            np.maximum(-drop, 0.0),
            np.maximum(drop, 0.0),
            np.log1p(np.minimum(e - last_decel[e], CAP) / FS),
            in_decel.astype(np.float64),
        ],
        axis=1,
    )
