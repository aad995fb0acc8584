import numpy as np
import pytest
import torch

from sigshared.plotting import (
    new_figure,
    plot_band,
    plot_image,
    plot_metrics_csv,
    plot_overlay,
    save_figure,
    stacked_panels,
)


def test_stacked_panels_share_time_axis_and_save(tmp_path):
    fig, axes = stacked_panels(4, xlabel="time (s)")
    assert len(axes) == 4 and axes[0].get_shared_x_axes().joined(axes[0], axes[3])
    t = np.linspace(0, 1, 100)
    plot_overlay(axes[0], t, np.sin(t), torch.cos(torch.from_numpy(t)))
    mean = np.sin(t)
    mean[40:50] = np.nan
    plot_band(axes[1], t, mean, std=np.full_like(t, 0.1))
    plot_band(axes[2], t, mean, lower=mean - 1, upper=mean + 1)
    plot_image(axes[3], np.random.default_rng(0).random((8, 100)), colorbar_label="dB")
    pdf = save_figure(fig, tmp_path / "sub" / "fig.pdf")
    assert pdf.read_bytes()[:4] == b"%PDF"
    fig2, ax = new_figure()
    ax.plot([0, 1], [0, 1])
    png = save_figure(fig2, tmp_path / "fig.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_inputs():
    fig, ax = new_figure()
    with pytest.raises(ValueError, match="2-D"):
        plot_image(ax, np.zeros(5))
    with pytest.raises(ValueError, match="std or both"):
        plot_band(ax, [0, 1], [0, 1])
    with pytest.raises(ValueError, match="suffix"):
        save_figure(fig, "x.jpg")


def test_plot_metrics_csv_skips_empty_cells_and_missing_files(tmp_path, monkeypatch):
    import sigshared.plotting as plotting

    csv_path = tmp_path / "metrics.csv"
    assert plot_metrics_csv(csv_path, tmp_path / "loss.png", [("train_loss", "train")]) is None
    csv_path.write_text("epoch,step,train_loss,val_loss\n")
    assert plot_metrics_csv(csv_path, tmp_path / "loss.png", [("train_loss", "train")]) is None
    csv_path.write_text("epoch,step,train_loss,val_loss\n1,10,0.5,\n2,20,0.25,0.3\n3,30,0.125,\n")
    drawn = {}

    def keep_lines(fig, path):
        for line in fig.axes[0].get_lines():
            drawn[line.get_label()] = (list(line.get_xdata()), list(line.get_ydata()))
        return save_figure(fig, path)

    monkeypatch.setattr(plotting, "save_figure", keep_lines)
    out = plot_metrics_csv(
        csv_path, tmp_path / "loss.png", [("train_loss", "train"), ("val_loss", "validation")]
    )
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert drawn == {
        "train": ([10.0, 20.0, 30.0], [0.5, 0.25, 0.125]),
        "validation": ([20.0], [0.3]),
    }
