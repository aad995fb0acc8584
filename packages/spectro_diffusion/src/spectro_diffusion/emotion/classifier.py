"""A small CNN emotion classifier on the scaled log-mel images, and `spectro-train-classifier`.

Conv-GN-SiLU blocks with 2x max pooling, global average pooling to an embedding (used for the
Fréchet distance of `spectro-eval`), then a linear layer to the class logits. Trained through
the sigshared Trainer with cross-entropy; accuracy and confusion matrix on the test split.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sigshared.cli import add_common_arguments, cli_entry
from sigshared.errors import UserError
from sigshared.training import (
    Trainer,
    TrainerConfig,
    config_to_dict,
    create_run_dir,
    load_checkpoint,
    load_model_weights,
    save_config,
    seed_everything,
    select_device,
)
from spectro_diffusion.emotion.config import (
    ClassifierConfig,
    EmotionConfig,
    apply_cli_arguments,
    load_emotion_config,
)
from spectro_diffusion.emotion.data import data_summary, prepare_data
from spectro_diffusion.emotion.plots import confusion_figure
from spectro_diffusion.unet import group_count

PACKAGE = "spectro_diffusion"


class EmotionClassifier(nn.Module):
    """(B, 1, H, W) scaled log-mels -> logits (B, num_classes); `embed` gives (B, embed_dim)."""

    def __init__(
        self,
        num_classes: int,
        channels: tuple[int, ...] = (16, 32, 64),
        embed_dim: int = 64,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = 1
        for out in channels:
            layers += [
                nn.Conv2d(ch, out, 3, padding=1),
                nn.GroupNorm(group_count(out), out),
                nn.SiLU(),
                nn.Conv2d(out, out, 3, padding=1),
                nn.GroupNorm(group_count(out), out),
                nn.SiLU(),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            ch = out
        self.features = nn.Sequential(*layers)
        self.proj = nn.Linear(ch, embed_dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(embed_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.proj(self.features(x).mean(dim=(-2, -1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x)))


def build_classifier(cfg: ClassifierConfig, num_classes: int) -> EmotionClassifier:
    return EmotionClassifier(num_classes, tuple(cfg.channels), cfg.embed_dim, cfg.dropout)


def classifier_loss_step(net: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    logits = net(batch["x"])
    loss = F.cross_entropy(logits, batch["y"])
    acc = (logits.argmax(dim=1) == batch["y"]).float().mean()
    return {"loss": loss, "acc": acc}


@torch.no_grad()
def predict(net: nn.Module, x: torch.Tensor, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, H, W) -> (predicted class (N,), embeddings (N, embed_dim)), in eval mode."""
    net.eval()
    dev = next(net.parameters()).device
    preds, embs = [], []
    for i in range(0, len(x), batch):
        e = net.embed(x[i : i + batch].to(dev))
        preds.append(net.head(e).argmax(dim=1).cpu())
        embs.append(e.cpu())
    return torch.cat(preds), torch.cat(embs)


def confusion_matrix(true: torch.Tensor, pred: torch.Tensor, n: int) -> np.ndarray:
    """(n, n) counts, rows the true class and columns the predicted one."""
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (true.numpy(), pred.numpy()), 1)
    return m


def load_classifier(path: str | Path, device: torch.device) -> tuple[EmotionClassifier, dict]:
    """The classifier of a `spectro-train-classifier` checkpoint and its "extra" record."""
    state = load_checkpoint(path)
    extra = state.get("extra") or {}
    if extra.get("kind") != "emotion-classifier":
        raise UserError(f"{path} is not a spectro-train-classifier checkpoint")
    cfg = load_emotion_config(extra["config"])
    net = build_classifier(cfg.classifier, len(extra["classes"]))
    load_model_weights(net, state, prefer_ema=False)
    return net.to(device).eval(), extra


def classifier_trainer_config(cfg: EmotionConfig) -> TrainerConfig:
    c = cfg.classifier
    return TrainerConfig(
        batch_size=c.batch_size,
        max_epochs=10**6,
        max_steps=c.max_steps,
        max_minutes=c.max_minutes,
        ema_decay=None,
        monitor="val_acc",
        monitor_mode="max",
        validate_every_epochs=2,
        progress=cfg.trainer.progress,
        seed=cfg.trainer.seed,
    )


@cli_entry
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="spectro-train-classifier",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser, default_config="demo")
    parser.add_argument(
        "--data", default=None, help="EmoDB / RAVDESS folder (default: the synthetic corpus)"
    )
    parser.add_argument(
        "--corpus",
        default=None,
        choices=["emodb", "ravdess", "auto"],
        help="file-name convention of --data (default: the config's)",
    )
    args = parser.parse_args(argv)
    cfg = load_emotion_config(args.config, args.overrides)
    apply_cli_arguments(cfg, args)
    seed_everything(cfg.trainer.seed)
    device = select_device(args.device)
    run_dir = create_run_dir(f"{PACKAGE}-classifier", args.out, overwrite=args.overwrite)
    print(f"run folder: {run_dir}")
    data = prepare_data(cfg.data, cfg.trainer.progress)
    save_config(cfg, run_dir / "config.yaml")
    n = len(data.classes)
    net = build_classifier(cfg.classifier, n)
    optim = torch.optim.AdamW(net.parameters(), lr=cfg.classifier.lr, weight_decay=1e-2)
    extra = {
        "kind": "emotion-classifier",
        "config": config_to_dict(cfg),
        "classes": data.classes,
        "db_max": data.db_max,
        "top_db": data.top_db,
    }
    trainer = Trainer(
        net,
        classifier_loss_step,
        optim,
        classifier_trainer_config(cfg),
        run_dir,
        device=device,
        extra_state=extra,
    )
    val = data.splits["val"] if len(data.splits["val"]) else None
    result = trainer.fit(data.splits["train"], val)
    best = result.best_checkpoint or result.last_checkpoint
    net, _ = load_classifier(best, device)
    test = data.splits["test"]
    if len(test) == 0:
        raise UserError("the test split is empty; add speakers or raise data.test_fraction")
    pred, _ = predict(net, test.images)
    matrix = confusion_matrix(test.labels, pred, n)
    acc = float((pred == test.labels).float().mean())
    confusion_figure(
        matrix,
        data.classes,
        run_dir / "plots" / "confusion.png",
        f"test accuracy {acc:.1%} (chance {1 / n:.1%})",
    )
    report = {
        "steps": result.steps,
        "best_val_acc": result.best_metric,
        "test_accuracy": acc,
        "chance": 1 / n,
        "classes": data.classes,
        "confusion_matrix": matrix.tolist(),
        "checkpoint": str(best),
        "data": data_summary(data),
    }
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    width = max(len(c) for c in data.classes)
    print(f"test accuracy {acc:.3f} on {len(test)} clips (chance {1 / n:.3f})")
    print("confusion matrix (rows true, columns predicted):")
    print(" " * (width + 1) + " ".join(f"{c[:4]:>4}" for c in data.classes))
    for c, row in zip(data.classes, matrix):
        print(f"{c:>{width}} " + " ".join(f"{v:>4d}" for v in row))
    print(f"checkpoint: {best}")


if __name__ == "__main__":
    main()
