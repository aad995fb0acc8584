"""The 4-panel forecast figure and the training callback that writes it.

Samples that are not measured FHR (filled gaps, artefacts, maternal capture) are shaded grey
in the signal panels. The model works in normalised units; the figure is drawn in bpm (FHR,
forecasts, band) and the recording's UP units, as a clinician reads a trace. Panels (one
sample, shared time axis in minutes): (1) FHR and UP (UP on the right axis); (2) FHR with the
mean forecast `mu_pr_means` and a +/- 2 std band from `log_var_means`; (3) FHR with the
NaN-aware sum of the forecasts issued at steps 30, 60, ..., 270 (NaN where none covers a
sample); (4) the latent z as an image (channels x time), any width.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from sigshared.plotting import plot_band, plot_image, plot_overlay, save_figure, stacked_panels
from sigshared.training import Callback
from teb_vae.features.preprocess import FHR_SCALE, FS, denormalize_fhr, denormalize_up
from teb_vae.forecast import assemble_all, nan_sum
from teb_vae.model import SeqVaeTeb
from teb_vae.quality import runs

SUM_STEPS = tuple(range(30, 300, 30))


def plot_forecast_panels(
    y_raw: torch.Tensor,
    up_raw: torch.Tensor,
    mu_pr_means: torch.Tensor,
    log_var_means: torch.Tensor,
    mu_pr: torch.Tensor,
    latent_z: torch.Tensor,
    path: str | Path,
    sum_steps: Sequence[int] = SUM_STEPS,
    title: str | None = None,
    invalid: torch.Tensor | None = None,
) -> Path:
    """One sample: y_raw, up_raw, mu_pr_means, log_var_means (N,); mu_pr (S, N); latent_z
    (S, D), all in the model's normalised units; optional `invalid` (N,) bool, the samples
    that are not measured FHR (filled gaps, artefacts, maternal capture), shaded grey in the
    signal panels. Writes a 4-panel PDF (or PNG) in bpm and closes the figure."""
    n = y_raw.shape[-1]
    t = torch.arange(n) / FS / 60.0
    fig, axes = stacked_panels(4, xlabel="time (min)")
    if invalid is not None:
        for start, length in runs(invalid.cpu().numpy()):
            for ax in axes[:3]:
                ax.axvspan(
                    start / FS / 60.0, (start + length) / FS / 60.0, color="0.85", lw=0, zorder=0
                )
    fhr = denormalize_fhr(y_raw.cpu())
    axes[0].plot(t, fhr, color="#222222", label="FHR")
    axes[0].set_ylabel("FHR (bpm)")
    up_axis = axes[0].twinx()
    up_axis.plot(t, denormalize_up(up_raw.cpu()), color="#d62728", alpha=0.8, label="UP")
    up_axis.set_ylabel("UP", color="#d62728")
    axes[0].set_title(title or "input signals")
    axes[1].plot(t, fhr, color="#222222", label="FHR")
    std_bpm = torch.exp(0.5 * log_var_means) * FHR_SCALE
    plot_band(axes[1], t, denormalize_fhr(mu_pr_means), std=std_bpm, label="mean forecast")
    axes[1].set_ylabel("bpm")
    axes[1].legend(loc="upper right")
    axes[1].set_title("mean of all forecasts covering each sample, ±2 std")
    steps = [s for s in sum_steps if s < mu_pr.shape[0]]
    summed = (
        nan_sum(mu_pr[steps][None], dim=1)[0] if steps else torch.full_like(y_raw, float("nan"))
    )
    issued = ", ".join(str(s) for s in steps[:2]) + (", ..." if len(steps) > 2 else "")
    plot_overlay(
        axes[2],
        t,
        fhr,
        denormalize_fhr(summed),
        "FHR",
        f"forecasts issued at steps {issued}",
        ylabel="bpm",
    )
    axes[2].set_title("the forecasts issued every 30 steps (2 min), end to end")
    s, _ = latent_z.shape
    plot_image(
        axes[3],
        latent_z.T,
        extent=(0, s * n / s / FS / 60.0, 0, latent_z.shape[1]),
        cmap="viridis",
        colorbar_label="z",
        ylabel="latent channel",
    )
    axes[3].set_title("latent z")
    return save_figure(fig, path)


@torch.no_grad()
def plot_sample(
    model: SeqVaeTeb,
    item: dict[str, torch.Tensor],
    path: str | Path,
    device: torch.device | str = "cpu",
    title: str | None = None,
    calibrate: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    | None = None,
) -> Path:
    """Run the model on one dataset item and write its 4-panel figure. `calibrate` maps the
    forecast mean and log-variance (..., H) to the calibrated ones (`TrainedTeb.adjust_mean`,
    `TrainedTeb.scale_logvar`), so the forecasts drawn are those the npz/CSV outputs and the
    benchmark use."""
    batch = {k: v[None].to(device) for k, v in item.items()}
    out = model.predict_raw_signal(batch["x_ph"], batch["y_st"], batch["y_ph"])
    mu, logvar = out["raw_signal_mu"], out["raw_signal_logvar"]
    if calibrate is not None:
        mu, logvar = calibrate(mu, logvar)
    n = batch["y_raw"].shape[-1]
    asm = assemble_all(mu, logvar, n, model.cfg.decimation_factor)
    return plot_forecast_panels(
        batch["y_raw"][0].cpu(),
        batch["up_raw"][0].cpu(),
        asm["mu_pr_means"][0].cpu(),
        asm["log_var_means"][0].cpu(),
        asm["mu_pr"][0].cpu(),
        out["z"][0].cpu(),
        path,
        title=title,
        invalid=~batch["valid"][0].cpu(),
    )


class PlottingCallback(Callback):
    """Every `every_epochs` validations and once at the end, plot one validation sample to
    `run_dir/plots/forecast_epoch{E}.pdf` (and `forecast_final.pdf`)."""

    def __init__(self, dataset, every_epochs: int = 5, sample_index: int = 0) -> None:
        self.dataset = dataset
        self.every = max(1, every_epochs)
        self.index = min(sample_index, len(dataset) - 1)

    def _plot(self, trainer, name: str) -> None:
        model = trainer.eval_model
        plot_sample(
            model,
            self.dataset[self.index],
            trainer.run_dir / "plots" / name,
            trainer.device,
            title=f"step {trainer.step}",
        )

    def on_validation_end(self, trainer, metrics: dict[str, float]) -> None:
        if trainer.epoch % self.every == 0:
            self._plot(trainer, f"forecast_epoch{trainer.epoch:03d}.pdf")

    def on_fit_end(self, trainer) -> None:
        self._plot(trainer, "forecast_final.pdf")
