"""Comparison metrics of generated and ground-truth arrays (physical units, torch tensors).

Images (B, C, H, W): MSE, PSNR with the ground truth's own range as peak
(10 log10(range^2 / MSE)) and SSIM (Wang et al. 2004, Eq. 13: 11x11 Gaussian window with
sigma 1.5, K1 = 0.01, K2 = 0.03, L = ground-truth range, mean over the valid window positions
and channels). Frequency embeddings (B, C, L): MSE and Pearson correlation. Consistency: MSE
between a frequency embedding and the one its image implies (`project_rows`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from sigshared.metrics import mse, pearson


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def data_range(reference: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> (B,) max - min of each reference."""
    flat = reference.flatten(1)
    return (flat.max(dim=1).values - flat.min(dim=1).values).clamp(min=1e-12)


def psnr(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> (B,) PSNR in dB, peak = the reference's range."""
    err = mse(estimate.flatten(1), reference.flatten(1)).clamp(min=1e-20)
    return 10 * torch.log10(data_range(reference) ** 2 / err)


def ssim(estimate: torch.Tensor, reference: torch.Tensor, window: int = 11) -> torch.Tensor:
    """(B, C, H, W) -> (B,) mean structural similarity; the window shrinks to fit small images."""
    b, c, h, w = reference.shape
    size = min(window, h, w)
    kernel = _gaussian_window(size, 1.5 * size / 11).to(reference)[None, None]
    kernel = kernel.expand(c, 1, size, size)
    peak = data_range(reference).reshape(b, 1, 1, 1)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, kernel, groups=c)

    mu_x, mu_y = blur(estimate), blur(reference)
    var_x = blur(estimate * estimate) - mu_x**2
    var_y = blur(reference * reference) - mu_y**2
    cov = blur(estimate * reference) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (num / den).flatten(1).mean(dim=1)


def project_rows(image: torch.Tensor, projection: str = "logmeanexp") -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H): the frequency embedding an image implies: "logmeanexp" is
    the log time-averaged power of a log power image, "mean" the plain time average."""
    if projection == "mean":
        return image.mean(dim=-1)
    return torch.logsumexp(image, dim=-1) - math.log(image.shape[-1])


def compare(
    gen_image: torch.Tensor,
    gen_freq: torch.Tensor,
    true_image: torch.Tensor,
    true_freq: torch.Tensor,
    projection: str = "logmeanexp",
) -> dict[str, torch.Tensor]:
    """Per-sample metrics, each (B,): image_mse, image_psnr_db, image_ssim, freq_mse,
    freq_pearson, consistency_mse (MSE between the generated embedding and the one its image
    implies under `projection`; NaN when the shapes do not relate)."""
    out = {
        "image_mse": mse(gen_image.flatten(1), true_image.flatten(1)),
        "image_psnr_db": psnr(gen_image, true_image),
        "image_ssim": ssim(gen_image, true_image),
        "freq_mse": mse(gen_freq.flatten(1), true_freq.flatten(1)),
        "freq_pearson": pearson(gen_freq.flatten(1), true_freq.flatten(1)),
    }
    if gen_freq.ndim == 3 and gen_freq.shape[:2] == gen_image.shape[:2]:
        if gen_freq.shape[-1] == gen_image.shape[-2]:
            implied = project_rows(gen_image, projection)
            out["consistency_mse"] = mse(gen_freq.flatten(1), implied.flatten(1))
    if "consistency_mse" not in out:
        out["consistency_mse"] = torch.full_like(out["image_mse"], float("nan"))
    return out
