"""Signal quality of a CTG recording: masks, artefact and maternal-capture detection, summary.

Masks (all (N,) bool at 4 Hz):
- `fhr_loss`: FHR is 0 (CTU-UHB's signal-loss code), NaN, or outside 50..220 bpm.
- `artefact`, `maternal`: FHR samples that are measured but not the fetal heart rate, found by
  the jump rule below.
- `uc_loss`: UC is NaN or exactly 0: a resting uterine tone is never exactly 0, the transducer
  is off or lost (CTU-UHB's code for no signal). Every zero is flagged as it arrives (a rule
  on zero runs would have to wait for a run's length, which a stream cannot).
- `uc_saturated`: UC at or above `UC_FULL_SCALE` (100, the tocodynamometer's full scale;
  CTU-UHB stores clipped values as 100 or 127): the true value is unknown.

The jump rule (causal: a sample's flag depends on earlier samples only). Walk the measured FHR
samples in time order, keeping the last accepted sample as the reference level.
1. A sample that differs from the reference by more than `JUMP_BPM` (25 bpm) plus
   `JUMP_RATE_BPM_S` (2 bpm) per second since the reference, while the reference is at most
   `JUMP_WINDOW_S` (15 s) old, opens a suspect segment. Real FHR does not move 25 bpm within
   a quarter second (decelerations take several seconds to fall that far); doubling, halving
   and maternal capture do. Across a short dropout the allowance grows with its length.
2. The segment lasts until a sample returns within `RETURN_BPM` (15 bpm) of the level before
   the jump (that sample is accepted again), or until `MAX_ARTEFACT_S` (60 s) have passed for
   an artefact segment, after which the new level is accepted as real.
3. A segment that opened with a drop to below `MATERNAL_MAX_BPM` (110 bpm) is maternal capture
   (the transducer records the mother's pulse, 60-110 bpm in labour) and is not ended by the
   60 s limit, only by a return or by signal loss longer than `JUMP_WINDOW_S`. A jump up from
   a reference below 110 bpm into the normal fetal range (`MATERNAL_MAX_BPM`..`FETAL_MAX_BPM`,
   110-170 bpm) is the fetal signal coming back and is accepted. Any other segment is an
   artefact.
After signal loss longer than `JUMP_WINDOW_S` the first measured sample is accepted as the new
reference: after a long gap the level may really have changed.

`valid_fhr` = measured and neither artefact nor maternal; interpolated samples (filled gaps)
are never valid, so they are never scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FS = 4.0
FHR_MIN, FHR_MAX = 50.0, 220.0
UC_FULL_SCALE = 100.0
JUMP_BPM = 25.0
JUMP_RATE_BPM_S = 2.0
RETURN_BPM = 15.0
JUMP_WINDOW_S = 15.0
MAX_ARTEFACT_S = 60.0
MATERNAL_MAX_BPM = 110.0
FETAL_MAX_BPM = 170.0


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every run of True in a 1-D bool array."""
    padded = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(s), int(e - s)) for s, e in zip(edges[::2], edges[1::2])]


