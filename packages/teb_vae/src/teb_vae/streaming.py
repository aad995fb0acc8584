"""Streaming forecasts: one forecast per feature step (4 s), the causal state carried across the
whole record.

`ForecastStream.push(fhr, up)` takes the next T raw samples (16, 4 s at 4 Hz) and returns the
forecast issued at the last of them. Everything the batch pass (`teb_vae.benchmark.
forecast_whole_record`) computes over a whole record is carried here as state instead:

- cleaning (`CleanStream`): the jump rule's state machine (`teb_vae.quality.JumpRule`), the
  per-sample FHR / UC masks, the causal fill (last valid value held);
- features (`FeatureExtractor.extract`): a buffer of the last `history + T` cleaned samples,
  enough for the longest filter cascade (the filters are finite and causal);
- the step channels (valid shares, gap age, anchor) from the masks and the running gap age;
- the model (`ModelStream`): the LSTMs' (h, c), each causal convolution's last inputs, the
  channel attention's running means and the level forecast's trailing window;
- the forecast state the spread reacts to (`teb_vae.state`): the last STATE_HISTORY cleaned
  samples, all it depends on.

The per-step pass runs the same layers as the batch pass on one step, so the two agree to
float32 rounding (tested in tests/test_streaming.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sigshared.errors import DataError
from teb_vae.checkpoint import TrainedTeb
from teb_vae.features import FeatureExtractor
from teb_vae.features.preprocess import (
    FHR_CENTER,
    FHR_SCALE,
    FS,
    UP_CENTER,
    denormalize_fhr,
    normalize_fhr,
    normalize_up,
)
from teb_vae.layers import (
    CausalConv1d,
    CausalResidualBlock,
    ChannelReductionBlock,
    LevelForecast,
)
from teb_vae.model import LOGVAR_RANGE, SeqVaeTeb, SourceEncoder, TargetEncoder, _DualPath
from teb_vae.quality import GAP_SCALE_S, JumpRule, fhr_loss_mask, uc_masks
from teb_vae.state import STATE_HISTORY, forecast_state


class CleanStream:
    """Chunk-by-chunk `teb_vae.features.preprocess.clean_ctg`: same masks, same causal fill."""

    def __init__(self) -> None:
        self.jump = JumpRule()
        self.last_fhr, self.last_up = FHR_CENTER, UP_CENTER

    @staticmethod
    def _hold(x: np.ndarray, missing: np.ndarray, last: float) -> tuple[np.ndarray, float]:
        idx = np.where(~missing, np.arange(len(x)), -1)
        held = np.maximum.accumulate(idx)
        out = np.where(held < 0, last, x[np.maximum(held, 0)])
        return out, float(out[-1])

    def push(self, fhr: np.ndarray, up: np.ndarray) -> dict[str, np.ndarray]:
        """Raw (n,) FHR (bpm) and UP -> {"fhr", "up" (filled), "valid", "uc_valid"}."""
        fhr = np.asarray(fhr, np.float64)
        up = np.asarray(up, np.float64)
        loss = fhr_loss_mask(fhr)
        artefact, maternal = self.jump.update(fhr, ~loss)
        valid = ~(loss | artefact | maternal)
        uc_loss, uc_sat = uc_masks(up)
        f, self.last_fhr = self._hold(fhr, ~valid, self.last_fhr)
        u, self.last_up = self._hold(up, uc_loss, self.last_up)
        return {"fhr": f, "up": u, "valid": valid, "uc_valid": ~(uc_loss | uc_sat)}


def _conv_step(conv: nn.Conv1d, x: torch.Tensor, state: dict, key: int) -> torch.Tensor:
    """One step (B, C, 1) of a CausalConv1d (or a plain 1x1 Conv1d), its last inputs kept."""
    if not isinstance(conv, CausalConv1d) or conv.left == 0:
        return conv(x)
    buf = torch.cat([state.get(key, x.new_zeros(*x.shape[:2], conv.left)), x], dim=-1)
    state[key] = buf[..., 1:]
    return F.conv1d(buf, conv.weight, conv.bias, dilation=conv.dilation, groups=conv.groups)


@dataclass
class ModelStream:
    """A SeqVaeTeb run one step at a time; `state` holds every causal memory (module ids)."""

    model: SeqVaeTeb
    state: dict = field(default_factory=dict)

    def _residual(self, block: CausalResidualBlock, x: torch.Tensor) -> torch.Tensor:
        h = F.glu(_conv_step(block.conv1, block.norm1(x), self.state, id(block.conv1)), dim=1)
        h = F.gelu(block.norm2(h))
        if isinstance(block.conv2, nn.Sequential):
            h = _conv_step(block.conv2[0], h, self.state, id(block.conv2[0]))
            h = block.conv2[1](h)
        else:
            h = _conv_step(block.conv2, h, self.state, id(block.conv2))
        return block.skip(x) + block.drop(h)

    def _reduction(self, block: ChannelReductionBlock, x: torch.Tensor) -> torch.Tensor:
        total, count = self.state.get(id(block), (x.new_zeros(x.shape[:2], dtype=torch.float64), 0))
        total, count = total + x[..., 0].double(), count + 1
        self.state[id(block)] = (total, count)
        weights = block.attention((total / count).to(x.dtype)[..., None])
        h = _conv_step(block.depthwise, x * weights, self.state, id(block.depthwise))
        return block.drop(F.gelu(block.norm(block.pointwise(h))))

    def _paths(self, paths: _DualPath, x: torch.Tensor) -> torch.Tensor:
        lin = paths.linear(x.transpose(1, 2))
        h = x
        for block in paths.convs:
            h = self._residual(block, h)
        return torch.cat([lin, paths.project(h).transpose(1, 2)], dim=-1)

    def _lstm(self, lstm: nn.LSTM, x: torch.Tensor) -> torch.Tensor:
        out, hc = lstm(x, self.state.get(id(lstm)))
        self.state[id(lstm)] = hc
        return out

    def _source(self, enc: SourceEncoder, x: torch.Tensor) -> torch.Tensor:
        fused = enc.fusion(self._paths(enc.paths, self._reduction(enc.reduction, x)))
        return enc.final(enc.output(self._lstm(enc.lstm, fused)))

    def _target(self, enc: TargetEncoder, st: torch.Tensor, ph: torch.Tensor):
        for block in enc.st_reduction:
            st = self._reduction(block, st)
        for block in enc.ph_reduction:
            ph = self._reduction(block, ph)
        st = enc.st_fuse(self._paths(enc.st_paths, st))
        ph = enc.ph_fuse(self._paths(enc.ph_paths, ph))
        h = self._lstm(enc.lstm, enc.fusion(torch.cat([st, ph], dim=-1)))
        return enc.mu_head(h), enc.logvar_head(h).clamp(*LOGVAR_RANGE)

    def _level(self, level: LevelForecast, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Trailing means over the last w steps from a buffer of the last max(w) inputs ->
        (the level curve (B, H), the means (B, len(windows) * C))."""
        longest = max(level.windows)
        buf = torch.cat([self.state.get(id(level), x.new_zeros(*x.shape[:2], 0)), x], dim=-1)
        buf = buf[..., -longest:].double()
        self.state[id(level)] = buf.float()
        means = torch.cat(
            [buf[..., -w:].sum(-1) / min(w, buf.shape[-1]) for w in level.windows], dim=1
        )
        means = means.to(x.dtype)
        knots = level.linear(means)
        curve = F.interpolate(knots[:, None], size=level.horizon, mode="linear", align_corners=True)
        return curve[:, 0], means

    @torch.no_grad()
    def step(
        self, y_st: torch.Tensor, y_ph: torch.Tensor, x_ph: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """One step's inputs (B, C, 1) each -> raw_signal_mu / raw_signal_logvar (B, H)."""
        m = self.model
        mu_x = self._source(m.source_encoder, x_ph)
        _, logvar_y = self._target(m.target_encoder, y_st, y_ph)
        d = m.cfg.latent_dim_target
        mu_post, _ = m.conditional_encoder(mu_x, logvar_y[..., d:])
        curve, means = self._level(m.level_forecast, m.level_input(y_st, x_ph))
        base = curve + m.anchor(x_ph)[:, 0]
        ctx = means[:, None] if m.cfg.decoder_context else None
        dec = m._decode(mu_post, base[:, None], ctx)
        return {k: dec[k][:, 0] for k in ("raw_signal_mu", "raw_signal_logvar")}


class ForecastStream:
    """Raw CTG in, one forecast per T samples out; see the module docstring."""

    def __init__(self, trained: TrainedTeb, device: torch.device | str = "cpu") -> None:
        self.trained, self.device = trained, device
        cfg = trained.cfg
        self.t = cfg.features.decimation
        self.features = FeatureExtractor(cfg.features, device)
        self.clean = CleanStream()
        self.model = ModelStream(trained.model.eval())
        self.buf: dict[str, np.ndarray] | None = None
        # the cleaned FHR (bpm) and validity the forecast state depends on (teb_vae.state)
        self.past = {"fhr": np.zeros(0), "valid": np.zeros(0, bool)}
        self.samples = 0
        self.last_valid = -1
        self.with_steps = cfg.model.validity_channels > 0

    def _append(self, name: str, x: np.ndarray) -> np.ndarray:
        assert self.buf is not None
        self.buf[name] = np.concatenate([self.buf[name], x])[-(self.features.history + self.t) :]
        return self.buf[name]

    def _step_channels(self, c: dict[str, np.ndarray], fhr_n: np.ndarray) -> np.ndarray:
        """(4,) as `teb_vae.quality.validity_channels` for the step just received."""
        end = self.samples - 1
        valid = np.flatnonzero(c["valid"])
        if valid.size:
            self.last_valid = self.samples - self.t + int(valid[-1])
        age = (end - self.last_valid if self.last_valid >= 0 else end + 1) / FS
        return np.array(
            [c["valid"].mean(), c["uc_valid"].mean(), min(age / GAP_SCALE_S, 1.0), fhr_n[-1]],
            np.float32,
        )

    def push(self, fhr: np.ndarray, up: np.ndarray) -> dict[str, np.ndarray | int]:
        """The next T raw samples of FHR (bpm) and UP -> {"issued_at" (the last sample seen),
        "fhr_bpm" (the last valid FHR), "mu_bpm", "std_bpm" (H,): the forecast of samples
        issued_at + 1 .. issued_at + H}."""
        if len(fhr) != self.t or len(up) != self.t:
            raise ValueError(f"push takes {self.t} samples of FHR and UP, got {len(fhr)}")
        c = self.clean.push(fhr, up)
        fhr_n = normalize_fhr(c["fhr"]).astype(np.float32)
        up_n = normalize_up(c["up"]).astype(np.float32)
        if self.buf is None:
            h = self.features.history
            self.buf = {
                "fhr": np.full(h, fhr_n[0], np.float32),
                "up": np.full(h, up_n[0], np.float32),
            }
        self.samples += self.t
        f = torch.from_numpy(self._append("fhr", fhr_n))[None]
        u = torch.from_numpy(self._append("up", up_n))[None]
        raw = {k: v.cpu().numpy() for k, v in self.features.extract(f, u, 1).items()}
        feats = {
            k: torch.from_numpy(v).to(self.device) for k, v in self.trained.stats.apply(raw).items()
        }
        if self.with_steps:
            steps = torch.from_numpy(self._step_channels(c, fhr_n))[None, :, None]
            feats["x_ph"] = torch.cat([feats["x_ph"], steps.to(self.device)], dim=1)
        out = self.model.step(feats["y_st"], feats["y_ph"], feats["x_ph"])
        mu = denormalize_fhr(out["raw_signal_mu"][0].double().cpu().numpy())
        std = FHR_SCALE * np.exp(0.5 * out["raw_signal_logvar"][0].double().cpu().numpy())
        for key in ("fhr", "valid"):
            self.past[key] = np.concatenate([self.past[key], c[key]])[-STATE_HISTORY:]
        n_past = len(self.past["fhr"])
        state = forecast_state(self.past["fhr"], self.past["valid"], np.array([n_past - 1]))
        last = float(c["fhr"][-1])  # the cleaned FHR holds the last valid value
        mu = self.trained.adjust_mean(mu, np.array(last), state[0])
        std = self.trained.scale_std(std, state[0])
        return {"issued_at": self.samples - 1, "fhr_bpm": last, "mu_bpm": mu, "std_bpm": std}


def stream_record(
    trained: TrainedTeb, fhr: np.ndarray, up: np.ndarray, device: torch.device | str = "cpu"
) -> dict[str, np.ndarray]:
    """A whole recording through `ForecastStream`, T samples at a time (a last partial step
    is left out): {"issued_at" (S,), "mu_bpm", "std_bpm" (S, H)}."""
    stream = ForecastStream(trained, device)
    t = stream.t
    outs = [stream.push(fhr[i : i + t], up[i : i + t]) for i in range(0, len(fhr) // t * t, t)]
    if not outs:
        raise DataError(f"the recording is {len(fhr)} samples long, shorter than one step ({t})")
    return {
        "issued_at": np.array([o["issued_at"] for o in outs], np.int64),
        "fhr_bpm": np.array([o["fhr_bpm"] for o in outs]),
        "mu_bpm": np.stack([o["mu_bpm"] for o in outs]),
        "std_bpm": np.stack([o["std_bpm"] for o in outs]),
    }


BIN_S = 15.0


def write_stream_npz(st: dict[str, np.ndarray], path: Path) -> None:
    """stream.npz: `issued_at_sample` (S,) the last sample each forecast saw (4 Hz), `time_s`
    (S,) its time, `fhr_bpm` (S,) the last valid FHR then, `horizon_s` (H,) the lead time of
    each forecast sample ((k + 1) / 4 s), `mu_bpm` / `std_bpm` (S, H): mean and standard
    deviation of FHR at sample issued_at_sample + 1 + k."""
    h = st["mu_bpm"].shape[1]
    with open(path, "wb") as f:
        np.savez(
            f,
            issued_at_sample=st["issued_at"],
            time_s=st["issued_at"] / FS,
            fhr_bpm=st["fhr_bpm"],
            horizon_s=(np.arange(h) + 1) / FS,
            mu_bpm=st["mu_bpm"],
            std_bpm=st["std_bpm"],
        )


def write_stream_csv(st: dict[str, np.ndarray], path: Path) -> None:
    """stream.csv: one row per step: issued_at_sample, time_s, fhr_bpm (the last valid FHR),
    then mu_<L>s and std_<L>s (bpm) at lead times L = 15, 30, ... s (the horizon's last
    sample of each 15 s bin)."""
    h = st["mu_bpm"].shape[1]
    per_bin = int(BIN_S * FS)
    leads = list(range(per_bin - 1, h, per_bin))
    head = ["issued_at_sample", "time_s", "fhr_bpm"]
    for k in leads:
        lead = f"{(k + 1) / FS:g}s"
        head += [f"mu_{lead}", f"std_{lead}"]
    rows = [",".join(head)]
    for i, s in enumerate(st["issued_at"]):
        vals = [str(int(s)), f"{s / FS:.2f}", f"{st['fhr_bpm'][i]:.2f}"]
        for k in leads:
            vals += [f"{st['mu_bpm'][i, k]:.3f}", f"{st['std_bpm'][i, k]:.3f}"]
        rows.append(",".join(vals))
    path.write_text("\n".join(rows) + "\n")
