"""Forecast placement, NaN-aware reductions, baselines and the 4-panel figure."""

from __future__ import annotations

import math

import numpy as np
import torch

import teb_vae.plotting as plotting
from teb_vae.evaluation import baselines
from teb_vae.forecast import assemble, assemble_all, nan_mean, nan_sum


def test_assemble_places_each_step_after_its_last_seen_sample():
    # B=1, S=3 steps, H=5, T=2, N=10: step i covers samples 2(i+1) .. 2(i+1)+4, cut at 10
    f = torch.arange(1, 16, dtype=torch.float32).reshape(1, 3, 5)
    out = assemble(f, 10, decimation=2)
    nan = float("nan")
    expected = torch.tensor(
        [
            [nan, nan, 1, 2, 3, 4, 5, nan, nan, nan],
            [nan, nan, nan, nan, 6, 7, 8, 9, 10, nan],
            [nan, nan, nan, nan, nan, nan, 11, 12, 13, 14],
        ]
    )
    assert torch.equal(torch.isnan(out[0]), torch.isnan(expected))
    assert torch.equal(torch.nan_to_num(out[0]), torch.nan_to_num(expected))
    means = nan_mean(out)[0]
    assert math.isnan(means[0]) and means[2] == 1 and means[4] == (3 + 6) / 2
    assert means[6] == (5 + 8 + 11) / 3 and means[9] == 14
    sums = nan_sum(out)[0]
    assert math.isnan(sums[1]) and sums[6] == 24 and sums[9] == 14
    both = assemble_all(f, f * 0 - 1, 10, 2)
    assert both["mu_pr"].shape == (1, 3, 10) and both["log_var_means"].shape == (1, 10)


def test_baselines_hand_computed():
    y = torch.arange(20, dtype=torch.float32)[None]
    pers, mean = baselines(y, torch.tensor([0, 4]), horizon=4, decimation=2)
    assert pers[0, :, 0].tolist() == [1.0, 9.0]  # last seen: 2(i+1) - 1
    assert mean[0, :, 0].tolist() == [0.5, 7.5]  # mean of y[0..1], y[6..9]


def test_callback_figure_has_four_panels_and_is_a_pdf(tmp_path, monkeypatch):
    captured = {}
    save = plotting.save_figure

    def spy(fig, path):
        # read before saving: save_figure closes the figure and clears its axes
        captured["axes"] = [
            (ax.get_ylabel(), [np.asarray(line.get_ydata()) for line in ax.get_lines()])
            for ax in fig.axes
            if ax.get_label() != "<colorbar>"
        ]
        return save(fig, path)

    monkeypatch.setattr(plotting, "save_figure", spy)
    n, s = 4800, 300
    y = torch.sin(torch.arange(n) / 50.0)
    mu = torch.randn(1, s, 480)
    asm = assemble_all(mu, torch.zeros_like(mu), n)
    path = plotting.plot_forecast_panels(
        y,
        y * 0.5,
        asm["mu_pr_means"][0],
        asm["log_var_means"][0],
        asm["mu_pr"][0],
        torch.randn(s, 7),
        tmp_path / "f.pdf",
    )
    assert path.read_bytes()[:4] == b"%PDF"
    panels = [lines for label, lines in captured["axes"] if label != "UP"]
    assert len(panels) == 4
    # drawn in bpm and the UP's own units, not the model's normalised ones
    np.testing.assert_allclose(panels[0][0], 140.0 + 20.0 * y.numpy(), rtol=1e-6)
    up_lines = next(lines for label, lines in captured["axes"] if label == "UP")
    np.testing.assert_allclose(up_lines[0], 20.0 + 25.0 * 0.5 * y.numpy(), rtol=1e-6)
