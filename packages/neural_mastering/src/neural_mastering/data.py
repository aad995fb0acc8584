"""Training data: synthetic songs, self-supervised pairs from finished tracks, paired folders.

Every dataset yields {"input": (1, L), "target": (1, L)} float32 mono crops of L = crop_s *
sample_rate samples at the model rate (stereo files are averaged to mono for training; the
model applies the same processing to each channel at inference). Items are a function of
(seed, index) alone, so runs are reproducible and resumable.

Self-supervised items (synthetic songs and `--tracks`) take a finished track as the target
and a random `demaster` chain of it as the input; the chain's parameters are appended as
JSON lines to `log_path` when one is given. A share `identity_share` of them (drawn from a
stream of their own, so the other items do not change) are identity items instead: the
input is the finished crop itself, only turned down by the chain's level step, so the model
learns to leave a finished balance alone. With `target_tilt_db` > 0 the finished crop is
first tilted (the chain's shelves, 250 Hz / 4 kHz, by a draw from [-target_tilt_db,
target_tilt_db], its own stream) and the tilted crop is the target: finished masters differ
in tilt, and a model that has only seen a few pieces otherwise takes their balances for the
only right ones and "corrects" any other finished piece toward them.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from neural_mastering.audio_io import load_audio, resample
from neural_mastering.demaster import apply_coefficients, demaster, tilt_coefficients
from neural_mastering.synthetic import synth_song
from sigshared.errors import DataError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3", ".w64", ".caf")


def _crop(rng: np.random.Generator, length: int, *signals: np.ndarray) -> list[np.ndarray]:
    """The same random crop of `length` samples from each (T,) signal (zero-padded if short)."""
    t = signals[0].shape[-1]
    start = int(rng.integers(0, t - length + 1)) if t > length else 0
    out = []
    for s in signals:
        c = s[start : start + length]
        out.append(np.pad(c, (0, length - len(c))))
    return out


def _item(x: np.ndarray, y: np.ndarray) -> dict[str, torch.Tensor]:
    return {
        "input": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None],
        "target": torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))[None],
    }


class _SelfSupervised(Dataset, ABC):
    """Shared logic: a finished mono track per index -> (de-mastered crop, original crop)."""

    def __init__(
        self,
        n_items: int,
        crop_s: float,
        sample_rate: int,
        seed: int,
        log_path=None,
        identity_share: float = 0.0,
        target_tilt_db: float = 0.0,
    ):
        if n_items < 1:
            raise DataError(f"the dataset needs at least 1 item; got {n_items}")
        self.n_items, self.sample_rate, self.seed = n_items, sample_rate, seed
        self.identity_share, self.target_tilt_db = identity_share, target_tilt_db
        self.length = int(round(crop_s * sample_rate))
        self.log_path = Path(log_path) if log_path else None
        self._logged: set[int] = set()

    def __len__(self) -> int:
        return self.n_items

    @abstractmethod
    def track(self, index: int, rng: np.random.Generator) -> np.ndarray:
        """The finished mono track (T,) behind item `index` at the model rate."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        (target,) = _crop(rng, self.length, self.track(index, rng))
        target_tilt = 0.0
        if self.target_tilt_db:
            target_tilt = float(
                np.random.default_rng([self.seed, index, 2]).uniform(-1, 1) * self.target_tilt_db
            )
            coeffs = tilt_coefficients(target_tilt, self.sample_rate)
            target = apply_coefficients(target, coeffs).astype(np.float32)
        if np.random.default_rng([self.seed, index, 1]).random() < self.identity_share:
            level_db = float(-rng.uniform(3, 12))  # the chain's level step alone
            source = (target * 10 ** (level_db / 20)).astype(np.float32)
            params = {"identity": True, "level_db": level_db}
        else:
            source, params = demaster(target, self.sample_rate, rng)
        if self.target_tilt_db:
            params["target_tilt_db"] = target_tilt
        if self.log_path is not None and index not in self._logged:
            self._logged.add(index)
            with open(self.log_path, "a") as f:
                f.write(json.dumps({"seed": self.seed, "index": index, **params}) + "\n")
        return _item(source, target)


