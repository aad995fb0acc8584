"""Exponential moving average of a model's weights."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel / DataParallel wrapper (or the model)."""
    return (
        model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model
    )


class EMA:
    """theta_ema <- d * theta_ema + (1 - d) * theta after each optimizer step.

    With `warmup`, d = min(decay, (1 + n) / (10 + n)) after n updates, so early averages are
    not dominated by the random initialisation. Floating-point buffers (BatchNorm running
    mean / variance) are averaged the same way, so the statistics match the averaged weights
    (copying the live model's statistics pairs them with other weights and skews the EMA
    model's validation loss); integer buffers (counters) are copied.
    `module` is the averaged copy, in eval mode, without gradients.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = True) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.warmup = warmup
        self.num_updates = 0
        self.module = copy.deepcopy(unwrap(model)).eval().requires_grad_(False)

    def current_decay(self) -> float:
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        src = unwrap(model)
        for e, p in zip(self.module.parameters(), src.parameters()):
            e.lerp_(p.detach().to(e.dtype), 1.0 - d)
        for e, b in zip(self.module.buffers(), src.buffers()):
            if e.is_floating_point():
                e.lerp_(b.detach().to(e.dtype), 1.0 - d)
            else:
                e.copy_(b)
        self.num_updates += 1

    def state_dict(self) -> dict[str, Any]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Any], num_updates: int | None = None) -> None:
        self.module.load_state_dict(state)
        if num_updates is not None:
            self.num_updates = num_updates
