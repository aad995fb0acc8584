"""`sigshared-demo`: the library end to end on a toy conditional 1-D diffusion problem.

Data: windowed sinusoids x(n) = sin(2 pi f n / T + phi) * hann(n), T = 64 samples, with the
frequency f (2..8 cycles per window) as the condition and a random phase phi. A small
convolutional network learns v-prediction on a cosine schedule through the Trainer
(with condition dropout for classifier-free guidance); DDIM then generates signals for chosen
frequencies. The report gives the frequency error of the generated signals (peak of their
spectrum against the asked-for f): a working conditional model lands within a fraction of a
cycle, an unconditional one is off by about 2 cycles on average.
"""

from __future__ import annotations

import argparse
import json
import math

import torch
from torch import nn
from torch.utils.data import Dataset

from sigshared.cli import add_common_arguments, cli_entry
from sigshared.diffusion import ddim_sample, predict_x0_from_v, q_sample, v_target
from sigshared.errors import UserError
from sigshared.plotting import new_figure, save_figure
from sigshared.schedules import NoiseSchedule
from sigshared.training import (
    Trainer,
    TrainerConfig,
    create_run_dir,
    seed_everything,
    select_device,
)

LENGTH = 64
F_MIN, F_MAX = 2.0, 8.0


class SineDataset(Dataset):
    """Seeded windowed sinusoids; item -> {"x": (1, LENGTH), "f": (1,) cycles per window}."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.f = F_MIN + (F_MAX - F_MIN) * torch.rand(n, 1, generator=g)
        phase = 2 * math.pi * torch.rand(n, 1, generator=g)
        self.x = sine_windows(self.f, phase).unsqueeze(1)

    def __len__(self) -> int:
        return len(self.f)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "f": self.f[i]}


def sine_windows(f: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """(N, 1) frequencies and phases -> (N, LENGTH) Hann-windowed sinusoids."""
    n = torch.arange(LENGTH, dtype=torch.float32)
    return torch.sin(2 * math.pi * f * n / LENGTH + phase) * torch.hann_window(
        LENGTH, periodic=False
    )


class TinyDenoiser(nn.Module):
    """Residual dilated 1-D conv net; time and condition embeddings are added to every block."""

    def __init__(self, width: int = 64, blocks: int = 6) -> None:
        super().__init__()
        self.inp = nn.Conv1d(1, width, 3, padding=1)
        self.t_embed = nn.Sequential(nn.Linear(16, width), nn.SiLU(), nn.Linear(width, width))
        self.c_embed = nn.Sequential(nn.Linear(1, width), nn.SiLU(), nn.Linear(width, width))
        self.null = nn.Parameter(torch.zeros(width))
        self.blocks = nn.ModuleList(
            nn.Conv1d(width, width, 3, padding=2 ** (i % 4), dilation=2 ** (i % 4))
            for i in range(blocks)
        )
        self.norms = nn.ModuleList(nn.GroupNorm(8, width) for _ in range(blocks))
        self.out = nn.Conv1d(width, 1, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, f: torch.Tensor | None) -> torch.Tensor:
        freqs = torch.exp(-math.log(1000.0) * torch.arange(8, device=x.device) / 8)
        ang = t.float()[:, None] * freqs[None]
        emb = self.t_embed(torch.cat([ang.sin(), ang.cos()], dim=1))
        if f is None:
            cond = self.null.expand(x.shape[0], -1)
        else:
            # f <= 0 marks a dropped condition (the null embedding for guidance).
            dropped = (f[:, 0] <= 0)[:, None]
            cond = torch.where(dropped, self.null.expand(x.shape[0], -1), self.c_embed(f / F_MAX))
        h = self.inp(x)
        for conv, norm in zip(self.blocks, self.norms):
            h = h + conv(torch.nn.functional.silu(norm(h + (emb + cond)[:, :, None])))
        return self.out(h)


def dominant_frequency(x: torch.Tensor) -> torch.Tensor:
    """(N, LENGTH) -> (N,) spectral peak in cycles per window, refined by parabolic fit."""
    mag = torch.fft.rfft(x, n=8 * LENGTH).abs()
    k = mag[:, 1:].argmax(dim=1) + 1
    k = k.clamp(1, mag.shape[1] - 2)
    a, b, c = (mag.gather(1, (k + d)[:, None])[:, 0] for d in (-1, 0, 1))
    offset = 0.5 * (a - c) / (a - 2 * b + c).clamp(max=-1e-12)
    return (k.float() + offset) / 8


@cli_entry
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="sigshared-demo",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser, default_config=None)
    parser.add_argument("--steps", type=int, default=1500, help="optimizer steps (default 1500)")
    parser.add_argument("--guidance", type=float, default=1.5, help="guidance scale (default 1.5)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        raise UserError(f"--steps must be >= 1, got {args.steps}")
    seed = 0 if args.seed is None else args.seed
    seed_everything(seed)
    device = select_device(args.device)
    run_dir = create_run_dir("sigshared-demo", args.out, overwrite=args.overwrite)
    print(f"sigshared demo: conditional 1-D diffusion on windowed sinusoids -> {run_dir}")
    schedule = NoiseSchedule.from_name("cosine", 1000).to(device)
    model = TinyDenoiser()

    def loss_step(net: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x0, f = batch["x"], batch["f"]
        t = torch.randint(0, schedule.num_timesteps, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        keep = (torch.rand(f.shape, device=f.device) > 0.1).float()
        v = net(q_sample(schedule, x0, t, noise), t, f * keep - (1 - keep))
        mse = ((v - v_target(schedule, x0, t, noise)) ** 2).mean()
        return {"loss": mse}

    cfg = TrainerConfig(
        batch_size=64,
        max_steps=args.steps,
        max_epochs=10**6,
        ema_decay=0.995,
        progress=not args.quiet,
        seed=seed,
        validate_every_epochs=5,
    )
    optim = torch.optim.AdamW(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=2e-3, total_steps=args.steps)
    trainer = Trainer(model, loss_step, optim, cfg, run_dir, scheduler=sched, device=device)
    result = trainer.fit(SineDataset(4096, seed), SineDataset(512, seed + 1))

    net = trainer.eval_model
    asked = torch.linspace(F_MIN + 0.5, F_MAX - 0.5, 16, device=device)[:, None]
    gen = torch.Generator(device=device).manual_seed(seed)

    def sample(scale: float) -> torch.Tensor:
        return ddim_sample(
            lambda x, t, c: net(x, t, c),
            schedule,
            (16, 1, LENGTH),
            steps=50,
            cond=asked,
            null_cond=torch.full((1, 1), -1.0, device=device),
            guidance_scale=scale,
            generator=gen,
            device=device,
        )[:, 0]

    conditional = sample(args.guidance)
    unconditional = sample(0.0)
    err_c = (dominant_frequency(conditional.cpu()) - asked[:, 0].cpu()).abs()
    err_u = (dominant_frequency(unconditional.cpu()) - asked[:, 0].cpu()).abs()
    check = SineDataset(8, seed + 2)
    t_mid = torch.full((8,), 300, dtype=torch.long)
    noisy = q_sample(schedule.to("cpu"), check.x, t_mid, torch.randn_like(check.x))
    with torch.no_grad():
        x0_hat = predict_x0_from_v(
            schedule.to("cpu"), noisy, t_mid, net.cpu()(noisy, t_mid, check.f)
        )
    report = {
        "steps": result.steps,
        "best_val_loss": result.best_metric,
        "freq_error_conditional_cycles": float(err_c.mean()),
        "freq_error_unconditional_cycles": float(err_u.mean()),
        "guidance_scale": args.guidance,
        "x0_mse_at_t300": float(((x0_hat - check.x) ** 2).mean()),
    }
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    fig, axes = new_figure(4, 4, figsize=(12, 8), sharex=True, sharey=True)
    n = torch.arange(LENGTH)
    for ax, sig, f in zip(axes.flat, conditional.cpu(), asked[:, 0].cpu()):
        ax.plot(n, sig, color="#d62728")
        ax.set_title(f"asked f = {f:.2f}, got {dominant_frequency(sig[None])[0]:.2f}")
    save_figure(fig, run_dir / "plots" / "generated.png")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
