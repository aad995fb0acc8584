"""Learning-rate multipliers for `torch.optim.lr_scheduler.LambdaLR` (stepped once per step)."""

from __future__ import annotations

import math
from collections.abc import Callable


def warmup_cosine(warmup: int, total: int, min_ratio: float = 0.0) -> Callable[[int], float]:
    """Linear warm-up over `warmup` steps, then cosine annealing to `min_ratio` at `total`.

    The multiplier is (step + 1) / warmup during warm-up, then
    min_ratio + (1 - min_ratio) * (1 + cos(pi * p)) / 2 with p the fraction of the remaining
    steps done (held at 1 after `total`).
    """
    if warmup < 0 or total < 1:
        raise ValueError(f"need warmup >= 0 and total >= 1, got warmup={warmup}, total={total}")
    if not 0.0 <= min_ratio <= 1.0:
        raise ValueError(f"min_ratio must be in [0, 1], got {min_ratio}")

    def multiplier(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return multiplier
