"""From a corpus folder (or the synthetic one) to scaled log-mel tensors in speaker splits."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from sigshared.errors import DataError
from sigshared.files import unique_temp_path
from spectro_diffusion.emotion.config import DataConfig
from spectro_diffusion.emotion.corpora import EMOTIONS, Utterance, scan_corpus, speaker_split
from spectro_diffusion.emotion.features import AudioReadError, cached_mel_db, scale_db
from spectro_diffusion.emotion.synthetic import SPEAKERS, write_synthetic_corpus


class SpectrogramDataset(Dataset):
    """Scaled log-mel images and class indices: item -> {"x": (1, n_mels, n_frames), "y": ()}."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.images[i], "y": self.labels[i]}


@dataclass
class PreparedData:
    """Splits, the label list (class index -> emotion name) and the dB range of the scaling."""

    splits: dict[str, SpectrogramDataset]
    utterances: dict[str, list[Utterance]]
    classes: list[str]
    db_max: float
    top_db: float
    corpus: str
    root: str
    skipped: list[str]


def synthetic_root(cfg: DataConfig) -> Path:
    """Where the synthetic corpus for these settings lives (written once, then reused)."""
    key = (
        f"n{cfg.synthetic_per_class}-spk{cfg.synthetic_speakers}-s{cfg.synthetic_seed}"
        f"-d{cfg.mel.num_samples}-sr{cfg.mel.sample_rate}"
    )
    return Path(cfg.cache_dir) / f"synthetic-{key}"


def resolve_root(cfg: DataConfig) -> Path:
    """The corpus folder: `cfg.root`, or the synthetic corpus (written if absent).

    The synthetic corpus is written into a folder named uniquely for this process and renamed
    into place when complete, so two commands starting together never read a half-written
    corpus; the loser of the rename discards its copy (the bytes are the same, seeded).
    """
    if cfg.root:
        root = Path(cfg.root)
        if not root.is_dir():
            raise DataError(f"data folder not found: {root}; give a folder of WAV files")
        return root
    root = synthetic_root(cfg)
    if not (root / ".complete").is_file():
        tmp = unique_temp_path(root)
        try:
            write_synthetic_corpus(
                tmp,
                cfg.synthetic_per_class,
                SPEAKERS[: cfg.synthetic_speakers],
                seed=cfg.synthetic_seed,
                duration=cfg.mel.num_samples / cfg.mel.sample_rate + 0.3,
            )
            (tmp / ".complete").write_text("ok\n")
            tmp.rename(root)
        except OSError:
            if not (root / ".complete").is_file():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _load_images(utterances: list[Utterance], cfg: DataConfig, progress: bool) -> np.ndarray:
    """(N, n_mels, n_frames) dB images; an unreadable or empty file is a DataError naming it."""
    cache = Path(cfg.cache_dir) / "mel"
    images = []
    for u in tqdm(utterances, desc="log-mel", disable=not progress, leave=False):
        try:
            images.append(cached_mel_db(u.path, cfg.mel, cache))
        except AudioReadError as err:
            raise DataError(f"{err}; remove or replace the file") from None
    return np.stack(images) if images else np.zeros((0, cfg.mel.n_mels, cfg.mel.n_frames))


def prepare_data(
    cfg: DataConfig,
    progress: bool = False,
    classes: list[str] | None = None,
    db_max: float | None = None,
) -> PreparedData:
    """Scan, split by speaker, compute (cached) log-mels and scale them to [-1, 1].

    The dB ceiling `db_max` is the training split's maximum unless given (a checkpoint passes
    the one it was trained with); `classes` likewise defaults to the emotions present in the
    training split, in the order of the shared label space.
    """
    root = resolve_root(cfg)
    scan = scan_corpus(root, cfg.corpus, cfg.include_song)
    if not scan.utterances:
        if scan.skipped:
            why = f" ({len(scan.skipped)} WAV names broke the convention, e.g. {scan.skipped[0]})"
        else:
            why = "; give a folder of EmoDB WAV files or RAVDESS Actor_XX folders"
        raise DataError(f"no usable {scan.corpus} WAV files in {root}{why}")
    try:
        parts = speaker_split(
            scan.utterances,
            (1 - cfg.val_fraction - cfg.test_fraction, cfg.val_fraction, cfg.test_fraction),
            cfg.split_seed,
        )
    except ValueError as err:
        raise DataError(f"{root}: {err}") from None
    loaded = {name: _load_images(us, cfg, progress) for name, us in parts.items()}
    if classes is None:
        present = {u.emotion for u in parts["train"]}
        classes = [e for e in EMOTIONS if e in present]
    if db_max is None:
        db_max = float(loaded["train"].max())
    index = {name: i for i, name in enumerate(classes)}
    splits, kept_utts = {}, {}
    for name, images in loaded.items():
        kept = parts[name]
        keep = [i for i, u in enumerate(kept) if u.emotion in index]
        x = scale_db(images[keep], db_max, cfg.mel.top_db) if keep else images[:0]
        y = torch.tensor([index[kept[i].emotion] for i in keep], dtype=torch.long)
        splits[name] = SpectrogramDataset(torch.from_numpy(np.asarray(x))[:, None].float(), y)
        kept_utts[name] = [kept[i] for i in keep]
    return PreparedData(
        splits, kept_utts, classes, db_max, cfg.mel.top_db, scan.corpus, str(root), scan.skipped
    )


def data_summary(data: PreparedData) -> dict:
    """Counts per split and class, for the run report."""
    return {
        "corpus": data.corpus,
        "root": data.root,
        "classes": data.classes,
        "db_max": data.db_max,
        "top_db": data.top_db,
        "skipped_files": len(data.skipped),
        "splits": {
            name: {
                "clips": len(ds),
                "speakers": sorted({u.speaker for u in data.utterances[name]}),
            }
            for name, ds in data.splits.items()
        },
    }