class SyntheticPairs(_SelfSupervised):
    """De-mastered crops of built-in synthetic songs (one song per index, seeded)."""

    def song_seed(self, index: int) -> int:
        """The `synth_song` seed of item `index` (its own stream, apart from crop and chain)."""
        return int(np.random.default_rng([self.seed, index, 0]).integers(2**31))

    def track(self, index: int, rng: np.random.Generator) -> np.ndarray:
        duration = self.length / self.sample_rate + 0.5
        return synth_song(self.song_seed(index), duration, self.sample_rate)


class TrackPairs(_SelfSupervised):
    """De-mastered random crops of finished tracks from a folder (any libsndfile format)."""

    def __init__(
        self,
        folder: str | Path,
        n_items: int,
        crop_s: float,
        sample_rate: int,
        seed: int,
        log_path=None,
        identity_share: float = 0.0,
        target_tilt_db: float = 0.0,
    ):
        super().__init__(
            n_items, crop_s, sample_rate, seed, log_path, identity_share, target_tilt_db
        )
        files = audio_files(folder, "tracks folder")
        self.tracks = [to_model_mono(*load_audio(f), sample_rate) for f in files]
        self.names = [f.name for f in files]

    def track(self, index: int, rng: np.random.Generator) -> np.ndarray:
        return self.tracks[index % len(self.tracks)]


def audio_files(folder: str | Path, what: str) -> list[Path]:
    """Sorted audio files directly inside `folder`; DataError if none or not a folder."""
    d = Path(folder)
    if not d.is_dir():
        raise DataError(f"{what} {d} is not a folder")
    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise DataError(f"{what} {d} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    return files


def to_model_mono(x: np.ndarray, sr: int, sample_rate: int) -> np.ndarray:
    """(C, T) at sr -> mono (T,) float32 at the model rate."""
    return resample(x.mean(0), sr, sample_rate)


def find_pairs(folder: str | Path) -> list[tuple[Path, Path]]:
    """(unmastered, mastered) file pairs of `folder`/unmastered and `folder`/mastered by name.

    A file without its partner in the other folder is a DataError naming it.
    """
    root = Path(folder)
    src, dst = root / "unmastered", root / "mastered"
    for d in (src, dst):
        if not d.is_dir():
            raise DataError(
                f"pairs folder {root} needs sub-folders unmastered/ and mastered/; {d} is missing"
            )
    sources = {p.name: p for p in audio_files(src, "folder")}
    targets = {p.name: p for p in audio_files(dst, "folder")}
    for name in sorted(set(sources) ^ set(targets)):
        have, lack = (src, dst) if name in sources else (dst, src)
        raise DataError(f"{have / name} has no partner {lack / name}; add it or remove the file")
    return [(sources[n], targets[n]) for n in sorted(sources)]


def load_pair(src: Path, dst: Path, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Both files of a pair at the model rate, mono; their durations must agree within 10 ms."""
    (xs, srs), (xd, srd) = load_audio(src), load_audio(dst)
    if abs(xs.shape[1] / srs - xd.shape[1] / srd) > 0.01:
        raise DataError(
            f"{src} lasts {xs.shape[1] / srs:.3f} s but its partner {dst} lasts "
            f"{xd.shape[1] / srd:.3f} s; the two must be aligned and of the same length"
        )
    a, b = to_model_mono(xs, srs, sample_rate), to_model_mono(xd, srd, sample_rate)
    n = min(len(a), len(b))
    return a[:n], b[:n]


class PairsDataset(Dataset):
    """Random aligned crops of (unmastered, mastered) pairs; `n_items` crops per epoch."""

    def __init__(
        self, folder: str | Path, n_items: int, crop_s: float, sample_rate: int, seed: int
    ):
        self.pairs = [load_pair(s, d, sample_rate) for s, d in find_pairs(folder)]
        self.n_items, self.seed = n_items, seed
        self.length = int(round(crop_s * sample_rate))

    def __len__(self) -> int:
        return self.n_items

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        source, target = self.pairs[index % len(self.pairs)]
        return _item(*_crop(rng, self.length, source, target))
