"""ABRTransformerGenerator: the denoising network (it knows nothing of diffusion).

Input  x_t     (B, 1, T) noised, per-sample z-scored ABR (T samples on the data's grid, e.g.
               200 = 10 ms at 20 kHz)
       t       (B,) long diffusion step in 0 .. 999
       cond    {"static": (B, S) encoded conditions (e.g. z-scored age, intensity, rate, fmp;
                or level and a one-hot stimulus),
                "drop": (B,) bool, optional: True where the condition is dropped
                (classifier-free guidance); those rows use a learned null embedding instead}
Output (B, 1, T): the network's prediction (v, x0 or eps: `diffusion.prediction_type`).

This is the `denoiser(x_t, t, cond)` that `sigshared.diffusion.GaussianDiffusion` wraps;
`null_cond` gives the condition with every row dropped.

Flow: multi-scale conv stem -> token FiLM (pre) -> + timestep adapter -> L transformer blocks
-> token FiLM (post) -> linear head. Each block is pre-norm: relative-position self-attention,
a Conformer conv module and a feed-forward sublayer, each with a residual. The design
document's block formula lists attention and the conv module only, but its parameter count
(6,555,467 at d_model 256, 6 layers) only adds up with the feed-forward sublayer, so it is
here; the default model has 6,564,049 parameters.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from abr_diffusion.config import ModelConfig

Cond = dict[str, torch.Tensor]


class MultiScaleStem(nn.Module):
    """Parallel Conv1d branches (kernels 3, 7, 15), each GroupNorm + GELU, concatenated and
    fused by a 1x1 conv: (B, 1, T) -> (B, d_model, T)."""

    def __init__(self, d_model: int, kernels: tuple[int, ...] = (3, 7, 15), groups: int = 8):
        super().__init__()
        groups = math.gcd(groups, d_model)
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(1, d_model, k, padding=k // 2),
                nn.GroupNorm(groups, d_model),
                nn.GELU(),
            )
            for k in kernels
        )
        self.fuse = nn.Conv1d(d_model * len(kernels), d_model, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([b(x) for b in self.branches], dim=1))


class TokenFiLM(nn.Module):
    """LayerNorm(x) * (1 + gamma(c)) + beta(c) on (B, T, d_model) tokens; c is (B, cond_dim).

    gamma and beta are two-layer GELU MLPs.
    """

    def __init__(self, cond_dim: int, d_model: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.gamma = nn.Sequential(
            nn.Linear(cond_dim, hidden), nn.GELU(), nn.Linear(hidden, d_model)
        )
        self.beta = nn.Sequential(
            nn.Linear(cond_dim, hidden), nn.GELU(), nn.Linear(hidden, d_model)
        )

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * (1 + self.gamma(c)[:, None, :]) + self.beta(c)[:, None, :]


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(B,) steps -> (B, dim): [sin(t / P^(2i/dim)), cos(t / P^(2i/dim))], i < dim / 2."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class TimestepAdapter(nn.Module):
    """Sinusoidal embedding of t followed by an MLP; (B,) -> (B, 1, d_model), added to tokens."""

    def __init__(self, d_model: int, embed_dim: int):
        super().__init__()
        self.embed_dim = embed_dim
        self.mlp = nn.Sequential(
            nn.Linear(embed_dim, d_model), nn.GELU(), nn.Linear(d_model, d_model)
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.embed_dim))[:, None, :]


class RelativePositionSelfAttention(nn.Module):
    """Multi-head self-attention with a learned bias per head and offset i - j (|i - j| < T).

    The (H, T, T) bias goes to `scaled_dot_product_attention` as an additive float mask, so
    the fused kernels do the work. No dropout on the attention weights: on the CPU, drawing a
    (B, H, T, T) mask cost more than the attention itself, and the block's other sublayers
    carry dropout. (B, T, d) -> (B, T, d).
    """

    def __init__(self, d_model: int, n_heads: int, seq_len: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.rel_bias = nn.Parameter(torch.zeros(n_heads, 2 * seq_len - 1))
        pos = torch.arange(seq_len)
        # index[i, j] = (i - j) + (T - 1) lies in 0 .. 2T - 2.
        self.register_buffer(
            "rel_index", pos[:, None] - pos[None, :] + seq_len - 1, persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        bias = self.rel_bias[:, self.rel_index].to(q.dtype)  # (H, T, T)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class ConvModule(nn.Module):
    """Conformer conv module on (B, T, d): LN, pointwise 2x expansion, GLU gate, depthwise
    conv (kernel 7), GELU, pointwise, dropout. The caller adds the residual."""

    def __init__(self, d_model: int, kernel: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.pw1 = nn.Conv1d(d_model, 2 * d_model, 1)
        self.dw = nn.Conv1d(d_model, d_model, kernel, padding=kernel // 2, groups=d_model)
        self.pw2 = nn.Conv1d(d_model, d_model, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pw1(self.norm(x).transpose(1, 2))
        h = F.gelu(self.dw(F.glu(h, dim=1)))
        return self.drop(self.pw2(h).transpose(1, 2))


class TransformerBlock(nn.Module):
    """x + MHA(LN x); x + Conv(x); x + FFN(LN x): pre-norm residual sublayers on (B, T, d)."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        seq_len: int,
        ff_mult: int,
        conv_kernel: int,
        dropout: float,
    ):
        super().__init__()
        self.attn_norm = nn.LayerNorm(d_model)
        self.attn = RelativePositionSelfAttention(d_model, n_heads, seq_len)
        self.conv = ConvModule(d_model, conv_kernel, dropout)
        self.ff_norm = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, ff_mult * d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(ff_mult * d_model, d_model),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x))
        x = x + self.conv(x)
        return x + self.ff(self.ff_norm(x))


