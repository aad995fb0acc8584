import math

import pytest
import torch

from spectro_diffusion.unet import (
    CrossAttention2d,
    Downsample,
    ResidualBlock,
    SelfAttention2d,
    TimestepEmbedding,
    Upsample,
    group_count,
    sinusoidal_embedding,
)


def test_sinusoidal_embedding_closed_form():
    t = torch.tensor([0, 5])
    emb = sinusoidal_embedding(t, 8)
    freqs = [10_000 ** (-k / 4) for k in range(4)]
    expected = [math.sin(5 * f) for f in freqs] + [math.cos(5 * f) for f in freqs]
    assert torch.allclose(emb[1], torch.tensor(expected), atol=1e-5)
    assert torch.allclose(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert sinusoidal_embedding(t, 7).shape == (2, 7)


def test_group_count_divides():
    assert group_count(64) == 8 and group_count(12) == 6 and group_count(7) == 7
    assert group_count(3, max_groups=2) == 1


def test_residual_block_shapes_and_embedding_matters():
    torch.manual_seed(0)
    block = ResidualBlock(8, 16, emb_dim=32)
    x = torch.randn(2, 8, 10, 12)
    emb = torch.randn(2, 32)
    y = block(x, emb)
    assert y.shape == (2, 16, 10, 12)
    assert not torch.allclose(y, block(x, emb + 1.0))


def test_attention_blocks_shapes_and_context_matters():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 6, 5)
    assert SelfAttention2d(16, heads=4)(x).shape == x.shape
    cross = CrossAttention2d(16, context_dim=12, heads=4)
    ctx = torch.randn(2, 7, 12)
    y = cross(x, ctx)
    assert y.shape == x.shape
    assert not torch.allclose(y, cross(x, torch.randn(2, 7, 12)))
    with pytest.raises(ValueError, match="divisible"):
        SelfAttention2d(10, heads=4)


def test_self_attention_is_permutation_equivariant_over_positions():
    torch.manual_seed(0)
    attn = SelfAttention2d(8, heads=2).eval()
    attn.norm = torch.nn.Identity()  # GroupNorm statistics are permutation-invariant anyway
    x = torch.randn(1, 8, 1, 9)
    perm = torch.randperm(9)
    assert torch.allclose(attn(x)[..., perm], attn(x[..., perm]), atol=1e-5)


def test_down_up_sampling_shapes():
    x = torch.randn(1, 4, 9, 16)
    down = Downsample(4)(x)
    assert down.shape == (1, 4, 5, 8)
    assert Upsample(4)(down).shape == (1, 4, 10, 16)
    assert Upsample(4)(down, size=(9, 16)).shape == x.shape
    assert TimestepEmbedding(16, 32)(torch.tensor([1, 999])).shape == (2, 32)
