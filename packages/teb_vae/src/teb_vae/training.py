"""One training run: data, model, the shared Trainer, then the evaluation against baselines.

The run folder gets config.yaml, metrics.csv, checkpoints/{last,best}.pt (stamped package
teb_vae, kind forecaster, carrying the config and the feature statistics), plots/ and
report.json.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from sigshared.files import atomic_output
from sigshared.training import Trainer, config_to_dict, save_config, seed_everything
from teb_vae.benchmark import baseline_spread
from teb_vae.calibration import fit_validation_calibration, store_calibration
from teb_vae.checkpoint import CHECKPOINT_META, load_trained
from teb_vae.config import RunConfig
from teb_vae.data import build_datasets, load_recordings, load_windows
from teb_vae.evaluation import evaluate
from teb_vae.model import SeqVaeTeb
from teb_vae.objective import make_loss_step
from teb_vae.plotting import PlottingCallback


def train_run(
    cfg: RunConfig,
    run_dir: Path,
    data: str | None = None,
    resume: str | Path | None = None,
    records: dict[str, list[str]] | None = None,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] = print,
) -> dict:
    """Train (or resume) in `run_dir` and return the report written to report.json.

    After training, each checkpoint's deceleration anchoring and spread are fitted on the
    whole validation records (`teb_vae.calibration`); report.json's `calibration` is
    best.pt's.

    `records` (see `teb_vae.data.read_records_file`) picks the train / val records of `data`.
    The checkpoint also carries the baselines' spread fitted on the training windows, which
    teb-eval uses.
    """
    seed_everything(cfg.trainer.seed)
    train_w, val_w, where = load_windows(cfg, data, cfg.trainer.seed, records)
    log(f"data: {where}; run folder: {run_dir}")
    train_ds, val_ds, stats = build_datasets(cfg, train_w, val_w, device)
    save_config(cfg, run_dir / "config.yaml")
    model = SeqVaeTeb(cfg.model)
    optim = torch.optim.AdamW(
        model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
    )
    trainer = Trainer(
        model,
        make_loss_step(cfg),
        optim,
        cfg.trainer,
        run_dir,
        callbacks=[PlottingCallback(val_ds, cfg.plot.every_epochs, cfg.plot.sample_index)],
        device=device,
        extra_state={
            "config": config_to_dict(cfg),
            "feature_stats": stats.to_state(),
            "baseline_spread": baseline_spread(
                train_w, cfg.model.horizon, cfg.model.decimation_factor, cfg.model.warmup_period
            ),
        },
        checkpoint_meta=CHECKPOINT_META,
    )
    result = trainer.fit(train_ds, val_ds, resume_from=resume)
    spread = None
    train_recs, val_recs = load_recordings(cfg, data, cfg.trainer.seed, records)
    # each checkpoint's own weights (best.pt may be an earlier step than the final model); the
    # training records only when there is no validation record (as the windows do)
    for name in ("last.pt", "best.pt"):
        path = run_dir / "checkpoints" / name
        if path.is_file():
            anchor, fitted = fit_validation_calibration(
                load_trained(path, device), val_recs or train_recs, device
            )
            store_calibration(path, anchor, fitted)
            spread = {"anchor": anchor.to_state(), "spread": fitted.to_state()}
            log(
                f"{name}: deceleration anchoring {anchor.weight.round(3).tolist()} and "
                "spread fitted on the validation records"
            )
    report = {
        "data": where,
        "steps": result.steps,
        "epochs": result.epochs,
        "stop_reason": result.stop_reason,
        "best_val_loss": result.best_metric,
        "evaluation": evaluate(trainer.eval_model, val_ds, trainer.device),
        "calibration": spread,
    }
    with atomic_output(run_dir / "report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    return report
