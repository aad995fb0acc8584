"""The networks of the emotion application, plain nn.Modules that know nothing of diffusion.

`EmotionUNet`, the conditional denoiser on (B, 1, n_mels, n_frames) log-mel images:

Encoder levels of `num_res_blocks` residual blocks (group norm, time + class embedding added),
self-attention at the levels listed in `attention_levels` (the lower resolutions), 2x
downsampling between levels, a middle block (res, attention, res), and a decoder that
concatenates the matching encoder features (skip connections) before each residual block.

Condition: an emotion class embedding added to the time embedding; the extra index
`num_classes` is the learnt "no emotion" embedding, used for condition dropout in training
and for the unconditional branch of classifier-free guidance. With `num_classes=0` the model
is unconditional and ignores `y`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spectro_diffusion.emotion.config import ClassifierConfig, ModelConfig
from spectro_diffusion.unet import (
    Downsample,
    ResidualBlock,
    SelfAttention2d,
    TimestepEmbedding,
    Upsample,
    group_count,
)


class EmotionUNet(nn.Module):
    """(x (B, 1, H, W), t (B,), y (B,) long or None) -> predicted noise (B, 1, H, W)."""

    def __init__(
        self,
        num_classes: int,
        base_channels: int = 64,
        channel_mults: tuple[int, ...] = (1, 2, 2, 4),
        num_res_blocks: int = 2,
        attention_levels: tuple[int, ...] = (2, 3),
        heads: int = 4,
        dropout: float = 0.1,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        emb_dim = 4 * base_channels
        self.time_embed = TimestepEmbedding(base_channels, emb_dim)
        self.class_embed = nn.Embedding(num_classes + 1, emb_dim) if num_classes > 0 else None
        self.inp = nn.Conv2d(in_channels, base_channels, 3, padding=1)

        self.down = nn.ModuleList()
        skip_channels = [base_channels]
        ch = base_channels
        for level, mult in enumerate(channel_mults):
            out = base_channels * mult
            for _ in range(num_res_blocks):
                blocks = nn.ModuleList([ResidualBlock(ch, out, emb_dim, dropout)])
                if level in attention_levels:
                    blocks.append(SelfAttention2d(out, heads))
                self.down.append(blocks)
                ch = out
                skip_channels.append(ch)
            if level < len(channel_mults) - 1:
                self.down.append(nn.ModuleList([Downsample(ch)]))
                skip_channels.append(ch)

        self.mid1 = ResidualBlock(ch, ch, emb_dim, dropout)
        self.mid_attn = SelfAttention2d(ch, heads)
        self.mid2 = ResidualBlock(ch, ch, emb_dim, dropout)

        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mults))):
            out = base_channels * mult
            for i in range(num_res_blocks + 1):
                blocks = nn.ModuleList(
                    [ResidualBlock(ch + skip_channels.pop(), out, emb_dim, dropout)]
                )
                if level in attention_levels:
                    blocks.append(SelfAttention2d(out, heads))
                if level > 0 and i == num_res_blocks:
                    blocks.append(Upsample(out))
                self.up.append(blocks)
                ch = out
        self.out = nn.Sequential(
            nn.GroupNorm(group_count(ch), ch), nn.SiLU(), nn.Conv2d(ch, in_channels, 3, padding=1)
        )
        # Zero-initialised output: the untrained model predicts eps = 0 (loss starts at 1).
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    @property
    def null_class(self) -> int:
        """The class index meaning "no emotion" (condition dropped)."""
        return self.num_classes

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        emb = self.time_embed(t)
        if self.class_embed is not None:
            if y is None:
                y = torch.full((x.shape[0],), self.null_class, device=x.device, dtype=torch.long)
            emb = emb + self.class_embed(y)
        h = self.inp(x)
        skips = [h]
        for blocks in self.down:
            for block in blocks:
                h = block(h, emb) if isinstance(block, ResidualBlock) else block(h)
            skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for blocks in self.up:
            h = torch.cat([h, skips.pop()], dim=1)
            for block in blocks:
                if isinstance(block, ResidualBlock):
                    h = block(h, emb)
                elif isinstance(block, Upsample):
                    h = block(h, size=tuple(skips[-1].shape[-2:]))
                else:
                    h = block(h)
        return self.out(h)


def build_model(model_cfg: ModelConfig, num_classes: int) -> EmotionUNet:
    """The U-Net of a `ModelConfig`; unconditional (no class embedding) when not conditional."""
    return EmotionUNet(
        num_classes if model_cfg.conditional else 0,
        model_cfg.base_channels,
        tuple(model_cfg.channel_mults),
        model_cfg.num_res_blocks,
        tuple(model_cfg.attention_levels),
        model_cfg.heads,
        model_cfg.dropout,
    )


class EmotionClassifier(nn.Module):
    """(B, 1, H, W) scaled log-mels -> logits (B, num_classes); `embed` gives (B, embed_dim).

    Conv-GN-SiLU blocks with 2x max pooling, global average pooling to an embedding (the
    feature space of the Fréchet distance of `spectro-eval`), then a linear layer to the logits.
    """

    def __init__(
        self,
        num_classes: int,
        channels: tuple[int, ...] = (16, 32, 64),
        embed_dim: int = 64,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = 1
        for out in channels:
            layers += [
                nn.Conv2d(ch, out, 3, padding=1),
                nn.GroupNorm(group_count(out), out),
                nn.SiLU(),
                nn.Conv2d(out, out, 3, padding=1),
                nn.GroupNorm(group_count(out), out),
                nn.SiLU(),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            ch = out
        self.features = nn.Sequential(*layers)
        self.proj = nn.Linear(ch, embed_dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(embed_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) -> (B, embed_dim)."""
        return F.silu(self.proj(self.features(x).mean(dim=(-2, -1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x)))


def build_classifier(cfg: ClassifierConfig, num_classes: int) -> EmotionClassifier:
    """The classifier of a `ClassifierConfig` for `num_classes` emotions."""
    return EmotionClassifier(num_classes, tuple(cfg.channels), cfg.embed_dim, cfg.dropout)
