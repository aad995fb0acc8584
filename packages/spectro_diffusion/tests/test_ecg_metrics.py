"""Comparison metrics against closed forms."""

import math

import torch

from spectro_diffusion.ecg.metrics import compare, project_rows, psnr, ssim


def test_psnr_closed_form_and_ssim_bounds():
    torch.manual_seed(0)
    ref = torch.rand(2, 1, 16, 16) * 4.0
    ref[:, :, 0, 0], ref[:, :, 0, 1] = 0.0, 4.0  # range exactly 4
    shifted = ref + 0.5
    assert torch.allclose(psnr(shifted, ref), torch.full((2,), 10 * math.log10(16 / 0.25)))
    assert torch.allclose(ssim(ref, ref), torch.ones(2))
    noisy = ssim(ref + 0.5 * torch.randn_like(ref), ref)
    noisier = ssim(ref + 2.0 * torch.randn_like(ref), ref)
    assert (noisier < noisy).all() and (noisy < 1).all()


def test_compare_consistency_of_a_related_pair_is_zero():
    image = torch.randn(3, 1, 8, 10)
    for projection in ("logmeanexp", "mean"):
        freq = project_rows(image, projection)
        out = compare(image, freq, image, freq, projection)
        assert torch.allclose(out["consistency_mse"], torch.zeros(3), atol=1e-10)
        assert torch.allclose(out["freq_pearson"], torch.ones(3))
        assert torch.equal(out["image_mse"], torch.zeros(3))
    expected = torch.log(torch.exp(image).mean(dim=-1))
    assert torch.allclose(project_rows(image), expected, atol=1e-6)
