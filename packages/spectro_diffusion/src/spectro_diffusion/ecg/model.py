"""ConditionEncoder and ConditionalUNet of the ECG variant (plain modules; no diffusion here).

Shapes: B batch; the image is (B, C_img, H, W) and fixes the U-Net grid; the frequency
embedding is (B, C_f, L) (1-D, one value per frequency row when `output_1d_axis` is "height")
or (B, C_f, h, w); the conditions amp_init (1-D) and emb_init (2-D) may have any sizes.

ConditionEncoder: one small CNN per condition (Conv1d or Conv2d by the array's shape) that
downsamples by `cond_downsample`, alignment of both feature maps to a common grid
(ceil(H / d), ceil(W / d)) (a 1-D feature runs along `condition_1d_axis` and is repeated along
the other), then fusion by concatenation or by cross-attention of each map to the other's
tokens, projected to `condition_dim` channels.

ConditionalUNet: the noisy image, the noisy frequency embedding laid on the grid and a
1x1-projection of the condition map (upsampled to H x W) enter one input convolution; an
encoder-decoder of `ResidualBlock`s with skips follows, each block receiving the sinusoidal
timestep embedding plus the pooled condition; `CrossAttention2d` to the condition tokens sits
after the blocks whose feature-map height is in `attention_resolutions` (all off with
`use_cross_attention: false`). Two heads read the last feature map: a convolution for the
image and, for the frequency embedding, a time-average (1-D) or resize (2-D) followed by
two convolutions, so both outputs are generated jointly from shared features.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from spectro_diffusion.ecg.config import ModelConfig
from spectro_diffusion.ecg.data import ArraySpec
from spectro_diffusion.unet import (
    CrossAttention2d,
    Downsample,
    ResidualBlock,
    SelfAttention2d,
    TimestepEmbedding,
    Upsample,
    group_count,
)


def to_grid(x: torch.Tensor, dims: int, grid: tuple[int, int], axis_1d: str) -> torch.Tensor:
    """(B, C, L) or (B, C, h, w) -> (B, C, gh, gw): resize; a 1-D input runs along `axis_1d`
    ("width" or "height") and is repeated along the other axis."""
    gh, gw = grid
    if dims == 2:
        return F.interpolate(x, size=grid, mode="bilinear", align_corners=False)
    n = gw if axis_1d == "width" else gh
    x = F.interpolate(x, size=n, mode="linear", align_corners=False)
    if axis_1d == "width":
        return x[:, :, None, :].expand(-1, -1, gh, -1)
    return x[:, :, :, None].expand(-1, -1, -1, gw)


def from_grid(x: torch.Tensor, spec: ArraySpec, axis_1d: str) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, *spec.size): resize; for 1-D, average over the other axis."""
    if spec.dims == 2:
        return F.interpolate(x, size=spec.size, mode="bilinear", align_corners=False)
    line = x.mean(dim=2) if axis_1d == "width" else x.mean(dim=3)
    return F.interpolate(line, size=spec.size, mode="linear", align_corners=False)