def fhr_loss_mask(fhr: np.ndarray) -> np.ndarray:
    """(N,) bpm -> (N,) bool: 0, NaN or outside [FHR_MIN, FHR_MAX]."""
    fhr = np.asarray(fhr, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(fhr) | (fhr < FHR_MIN) | (fhr > FHR_MAX)


def uc_masks(uc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) UC -> (loss, saturated) (N,) bool each; see the module docstring."""
    uc = np.asarray(uc, dtype=np.float64)
    loss = ~np.isfinite(uc) | (uc == 0)
    with np.errstate(invalid="ignore"):
        saturated = np.isfinite(uc) & (uc >= UC_FULL_SCALE)
    return loss, saturated


class JumpRule:
    """The jump rule of the module docstring as a state machine: `update` takes the next
    samples of a recording and flags them, so a stream fed chunk by chunk flags exactly what
    one call on the whole recording does."""

    def __init__(self) -> None:
        self.t0 = 0  # index of the next sample
        self.ref_val: float | None = None
        self.ref_idx = -1
        self.seg_kind: str | None = None
        self.seg_level, self.seg_start, self.last_in_seg = 0.0, 0, -1

    def update(self, fhr: np.ndarray, measured: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The next (n,) FHR samples (bpm) and their `measured` mask -> (artefact, maternal)
        (n,) bool."""
        n = len(fhr)
        artefact = np.zeros(n, bool)
        maternal = np.zeros(n, bool)
        window = JUMP_WINDOW_S * FS
        for i in np.flatnonzero(measured):
            t, x = self.t0 + int(i), float(fhr[i])
            if self.seg_kind is not None:
                lost = t - self.last_in_seg > window
                back = abs(x - self.seg_level) <= RETURN_BPM
                expired = self.seg_kind == "artefact" and t - self.seg_start > MAX_ARTEFACT_S * FS
                if back or lost or expired:
                    self.seg_kind = None
                    self.ref_val, self.ref_idx = x, t
                    continue
                (maternal if self.seg_kind == "maternal" else artefact)[i] = True
                self.last_in_seg = t
                continue
            allowed = JUMP_BPM + JUMP_RATE_BPM_S * (t - self.ref_idx) / FS
            ref = self.ref_val
            if ref is not None and t - self.ref_idx <= window and abs(x - ref) > allowed:
                if ref < MATERNAL_MAX_BPM <= x <= FETAL_MAX_BPM:
                    self.ref_val, self.ref_idx = x, t
                    continue
                kind = "maternal" if x < ref and x < MATERNAL_MAX_BPM else "artefact"
                self.seg_kind, self.seg_level = kind, ref
                self.seg_start = self.last_in_seg = t
                (maternal if kind == "maternal" else artefact)[i] = True
                continue
            self.ref_val, self.ref_idx = x, t
        self.t0 += n
        return artefact, maternal


def jump_segments(fhr: np.ndarray, measured: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The jump rule of the module docstring over a whole recording: (artefact, maternal)."""
    return JumpRule().update(np.asarray(fhr, dtype=np.float64), measured)


@dataclass
class QualityMasks:
    """The masks of one recording, (N,) bool each; see the module docstring."""

    fhr_loss: np.ndarray
    artefact: np.ndarray
    maternal: np.ndarray
    uc_loss: np.ndarray
    uc_saturated: np.ndarray

    @property
    def valid_fhr(self) -> np.ndarray:
        """Measured fetal heart rate: the only samples that are ever scored."""
        return ~(self.fhr_loss | self.artefact | self.maternal)

    @property
    def valid_uc(self) -> np.ndarray:
        return ~(self.uc_loss | self.uc_saturated)


def quality_masks(fhr: np.ndarray, uc: np.ndarray) -> QualityMasks:
    """Raw FHR (bpm) and UC at 4 Hz, (N,) each -> QualityMasks."""
    fhr = np.asarray(fhr, dtype=np.float64)
    loss = fhr_loss_mask(fhr)
    artefact, maternal = jump_segments(fhr, ~loss)
    uc_loss, uc_sat = uc_masks(uc)
    return QualityMasks(loss, artefact, maternal, uc_loss, uc_sat)


def quality_summary(masks: QualityMasks) -> dict[str, float]:
    """Per-record quality: percentages of samples and the longest FHR gap in seconds."""
    invalid = ~masks.valid_fhr
    n = max(len(invalid), 1)
    longest = max((length for _, length in runs(invalid)), default=0)

    def pct(m: np.ndarray) -> float:
        return round(100.0 * float(m.sum()) / n, 2)

    return {
        "fhr_masked_pct": pct(invalid),
        "fhr_loss_pct": pct(masks.fhr_loss),
        "artefact_pct": pct(masks.artefact),
        "maternal_pct": pct(masks.maternal),
        "longest_gap_s": round(longest / FS, 2),
        "uc_loss_pct": pct(masks.uc_loss),
        "uc_saturated_pct": pct(masks.uc_saturated),
    }


VALIDITY_CHANNELS = 4
GAP_SCALE_S = 60.0


def validity_channels(
    fhr_valid: np.ndarray, uc_valid: np.ndarray, decimation: int, fhr_held: np.ndarray
) -> np.ndarray:
    """What the model is told about signal quality, per feature step, causally.

    (M, N) bool each and the gap-filled normalised FHR (M, N) -> (M, 4, N / T) float32: the
    share of valid FHR samples in each step's T samples, the share of valid UC samples, the
    time since the last valid FHR sample at the step's last sample, in units of `GAP_SCALE_S`
    (60 s) capped at 1 (0 when that sample is valid; counted from the window start when none
    is), and the last valid FHR itself (normalised; the causal fill holds it), the anchor the
    model's forecasts are offsets from (`teb_vae.model.SeqVaeTeb`).
    """
    m, n = fhr_valid.shape
    s = n // decimation
    f = fhr_valid[:, : s * decimation].reshape(m, s, decimation).mean(-1)
    u = uc_valid[:, : s * decimation].reshape(m, s, decimation).mean(-1)
    ends = np.arange(decimation - 1, s * decimation, decimation)
    last = np.maximum.accumulate(np.where(fhr_valid, np.arange(n), -1), axis=1)[:, ends]
    age = np.where(last < 0, ends + 1, ends - last) / FS
    gap = np.minimum(age / GAP_SCALE_S, 1.0)
    return np.stack([f, u, gap, fhr_held[:, ends]], axis=1).astype(np.float32)
