"""Losses shared by the members: multi-resolution STFT, Gaussian NLL, diagonal-Gaussian KL."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

REDUCTIONS = ("none", "mean", "sum")


def _reduce(x: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return x
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    raise ValueError(f"unknown reduction {reduction!r}; valid values: {', '.join(REDUCTIONS)}")


class MultiResolutionSTFTLoss(nn.Module):
    """Mean over resolutions of STFT magnitude distances (Yamamoto et al. 2020, Parallel WaveGAN).

    Per resolution: `mag_weight` * L1 between magnitudes, `sc_weight` * spectral convergence
    ||S_t - S_p||_F / ||S_t||_F, `log_weight` * L1 between log magnitudes. Inputs are (B, T) or
    (B, C, T) (channels are treated as separate signals); the result is a scalar.
    `weight_fn(freqs)` maps the (F,) bin frequencies as a fraction of the sample rate (0 .. 0.5)
    to a (F,) weight applied to both magnitudes (e.g. A-weighting).
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (512, 1024, 2048),
        hop_sizes: Sequence[int] | None = None,
        win_lengths: Sequence[int] | None = None,
        window: str = "hann",
        mag_weight: float = 1.0,
        sc_weight: float = 0.0,
        log_weight: float = 0.0,
        weight_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
        eps: float = 1e-7,
    ) -> None:
        super().__init__()
        self.fft_sizes = [int(n) for n in fft_sizes]
        self.hop_sizes = [n // 4 for n in self.fft_sizes] if hop_sizes is None else list(hop_sizes)
        self.win_lengths = list(self.fft_sizes) if win_lengths is None else list(win_lengths)
        if not len(self.fft_sizes) == len(self.hop_sizes) == len(self.win_lengths):
            raise ValueError("fft_sizes, hop_sizes and win_lengths must have the same length")
        for n, w in zip(self.fft_sizes, self.win_lengths):
            if w > n:
                raise ValueError(f"win_length {w} exceeds fft_size {n}")
        windows = {
            "hann": torch.hann_window,
            "hamming": torch.hamming_window,
            "blackman": torch.blackman_window,
        }
        if window not in windows:
            raise ValueError(f"unknown window {window!r}; valid values: {', '.join(windows)}")
        self.window_fn = windows[window]
        self.mag_weight, self.sc_weight, self.log_weight = mag_weight, sc_weight, log_weight
        self.weight_fn = weight_fn
        self.eps = eps

    def _magnitude(self, x: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
        window = self.window_fn(win, device=x.device, dtype=x.dtype)
        spec = torch.stft(x, n_fft, hop, win, window, center=True, return_complex=True)
        # sqrt(|S|^2 + eps) keeps the gradient finite where the magnitude is 0.
        mag = (spec.real**2 + spec.imag**2 + self.eps).sqrt()
        if self.weight_fn is not None:
            freqs = torch.fft.rfftfreq(n_fft, device=x.device, dtype=x.dtype)
            mag = mag * self.weight_fn(freqs).reshape(1, -1, 1)
        return mag

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(
                f"pred shape {tuple(pred.shape)} != target shape {tuple(target.shape)}"
            )
        if pred.ndim not in (2, 3):
            raise ValueError(f"expected (B, T) or (B, C, T), got shape {tuple(pred.shape)}")
        length = pred.shape[-1]
        pred = pred.reshape(-1, length).float()
        target = target.reshape(-1, length).float()
        total = pred.new_zeros(())
        for n_fft, hop, win in zip(self.fft_sizes, self.hop_sizes, self.win_lengths):
            if n_fft // 2 >= length:
                raise ValueError(
                    f"fft_size {n_fft} is too large for signals of {length} samples "
                    f"(needs fft_size // 2 < length)"
                )
            p = self._magnitude(pred, n_fft, hop, win)
            t = self._magnitude(target, n_fft, hop, win)
            if self.mag_weight:
                total = total + self.mag_weight * (p - t).abs().mean()
            if self.sc_weight:
                sc = torch.linalg.norm(t - p, dim=(-2, -1)) / torch.linalg.norm(t, dim=(-2, -1))
                total = total + self.sc_weight * sc.mean()
            if self.log_weight:
                total = total + self.log_weight * (p.log() - t.log()).abs().mean()
        return total / len(self.fft_sizes)


def gaussian_nll(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    logvar_clamp: tuple[float, float] | None = (-10.0, 10.0),
    full: bool = False,
    reduction: str = "mean",
) -> torch.Tensor:
    """Negative log-likelihood of `target` under N(mu, exp(logvar)), elementwise.

    0.5 * (logvar + (target - mu)^2 / exp(logvar)) (+ 0.5 log 2 pi with `full`). The
    log-variance is clamped to `logvar_clamp` first, which bounds the loss and its gradient.
    `mask` (broadcastable, bool or 0/1) selects the elements that count; "mean" divides by their
    number and gives 0 (not NaN) when none is selected.
    """
    if logvar_clamp is not None:
        logvar = logvar.clamp(*logvar_clamp)
    nll = 0.5 * (logvar + (target - mu) ** 2 * torch.exp(-logvar))
    if full:
        nll = nll + 0.5 * math.log(2 * math.pi)
    if mask is None:
        return _reduce(nll, reduction)
    m = torch.broadcast_to(mask, nll.shape).to(nll.dtype)
    nll = torch.where(m > 0, nll, torch.zeros_like(nll))
    if reduction == "mean":
        return nll.sum() / m.sum().clamp(min=1.0)
    return _reduce(nll, reduction)


def kl_divergence(
    mu_q: torch.Tensor,
    logvar_q: torch.Tensor,
    mu_p: torch.Tensor | None = None,
    logvar_p: torch.Tensor | None = None,
    reduction: str = "none",
) -> torch.Tensor:
    """KL(q || p) between diagonal Gaussians, elementwise before `reduction`.

    0.5 * (logvar_p - logvar_q + (exp(logvar_q) + (mu_q - mu_p)^2) / exp(logvar_p) - 1);
    p is the standard normal when mu_p / logvar_p are omitted.
    """
    if mu_p is None:
        mu_p = torch.zeros_like(mu_q)
    if logvar_p is None:
        logvar_p = torch.zeros_like(logvar_q)
    kl = 0.5 * (
        logvar_p - logvar_q + (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) * torch.exp(-logvar_p) - 1
    )
    return _reduce(kl, reduction)