class ConvEncoder(nn.Module):
    """(B, C_in, *size) -> (B, channels, *size / 2^steps): conv, `steps` stride-2 convs, conv,
    each after GroupNorm + SiLU; Conv1d for 1-D inputs and Conv2d for 2-D ones."""

    def __init__(self, spec: ArraySpec, channels: int, steps: int) -> None:
        super().__init__()
        conv = nn.Conv1d if spec.dims == 1 else nn.Conv2d
        layers: list[nn.Module] = [conv(spec.channels, channels, 3, padding=1)]
        for stride in [2] * steps + [1]:
            layers += [
                nn.GroupNorm(group_count(channels), channels),
                nn.SiLU(),
                conv(channels, channels, 3, stride=stride, padding=1),
            ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConditionEncoder(nn.Module):
    """(amp_init, emb_init) -> condition map (B, condition_dim, gh, gw); see the module doc."""

    def __init__(
        self, specs: dict[str, ArraySpec], grid: tuple[int, int], cfg: ModelConfig
    ) -> None:
        super().__init__()
        steps = int(math.log2(cfg.cond_downsample))
        ch = cfg.cond_channels
        self.grid, self.axis_1d, self.fusion = grid, cfg.condition_1d_axis, cfg.fusion
        self.specs = {n: specs[n] for n in ("amp_init", "emb_init")}
        self.encoders = nn.ModuleDict({n: ConvEncoder(s, ch, steps) for n, s in self.specs.items()})
        # Learned positions on the common grid, so attention knows where a token sits.
        self.position = nn.Parameter(torch.zeros(1, ch, *grid))
        if cfg.fusion == "cross_attention":
            self.attend = nn.ModuleDict(
                {n: CrossAttention2d(ch, ch, cfg.fusion_heads) for n in self.specs}
            )
        self.proj = nn.Sequential(
            nn.GroupNorm(group_count(2 * ch), 2 * ch),
            nn.SiLU(),
            nn.Conv2d(2 * ch, cfg.condition_dim, 1),
        )

    def forward(self, amp_init: torch.Tensor, emb_init: torch.Tensor) -> torch.Tensor:
        inputs = {"amp_init": amp_init, "emb_init": emb_init}
        maps = {
            n: to_grid(self.encoders[n](x), self.specs[n].dims, self.grid, self.axis_1d)
            + self.position
            for n, x in inputs.items()
        }
        if self.fusion == "cross_attention":
            tokens = {n: m.flatten(2).transpose(1, 2) for n, m in maps.items()}
            maps = {
                "amp_init": self.attend["amp_init"](maps["amp_init"], tokens["emb_init"]),
                "emb_init": self.attend["emb_init"](maps["emb_init"], tokens["amp_init"]),
            }
        return self.proj(torch.cat([maps["amp_init"], maps["emb_init"]], dim=1))


class ConditionalUNet(nn.Module):
    """(noisy image, noisy frequency embedding, t, condition map) -> (image out, freq out),
    each of its input's shape (the prediction target: eps, v or x0)."""

    def __init__(
        self, image: ArraySpec, freq: ArraySpec, cond_grid: tuple[int, int], cfg: ModelConfig
    ) -> None:
        super().__init__()
        if image.dims != 2:
            raise ValueError(f"images must be 2-D arrays, got a {image.dims}-D spec")
        self.image_spec, self.freq_spec, self.cfg = image, freq, cfg
        base, d = cfg.base_channels, cfg.condition_dim
        emb_dim = 4 * base
        self.time_embed = TimestepEmbedding(base, emb_dim)
        self.cond_vector = nn.Linear(d, emb_dim)
        self.cond_input = nn.Conv2d(d, cfg.cond_input_channels, 1)
        self.conv_in = nn.Conv2d(
            image.channels + freq.channels + cfg.cond_input_channels, base, 3, padding=1
        )
        self.attn = nn.ModuleDict()
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips, ch, res = [base], base, image.size[0]
        last = len(cfg.channel_mults) - 1
        for level, mult in enumerate(cfg.channel_mults):
            for _ in range(cfg.num_res_blocks):
                self.down.append(ResidualBlock(ch, base * mult, emb_dim, cfg.dropout))
                ch = base * mult
                self._maybe_attention(f"down{len(self.down) - 1}", ch, res)
                skips.append(ch)
            if level != last:
                self.downsample.append(Downsample(ch))
                skips.append(ch)
                res = math.ceil(res / 2)
        self.mid1 = ResidualBlock(ch, ch, emb_dim, cfg.dropout)
        self.mid_self = SelfAttention2d(ch, cfg.num_heads) if cfg.use_self_attention else None
        if cfg.use_cross_attention:
            self.attn["mid"] = CrossAttention2d(ch, d, cfg.num_heads)
        self.mid2 = ResidualBlock(ch, ch, emb_dim, cfg.dropout)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mults))):
            for _ in range(cfg.num_res_blocks + 1):
                self.up.append(ResidualBlock(ch + skips.pop(), base * mult, emb_dim, cfg.dropout))
                ch = base * mult
                self._maybe_attention(f"up{len(self.up) - 1}", ch, res)
            if level != 0:
                self.upsample.append(Upsample(ch))
                res = res * 2
        self.out_norm = nn.GroupNorm(group_count(ch), ch)
        self.image_head = nn.Conv2d(ch, image.channels, 3, padding=1)
        conv = nn.Conv1d if freq.dims == 1 else nn.Conv2d
        self.freq_head = nn.Sequential(
            conv(ch, cfg.freq_head_channels, 3, padding=1),
            nn.SiLU(),
            conv(cfg.freq_head_channels, freq.channels, 3, padding=1),
        )

    def _maybe_attention(self, key: str, channels: int, res: int) -> None:
        if self.cfg.use_cross_attention and res in self.cfg.attention_resolutions:
            self.attn[key] = CrossAttention2d(channels, self.cfg.condition_dim, self.cfg.num_heads)

    def _attend(self, key: str, h: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.attn[key](h, tokens) if key in self.attn else h

    def forward(
        self,
        image: torch.Tensor,
        freq: torch.Tensor,
        t: torch.Tensor,
        cond: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        grid = tuple(image.shape[-2:])
        tokens = cond.flatten(2).transpose(1, 2)
        emb = self.time_embed(t) + self.cond_vector(tokens.mean(dim=1))
        spatial = F.interpolate(self.cond_input(cond), size=grid, mode="nearest")
        freq_map = to_grid(freq, self.freq_spec.dims, grid, self.cfg.output_1d_axis)
        h = self.conv_in(torch.cat([image, freq_map, spatial], dim=1))
        hs = [h]
        block = 0
        for level in range(len(self.cfg.channel_mults)):
            for _ in range(self.cfg.num_res_blocks):
                h = self._attend(f"down{block}", self.down[block](h, emb), tokens)
                hs.append(h)
                block += 1
            if level < len(self.downsample):
                h = self.downsample[level](h)
                hs.append(h)
        h = self.mid1(h, emb)
        if self.mid_self is not None:
            h = self.mid_self(h)
        h = self.mid2(self._attend("mid", h, tokens), emb)
        block = 0
        for level in range(len(self.cfg.channel_mults)):
            for _ in range(self.cfg.num_res_blocks + 1):
                h = self.up[block](torch.cat([h, hs.pop()], dim=1), emb)
                h = self._attend(f"up{block}", h, tokens)
                block += 1
            if level < len(self.upsample):
                h = self.upsample[level](h, size=tuple(hs[-1].shape[-2:]))
        h = F.silu(self.out_norm(h))
        freq_out = self.freq_head(from_grid(h, self.freq_spec, self.cfg.output_1d_axis))
        return self.image_head(h), freq_out


def pack(image: torch.Tensor, freq: torch.Tensor) -> torch.Tensor:
    """Image (B, ...) and freq (B, ...) -> one flat (B, N) state, image values first."""
    return torch.cat([image.flatten(1), freq.flatten(1)], dim=1)


class JointLayout:
    """Packs image (B, *image_shape) and freq (B, *freq_shape) into one flat (B, N) state and
    back, so that the two outputs are diffused as one signal (one timestep, one schedule)."""

    def __init__(self, image: ArraySpec, freq: ArraySpec) -> None:
        self.image_shape, self.freq_shape = image.model_shape, freq.model_shape
        self.n_image = math.prod(self.image_shape)
        self.n_total = self.n_image + math.prod(self.freq_shape)

    def unpack(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = x.shape[0]
        image = x[:, : self.n_image].reshape(b, *self.image_shape)
        return image, x[:, self.n_image :].reshape(b, *self.freq_shape)


class EcgDenoiser(nn.Module):
    """ConditionEncoder + ConditionalUNet behind the denoiser contract of
    `sigshared.diffusion.GaussianDiffusion`: (x_t (B, N) packed by `layout`, t (B,), cond) ->
    (B, N), where cond is {"amp_init": (B, C, L), "emb_init": (B, C, h, w)} (normalised)."""

    def __init__(self, specs: dict[str, ArraySpec], cfg: ModelConfig) -> None:
        super().__init__()
        h, w = specs["images"].size
        d = cfg.cond_downsample
        grid = (math.ceil(h / d), math.ceil(w / d))
        self.specs = specs
        self.layout = JointLayout(specs["images"], specs["freq_embeddings"])
        self.encoder = ConditionEncoder(specs, grid, cfg)
        self.unet = ConditionalUNet(specs["images"], specs["freq_embeddings"], grid, cfg)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, cond: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        image, freq = self.layout.unpack(x)
        cond_map = self.encoder(cond["amp_init"], cond["emb_init"])
        return pack(*self.unet(image, freq, t, cond_map))
