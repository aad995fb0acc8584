"""Conditions as trees (a tensor or a dict of them, batch axis first) and classifier-free guidance.

Guidance follows Ho & Salimans 2022 in the diffusers convention:
out = uncond + guidance_scale * (cond - uncond), so guidance_scale = 1 is the conditional model
alone, 0 the unconditional one, and the paper's w is guidance_scale - 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

ModelFn = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


def _not_a_tree(value: Any) -> TypeError:
    return TypeError(
        f"conditioning must be a tensor or a dict of tensors, got {type(value).__name__}"
    )


def cat_rows(a: Any, b: Any) -> Any:
    """Two conditions of the same structure concatenated along the batch axis."""
    if isinstance(a, torch.Tensor):
        return torch.cat([a, b], dim=0)
    if isinstance(a, dict):
        return {k: cat_rows(a[k], b[k]) for k in a}
    raise _not_a_tree(a)


def expand_like(value: Any, like: Any) -> Any:
    """`value` (same structure as `like`, leaves broadcastable) expanded to `like`'s shapes."""
    if isinstance(like, torch.Tensor):
        value = torch.as_tensor(value, device=like.device, dtype=like.dtype)
        return value.expand_as(like) if value.shape != like.shape else value
    if isinstance(like, dict):
        return {k: expand_like(value[k], like[k]) for k in like}
    raise _not_a_tree(like)


def where_rows(mask: torch.Tensor, a: Any, b: Any) -> Any:
    """Row i of `a` where mask[i] (a (B,) bool tensor), else row i of `b`; leaf by leaf."""
    if isinstance(b, torch.Tensor):
        a = expand_like(a, b)
        return torch.where(mask.to(b.device).reshape(-1, *([1] * (b.ndim - 1))), a, b)
    if isinstance(b, dict):
        return {k: where_rows(mask, a[k], b[k]) for k in b}
    raise _not_a_tree(b)


def classifier_free_guidance(
    uncond: torch.Tensor, cond: torch.Tensor, scale: float
) -> torch.Tensor:
    """uncond + scale * (cond - uncond) (Ho & Salimans 2022, Eq. 6 with w = scale - 1)."""
    return uncond + scale * (cond - uncond)


def guided_model_output(
    model_fn: ModelFn,
    x_t: torch.Tensor,
    t: torch.Tensor,
    cond: Any = None,
    null_cond: Any = None,
    guidance_scale: float = 1.0,
) -> torch.Tensor:
    """The model output, with classifier-free guidance when guidance_scale != 1.

    Guidance runs the unconditional and the conditional branch in one batched forward pass of
    size 2B: inputs [x_t; x_t], conditions [null_cond; cond]. `null_cond` has the structure of
    `cond` with leaves broadcastable to it (e.g. one row).
    """
    if cond is None or guidance_scale == 1.0:
        return model_fn(x_t, t, cond)
    if null_cond is None:
        raise ValueError("guidance_scale != 1 needs null_cond (the unconditional input)")
    both = model_fn(
        torch.cat([x_t, x_t]), torch.cat([t, t]), cat_rows(expand_like(null_cond, cond), cond)
    )
    uncond, conditional = both.chunk(2, dim=0)
    return classifier_free_guidance(uncond, conditional, guidance_scale)
