"""Building blocks of the TEB-VAE: MLPs, causal convolutions, channel reduction, upsampling,
smoothing, the level forecast, the geometric width schedule and the initialisation scheme.

Tensors: (B, C, L) for convolutions over time, (B, L, D) for per-step MLPs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def geometric_schedule(
    input_size: int, output_size: int, n_hidden: int, round_fn: Callable[[float], int] = round
) -> list[int]:
    """[h_1, ..., h_n, output_size] with h_k = round_fn(input_size * r^k) and
    r = (output_size / input_size)^(1 / (n_hidden + 1)), so the widths change by a constant
    ratio from input to output."""
    r = (output_size / input_size) ** (1.0 / (n_hidden + 1))
    return [int(round_fn(input_size * r**k)) for k in range(1, n_hidden + 1)] + [output_size]


class ResidualMLP(nn.Module):
    """LayerNorm -> [Linear -> LayerNorm -> GELU -> Dropout] per hidden width -> Linear, plus a
    (projected) skip connection; optionally LayerNorm + GELU after the sum.

    `dims` = [input, hidden..., output]; works on the last axis of any tensor.
    """

    def __init__(self, dims: Sequence[int], dropout: float = 0.0, post_norm: bool = False) -> None:
        super().__init__()
        if len(dims) < 2:
            raise ValueError(f"ResidualMLP needs at least input and output widths, got {dims}")
        self.norm = nn.LayerNorm(dims[0])
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-2], dims[1:-1]):
            layers += [nn.Linear(a, b), nn.LayerNorm(b), nn.GELU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(dims[-2], dims[-1]))
        self.body = nn.Sequential(*layers)
        self.skip = nn.Identity() if dims[0] == dims[-1] else nn.Linear(dims[0], dims[-1])
        self.post = nn.Sequential(nn.LayerNorm(dims[-1]), nn.GELU()) if post_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(self.norm(x)) + self.skip(x)
        return self.post(y) if self.post is not None else y


class CausalConv1d(nn.Conv1d):
    """Conv1d padded on the left only by (kernel_size - 1) * dilation: output[t] sees
    input[.. t]. (B, C_in, L) -> (B, C_out, L)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, dilation=dilation, groups=groups, bias=bias
        )
        self.left = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left, 0)))


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of a (B, C, L) tensor (per time step, so causal)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class CausalResidualBlock(nn.Module):
    """Pre-norm gated residual block of causal convolutions. (B, C_in, L) -> (B, C_out, L).

    LayerNorm -> causal conv to 2 * hidden -> GLU gate -> LayerNorm -> causal conv (or, with
    `depthwise`, a depthwise causal conv + pointwise conv) to C_out; plus a skip (1x1 projected
    when C_in != C_out). hidden = round(C_in * expansion) (expansion < 1 contracts).
    """

    def __init__(
        self,
        in_channels: int,
        kernel_size: int,
        out_channels: int | None = None,
        dilation: int = 1,
        expansion: float = 1.0,
        depthwise: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        out_channels = out_channels or in_channels
        hidden = max(1, round(in_channels * expansion))
        self.norm1 = ChannelLayerNorm(in_channels)
        self.conv1 = CausalConv1d(in_channels, 2 * hidden, kernel_size, dilation)
        self.norm2 = ChannelLayerNorm(hidden)
        if depthwise:
            self.conv2: nn.Module = nn.Sequential(
                CausalConv1d(hidden, hidden, kernel_size, dilation, groups=hidden),
                nn.Conv1d(hidden, out_channels, 1),
            )
        else:
            self.conv2 = CausalConv1d(hidden, out_channels, kernel_size, dilation)
        self.drop = nn.Dropout(dropout)
        self.skip = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Conv1d(in_channels, out_channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.glu(self.conv1(self.norm1(x)), dim=1)
        h = self.conv2(F.gelu(self.norm2(h)))
        return self.skip(x) + self.drop(h)


class ChannelReductionBlock(nn.Module):
    """Attention-weighted channel reduction, causal. (B, C_in, L) -> (B, C_out, L).

    Channel attention: a causal running mean over time (the document's AdaptiveAvgPool1d would
    average over the future too) -> 1x1 conv C_in -> C_in/4 -> GELU -> 1x1 conv -> sigmoid,
    scaling each input channel; then a depthwise causal conv, a pointwise conv to C_out,
    LayerNorm, GELU, Dropout.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, dropout: float = 0.0
    ) -> None:
        super().__init__()
        mid = max(1, in_channels // 4)
        self.attention = nn.Sequential(
            nn.Conv1d(in_channels, mid, 1), nn.GELU(), nn.Conv1d(mid, in_channels, 1), nn.Sigmoid()
        )
        self.depthwise = CausalConv1d(in_channels, in_channels, kernel_size, groups=in_channels)
        self.pointwise = nn.Conv1d(in_channels, out_channels, 1)
        self.norm = ChannelLayerNorm(out_channels)
        self.drop = nn.Dropout(dropout)

    def channel_weights(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, L) -> (B, C_in, L) weights in (0, 1) from the causal running mean (summed
        in float64, so a whole record's running mean matches a stream's to float32 rounding)."""
        steps = torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=torch.float64)
        return self.attention((x.double().cumsum(dim=-1) / steps).to(x.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pointwise(self.depthwise(x * self.channel_weights(x)))
        return self.drop(F.gelu(self.norm(h)))


class UpsamplingBlock(nn.Module):
    """Learnable upsampling by `factor` along the last axis. (N, C_in, L) -> (N, C_out, length).

    ConvTranspose1d (stride = factor) -> crop / zero-pad to exactly `length` -> grouped
    anti-aliasing conv -> GroupNorm(min(8, C_out)) -> GELU -> Dropout, plus a skip path
    (1x1 projection if C_in != C_out, then linear interpolation to `length`).
    """

    def __init__(
        self, in_channels: int, out_channels: int, factor: int, length: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.length = length
        self.up = nn.ConvTranspose1d(
            in_channels, out_channels, 2 * factor, stride=factor, padding=factor // 2
        )
        self.antialias = nn.Conv1d(out_channels, out_channels, 5, padding=2, groups=out_channels)
        self.norm = nn.GroupNorm(math.gcd(min(8, out_channels), out_channels), out_channels)
        self.drop = nn.Dropout(dropout)
        self.skip = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Conv1d(in_channels, out_channels, 1)
        )

    def _fit(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        return x[..., : self.length] if n >= self.length else F.pad(x, (0, self.length - n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.antialias(self._fit(self.up(x)))
        h = self.drop(F.gelu(self.norm(h)))
        skip = F.interpolate(self.skip(x), size=self.length, mode="linear", align_corners=False)
        return h + skip


class FastTemporalSmoother(nn.Module):
    """Depthwise Gaussian-initialised smoothing with a learnable blend, plus a small
    enhancement conv. (N, C, L) -> (N, C, L); `kernel_size` odd, centred (it works along the
    forecast horizon, not along observed time)."""

    def __init__(self, channels: int, kernel_size: int = 11, dropout: float = 0.0) -> None:
        super().__init__()
        self.smooth = nn.Conv1d(
            channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=False
        )
        self.enhance = nn.Sequential(
            nn.Conv1d(channels, 2 * channels, 1),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Conv1d(2 * channels, channels, 1),
        )
        self.blend = nn.Parameter(torch.zeros(()))
        self.reset_smoothing()

    def reset_smoothing(self) -> None:
        """Gaussian taps (std = kernel / 6) summing to 1 in every channel."""
        k = self.smooth.kernel_size[0]
        t = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
        g = torch.exp(-0.5 * (t / (k / 6)) ** 2)
        with torch.no_grad():
            self.smooth.weight.copy_((g / g.sum()).expand_as(self.smooth.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x + torch.sigmoid(self.blend) * (self.smooth(x) - x)
        return y + self.enhance(y)


def causal_means(x: torch.Tensor, windows: Sequence[int]) -> torch.Tensor:
    """Trailing means of x (B, C, L) over the last w steps (fewer at the start) for each window
    w, stacked along channels: (B, len(windows) * C, L). Step t reads steps <= t only. Summed
    in float64: differences of a whole record's running sums keep float32 precision."""
    csum = F.pad(x.double().cumsum(-1), (1, 0))
    t = torch.arange(1, x.shape[-1] + 1, device=x.device)
    means = []
    for w in windows:
        start = (t - w).clamp(min=0)
        means.append((csum[..., t] - csum[..., start]) / (t - start).double())
    return torch.cat(means, dim=1).to(x.dtype)


class LevelForecast(nn.Module):
    """A linear forecast of the horizon from trailing means of a few level channels.

    (B, C, L) -> (B, L, horizon). Trailing means over `windows` steps of every channel map
    linearly to one value per 16 horizon samples, linearly interpolated to the horizon. Fed the
    low-pass (order-0) channels of FHR and UP, this spans persistence, recent means and
    reversion to a longer-term baseline, so the VAE decoder only has to learn departures from
    it. Few inputs on purpose: a map from trailing means of all 76 feature channels overfits
    (measured on the synthetic data). Zero-initialised: an untrained model is the decoder alone.
    """

    def __init__(self, channels: int, horizon: int, windows: Sequence[int]) -> None:
        super().__init__()
        if horizon % 16:
            raise ValueError(f"horizon must be a multiple of 16, got {horizon}")
        self.windows, self.horizon = tuple(windows), horizon
        self.linear = nn.Linear(channels * len(self.windows), horizon // 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        knots = self.linear(causal_means(x, self.windows).transpose(1, 2))
        b, length, k = knots.shape
        curve = F.interpolate(
            knots.reshape(b * length, 1, k), size=self.horizon, mode="linear", align_corners=True
        )
        return curve.reshape(b, length, self.horizon)


def initialization(model: nn.Module) -> None:
    """Xavier-uniform Linear / Conv weights with zero biases; LSTM input and recurrent weights
    orthogonal, biases zero except the forget gate (bias_ih + bias_hh = 1); LayerNorm 1 / 0.
    Gaussian smoothers keep their Gaussian taps; level forecasts start at zero."""
    for m in model.modules():
        if isinstance(m, nn.Linear | nn.Conv1d | nn.ConvTranspose1d):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LSTM):
            for name, p in m.named_parameters():
                if name.startswith("weight"):
                    nn.init.orthogonal_(p)
                elif name.startswith("bias_ih"):
                    nn.init.zeros_(p)
                    h = m.hidden_size
                    with torch.no_grad():
                        p[h : 2 * h] = 1.0
                elif name.startswith("bias"):
                    nn.init.zeros_(p)
        elif isinstance(m, nn.LayerNorm | nn.GroupNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for m in model.modules():
        if isinstance(m, FastTemporalSmoother):
            m.reset_smoothing()
        elif isinstance(m, LevelForecast):
            nn.init.zeros_(m.linear.weight)
            nn.init.zeros_(m.linear.bias)