class ABRTransformerGenerator(nn.Module):
    """See the module docstring. Defaults are the design document's model (~6.56 M params)."""

    def __init__(
        self,
        seq_len: int = 200,
        static_dim: int = 4,
        d_model: int = 256,
        n_layers: int = 6,
        n_heads: int = 8,
        ff_mult: int = 4,
        conv_kernel: int = 7,
        film_hidden: int = 256,
        t_embed_dim: int = 256,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.seq_len = seq_len
        self.static_dim = static_dim
        self.stem = MultiScaleStem(d_model)
        self.film_pre = TokenFiLM(static_dim, d_model, film_hidden)
        self.film_post = TokenFiLM(static_dim, d_model, film_hidden)
        self.t_adapter = TimestepAdapter(d_model, t_embed_dim)
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, seq_len, ff_mult, conv_kernel, dropout)
            for _ in range(n_layers)
        )
        # Stands in for the static parameters when the condition is dropped (guidance).
        self.null_static = nn.Parameter(torch.zeros(static_dim))
        self.out_proj = nn.Linear(d_model, 1)

    def condition(self, static: torch.Tensor, drop: torch.Tensor | None) -> torch.Tensor:
        """(B, S) static params with the rows flagged in `drop` replaced by the null embedding."""
        if drop is None:
            return static
        return torch.where(drop[:, None], self.null_static.expand_as(static), static)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: Cond) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != 1:
            raise ValueError(f"expected x of shape (B, 1, {self.seq_len}), got {tuple(x.shape)}")
        if x.shape[-1] != self.seq_len:
            raise ValueError(
                f"expected signal length {self.seq_len}, got {x.shape[-1]} (nothing is resampled)"
            )
        static = cond["static"]
        if static.shape != (x.shape[0], self.static_dim):
            raise ValueError(
                f"expected static of shape ({x.shape[0]}, {self.static_dim}), "
                f"got {tuple(static.shape)}"
            )
        c = self.condition(static, cond.get("drop"))
        h = self.stem(x).transpose(1, 2)  # (B, T, d)
        h = self.film_pre(h, c) + self.t_adapter(t)
        for block in self.blocks:
            h = block(h)
        h = self.film_post(h, c)
        return self.out_proj(h).transpose(1, 2)


def make_cond(static: torch.Tensor, drop: torch.Tensor | None = None) -> Cond:
    """The condition the network takes: static (B, S), drop (B,) bool (default: keep all)."""
    if drop is None:
        drop = torch.zeros(static.shape[0], dtype=torch.bool, device=static.device)
    return {"static": static, "drop": drop}


def null_cond(cond: Cond) -> Cond:
    """The same batch with every row's condition dropped (the network ignores `static`)."""
    return {"static": cond["static"], "drop": torch.ones_like(cond["drop"])}


def build_model(cfg: ModelConfig, seq_len: int, static_dim: int) -> ABRTransformerGenerator:
    """The network a config describes, for signals of `seq_len` samples and condition
    vectors of `static_dim` values."""
    return ABRTransformerGenerator(
        seq_len=seq_len,
        static_dim=static_dim,
        d_model=cfg.d_model,
        n_layers=cfg.n_layers,
        n_heads=cfg.n_heads,
        ff_mult=cfg.ff_mult,
        conv_kernel=cfg.conv_kernel,
        film_hidden=cfg.film_hidden,
        t_embed_dim=cfg.t_embed_dim,
        dropout=cfg.dropout,
    )


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
