"""`ecg-train`: train the conditional ECG diffusion model through `sigshared`'s Trainer.

Reads the dataset (`dataset.path`; when it is null the synthetic dataset of the `prepare`
settings is built once under runs/spectro_diffusion_ecg/synthetic_<hash of those settings>),
reports its pairing and defects, infers the array shapes, computes normalisation statistics on
the training split, trains with AdamW and a warm-up + cosine learning-rate schedule (EMA, AMP
on CUDA, gradient accumulation, checkpoints and resume come from the Trainer), then samples
the validation examples with DDIM and writes report.json (metrics against ground truth and
against the emb_init baseline) and plots/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from sigshared.cli import add_common_arguments, cli_entry, require_file
from sigshared.errors import UserError
from sigshared.plotting import plot_metrics_csv
from sigshared.training import (
    Trainer,
    apply_common_arguments,
    config_to_dict,
    create_run_dir,
    load_checkpoint,
    save_config,
    seed_everything,
    select_device,
    warmup_cosine,
)
from spectro_diffusion.ecg.config import EcgConfig, PrepareConfig, load_ecg_config
from spectro_diffusion.ecg.data import (
    FOLDERS,
    ArraySpec,
    EcgPairs,
    SplitReport,
    check_layout,
    denormalise,
    identity_stats,
    normalisation_stats,
    scan_split,
    specs_from_report,
)
from spectro_diffusion.ecg.diffusion import (
    JointLayout,
    check_consistency_applies,
    make_loss_step,
    make_schedule,
    sample,
)
from spectro_diffusion.ecg.metrics import compare, project_rows
from spectro_diffusion.ecg.model import EcgDiffusionModel
from spectro_diffusion.ecg.plots import plot_comparison
from spectro_diffusion.ecg.prepare import build_synthetic

PACKAGE = "spectro_diffusion_ecg"
SYNTHETIC_ROOT = Path("runs") / PACKAGE


def synthetic_folder(cfg: PrepareConfig) -> Path:
    """runs/spectro_diffusion_ecg/synthetic_<hash>: one folder per set of prepare settings."""
    digest = hashlib.sha1(json.dumps(asdict(cfg), sort_keys=True).encode()).hexdigest()[:8]
    return SYNTHETIC_ROOT / f"synthetic_{digest}"


def log(message: str) -> None:
    print(message, file=sys.stderr)


def ensure_synthetic(cfg: PrepareConfig) -> Path:
    """The synthetic dataset folder, built (atomically, via a temporary folder) if absent."""
    folder = synthetic_folder(cfg)
    if (folder / "prepare.json").is_file():
        return folder
    log(f"building the synthetic ECG dataset in {folder} (once) ...")
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    counts = build_synthetic(tmp, cfg, progress=False)
    tmp.replace(folder)
    log(f"synthetic dataset: {counts['train']} train and {counts['val']} val windows")
    return folder


def usable_split(report: SplitReport, specs: dict[str, ArraySpec] | None) -> list[str]:
    """Complete stems of a split whose shapes also match `specs` (the training shapes)."""
    stems = report.complete
    if specs is None:
        return stems
    keep = []
    for stem in stems:
        if all(report.file_shapes[n][stem] == specs[n].file_shape for n in FOLDERS):
            keep.append(stem)
    if len(keep) < len(stems):
        log(
            f"warning: {len(stems) - len(keep)} {report.split} stems have shapes other than "
            "the training split's and are left out"
        )
    return keep


def load_datasets(cfg: EcgConfig, resume_state: dict | None = None):
    """(train, val or None, specs, stats, report dict) of the configured dataset."""
    root = check_layout(cfg.dataset.path)
    reports = {}
    for split in (cfg.dataset.train_split, cfg.dataset.val_split):
        reports[split] = rep = scan_split(root, split)
        log(rep.summary())
        for line in rep.defect_lines():
            log(f"  {line}")
    train_rep = reports[cfg.dataset.train_split]
    if not train_rep.complete:
        raise UserError(
            f"dataset {root} has no complete pair in split {cfg.dataset.train_split!r} "
            f"({len(train_rep.all_stems)} stems found); every stem needs a sound file in "
            "images/, freq_embeddings/, inits/amp_init/ and inits/emb_init/"
        )
    if resume_state is not None:
        extra = resume_state["extra"]
        specs = {n: ArraySpec.from_dict(d) for n, d in extra["specs"].items()}
        stats = extra["stats"]
    else:
        specs = specs_from_report(train_rep, cfg.dataset.array_dims)
        if cfg.dataset.normalize:
            stats = normalisation_stats(train_rep, usable_split(train_rep, specs))
        else:
            stats = identity_stats()
    train_stems = usable_split(train_rep, specs)[: cfg.dataset.max_items]
    val_stems = usable_split(reports[cfg.dataset.val_split], specs)[: cfg.dataset.max_items]
    time_1d = tuple(
        n
        for n in FOLDERS
        if specs[n].dims == 1
        and (
            cfg.model.condition_1d_axis
            if n in ("amp_init", "emb_init")
            else cfg.model.output_1d_axis
        )
        == "width"
    )
    d = cfg.dataset
    train = EcgPairs(
        root,
        d.train_split,
        train_stems,
        specs,
        stats,
        d.augment,
        d.augment_time_shift,
        d.augment_cond_noise,
        time_1d,
    )
    val = EcgPairs(root, d.val_split, val_stems, specs, stats) if val_stems else None
    summary = {
        s: {"complete": len(r.complete), "defects": r.defect_lines()} for s, r in reports.items()
    }
    return train, val, specs, stats, summary


def evaluate(
    model: torch.nn.Module,
    cfg: EcgConfig,
    dataset: EcgPairs,
    stats: dict,
    specs: dict[str, ArraySpec],
    device: torch.device,
    run_dir: Path,
    count: int = 8,
) -> dict[str, float]:
    """DDIM samples for the first `count` examples of `dataset`: mean metrics against ground
    truth, the same metrics for the emb_init baseline, and a comparison plot per example."""
    items = [dataset[i] for i in range(min(count, len(dataset)))]
    batch = {k: torch.stack([it[k] for it in items]).to(device) for k in FOLDERS}
    layout = JointLayout(specs["images"], specs["freq_embeddings"])
    gen = torch.Generator(device=device).manual_seed(cfg.trainer.seed)
    model.eval()
    image, freq = sample(
        model,
        make_schedule(cfg.diffusion),
        layout,
        batch["amp_init"],
        batch["emb_init"],
        cfg.inference.num_inference_steps,
        cfg.inference.eta,
        cfg.diffusion.prediction_type,
        gen,
        cfg.diffusion.clip_x0,
    )
    phys = {k: denormalise(v, stats[k]).cpu() for k, v in batch.items()}
    gen_image = denormalise(image, stats["images"]).cpu()
    gen_freq = denormalise(freq, stats["freq_embeddings"]).cpu()
    projection = cfg.training.consistency_projection
    ours = compare(gen_image, gen_freq, phys["images"], phys["freq_embeddings"], projection)
    baseline_image = torch.nn.functional.interpolate(
        phys["emb_init"], size=specs["images"].size, mode="nearest"
    )
    report = {f"generated_{k}": float(v.mean()) for k, v in ours.items()}
    if baseline_image.shape == phys["images"].shape:
        base_freq = project_rows(baseline_image, projection)
        if base_freq.shape == phys["freq_embeddings"].shape:
            base = compare(
                baseline_image, base_freq, phys["images"], phys["freq_embeddings"], projection
            )
            # The baseline's consistency is 0 by construction, so it is not reported.
            base.pop("consistency_mse")
            report.update({f"emb_init_baseline_{k}": float(v.mean()) for k, v in base.items()})
    for i in range(min(4, len(items))):
        stem = dataset.stems[i]
        plot_comparison(
            {n: phys[n][i].numpy() for n in ("amp_init", "emb_init")},
            {"images": gen_image[i].numpy(), "freq_embeddings": gen_freq[i].numpy()},
            {n: phys[n][i].numpy() for n in ("images", "freq_embeddings")},
            f"{stem}: DDIM {cfg.inference.num_inference_steps} steps",
            run_dir / "plots" / f"val_{stem}.png",
        )
    report["evaluated_examples"] = len(items)
    return report


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ecg-train",
        description="Train the conditional ECG diffusion model (images + freq_embeddings from "
        "amp_init + emb_init). With no arguments: the demo config on the built-in synthetic "
        "dataset, about 10 minutes on a 2-core CPU.",
    )
    add_common_arguments(p, default_config="demo")
    p.add_argument("--resume", help="checkpoint (last.pt) to continue training from")
    return p


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.config == "demo":
        print(
            "ecg-train: demo config (small model, ~10 min on a 2-core CPU, synthetic ECG); "
            "for the full model run: ecg-train --config default",
            flush=True,
        )
    cfg = load_ecg_config(args.config, args.overrides)
    apply_common_arguments(cfg.trainer, args)
    seed_everything(cfg.trainer.seed)
    device = select_device(args.device)
    resume_state = None
    if args.resume:
        resume_state = load_checkpoint(require_file(args.resume, "--resume checkpoint"))
        if "specs" not in resume_state.get("extra", {}):
            raise UserError(f"{args.resume} is not an ecg-train checkpoint")
        run_dir = Path(args.out) if args.out else Path(args.resume).resolve().parent.parent
    else:
        run_dir = create_run_dir(PACKAGE, args.out, overwrite=args.overwrite)
    if cfg.dataset.path is None:
        cfg.dataset.path = str(ensure_synthetic(cfg.prepare).resolve())
    train, val, specs, stats, data_summary = load_datasets(cfg, resume_state)
    check_consistency_applies(
        specs["images"], specs["freq_embeddings"], cfg.training.consistency_weight
    )
    save_config(cfg, run_dir / "config.yaml")
    model = EcgDiffusionModel(specs, cfg.model)
    n_params = sum(p.numel() for p in model.parameters())
    log(
        f"run folder {run_dir}; {len(train)} train / {len(val) if val else 0} val examples; "
        f"shapes {', '.join(f'{n} {s.file_shape}' for n, s in specs.items())}; "
        f"{n_params / 1e6:.2f} M parameters; device {device}"
    )
    t = cfg.training
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay, betas=t.adam_betas
    )
    tc = cfg.trainer
    per_epoch = math.ceil(math.ceil(len(train) / tc.batch_size) / tc.grad_accum_steps)
    total = tc.max_steps if tc.max_steps is not None else tc.max_epochs * per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(t.warmup_steps, total, t.min_lr_ratio)
    )
    layout = JointLayout(specs["images"], specs["freq_embeddings"])
    loss_step = make_loss_step(make_schedule(cfg.diffusion), layout, cfg.diffusion, t, stats)
    extra = {
        "config": config_to_dict(cfg),
        "specs": {n: s.to_dict() for n, s in specs.items()},
        "stats": stats,
        "data": data_summary,
    }
    trainer = Trainer(
        model,
        loss_step,
        optimizer,
        tc,
        run_dir,
        scheduler=scheduler,
        device=device,
        extra_state=extra,
    )
    started = time.monotonic()
    result = trainer.fit(train, val, resume_from=args.resume)
    minutes = (time.monotonic() - started) / 60
    report = {
        "config": args.config,
        "steps": result.steps,
        "epochs": result.epochs,
        "stop_reason": result.stop_reason,
        "train_minutes": round(minutes, 2),
        "best_val_loss": result.best_metric,
        "parameters": n_params,
        "train_examples": len(train),
        "val_examples": len(val) if val else 0,
    }
    if result.history:
        report["last_epoch"] = result.history[-1]
    if val is not None:
        report.update(evaluate(trainer.eval_model, cfg, val, stats, specs, device, run_dir))
    plot_metrics_csv(
        run_dir / "metrics.csv",
        run_dir / "plots" / "losses.png",
        [
            (k, k)
            for k in ("train_loss", "val_loss", "train_consistency_loss", "val_consistency_loss")
        ],
    )
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(
        f"checkpoint: {result.last_checkpoint}; try: ecg-infer --checkpoint "
        f"{result.last_checkpoint} --compare --visualize"
    )


if __name__ == "__main__":
    main()
