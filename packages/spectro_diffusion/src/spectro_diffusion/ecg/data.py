"""The dataset layout, its pairing / defect report, shape inference and normalisation.

Layout (files of the same stem in the four folders form one example):

    ROOT/images/{train,val}/*.npy
    ROOT/freq_embeddings/{train,val}/*.npy
    ROOT/inits/amp_init/{train,val}/*.npy
    ROOT/inits/emb_init/{train,val}/*.npy

Shapes are read from the files: a 1-D array (L,) is a signal, a 2-D array (H, W) an image and a
3-D array (C, H, W) an image with channels; `dataset.array_dims` can say that an array is 1-D
with channels ((C, L)) or 2-D. Within one folder all files must share one shape. Every array is
normalised with one mean and standard deviation per array name from the training split; these
statistics and the inferred shapes travel in the checkpoint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from sigshared.errors import DataError
from spectro_diffusion.ecg.config import DatasetConfig

FOLDERS = {
    "images": "images",
    "freq_embeddings": "freq_embeddings",
    "amp_init": "inits/amp_init",
    "emb_init": "inits/emb_init",
}
CONDITIONS = ("amp_init", "emb_init")
OUTPUTS = ("images", "freq_embeddings")
SHOWN = 5


@dataclass(frozen=True)
class ArraySpec:
    """How the model sees one array: `dims` 1 or 2, `channels`, spatial `size` ((L,) or (H, W))
    and the `file_shape` it has on disk."""

    dims: int
    channels: int
    size: tuple[int, ...]
    file_shape: tuple[int, ...]

    @property
    def model_shape(self) -> tuple[int, ...]:
        return (self.channels, *self.size)

    def to_dict(self) -> dict:
        return {
            "dims": self.dims,
            "channels": self.channels,
            "size": list(self.size),
            "file_shape": list(self.file_shape),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ArraySpec:
        return cls(int(d["dims"]), int(d["channels"]), tuple(d["size"]), tuple(d["file_shape"]))


def infer_spec(shape: tuple[int, ...], dims: str | int = "auto", name: str = "array") -> ArraySpec:
    """ArraySpec of a file shape: "auto" reads (L,) as 1-D, (H, W) as 2-D, (C, H, W) as 2-D
    with channels; dims=1 accepts (L,) or (C, L); dims=2 accepts (H, W) or (C, H, W)."""
    shape = tuple(int(s) for s in shape)
    nd = len(shape)
    if dims == "auto":
        dims = 1 if nd == 1 else 2
    if dims == 1 and nd in (1, 2):
        channels, size = (1, shape) if nd == 1 else (shape[0], shape[1:])
    elif dims == 2 and nd in (2, 3):
        channels, size = (1, shape) if nd == 2 else (shape[0], shape[1:])
    else:
        raise DataError(
            f"{name}: a {dims}-D array must be stored as "
            f"{'(L,) or (C, L)' if dims == 1 else '(H, W) or (C, H, W)'}, got shape {shape}"
        )
    if min(size) < 1:
        raise DataError(f"{name}: empty array of shape {shape}")
    return ArraySpec(int(dims), channels, tuple(size), shape)


def _names(items: list[str]) -> str:
    more = f" (and {len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


@dataclass
class SplitReport:
    """What one split holds: stems per array, defects by name, shapes, sums for statistics."""

    split: str
    present: dict[str, set[str]] = field(default_factory=dict)
    shapes: dict[str, Counter] = field(default_factory=dict)
    file_shapes: dict[str, dict[str, tuple]] = field(default_factory=dict)
    nonfinite: dict[str, dict[str, int]] = field(default_factory=dict)
    unreadable: dict[str, dict[str, str]] = field(default_factory=dict)
    moments: dict[str, dict[str, tuple[float, float, int, float, float]]] = field(
        default_factory=dict
    )

    @property
    def all_stems(self) -> set[str]:
        return set().union(*self.present.values()) if self.present else set()

    def majority_shape(self, name: str) -> tuple | None:
        counts = self.shapes.get(name)
        return counts.most_common(1)[0][0] if counts else None

    def missing(self, name: str) -> list[str]:
        """Stems found in another folder of this split but not in this one."""
        return sorted(self.all_stems - self.present.get(name, set()))

    def bad_shape(self, name: str) -> list[str]:
        """Stems whose shape differs from the shape most files of the folder have."""
        major = self.majority_shape(name)
        return sorted(s for s, sh in self.file_shapes.get(name, {}).items() if sh != major)

    @property
    def complete(self) -> list[str]:
        """Stems present and sound (readable, finite, majority shape) in all four folders."""
        good = set(self.all_stems)
        for name in FOLDERS:
            good &= self.present.get(name, set())
            good -= set(self.bad_shape(name))
            good -= set(self.nonfinite.get(name, {}))
            good -= set(self.unreadable.get(name, {}))
        return sorted(good)

    def defect_lines(self) -> list[str]:
        """One line per defect kind and folder, naming the files and counting them."""
        lines = []
        for name, folder in FOLDERS.items():
            where = f"{folder}/{self.split}"
            missing = self.missing(name)
            if missing:
                lines.append(f"{where}: {len(missing)} stems missing: {_names(missing)}")
            bad = self.bad_shape(name)
            if bad:
                major = self.majority_shape(name)
                got = [f"{s} {self.file_shapes[name][s]}" for s in bad]
                lines.append(f"{where}: {len(bad)} files differ from shape {major}: {_names(got)}")
            nonfinite = self.nonfinite.get(name, {})
            if nonfinite:
                got = [f"{s} ({n} values)" for s, n in sorted(nonfinite.items())]
                lines.append(f"{where}: {len(nonfinite)} files hold NaN/Inf: {_names(got)}")
            unreadable = self.unreadable.get(name, {})
            if unreadable:
                got = [f"{s} ({e})" for s, e in sorted(unreadable.items())]
                lines.append(f"{where}: {len(unreadable)} unreadable files: {_names(got)}")
        return lines

    def summary(self) -> str:
        n_defect = len(self.all_stems) - len(self.complete)
        return (
            f"{self.split}: {len(self.complete)} complete pairs, {n_defect} stems left out "
            "for defects"
        )


def scan_split(root: str | Path, split: str) -> SplitReport:
    """Read every file of `split` once: presence, shape, NaN/Inf count, readability, moments."""
    root = Path(root)
    report = SplitReport(split)
    for name, folder in FOLDERS.items():
        present: set[str] = set()
        shapes: Counter = Counter()
        file_shapes: dict[str, tuple] = {}
        nonfinite: dict[str, int] = {}
        unreadable: dict[str, str] = {}
        moments = {}
        for path in sorted((root / folder / split).glob("*.npy")):
            stem = path.stem
            present.add(stem)
            try:
                arr = np.load(path, allow_pickle=False)
                if not np.issubdtype(arr.dtype, np.number):
                    raise ValueError(f"dtype {arr.dtype} is not numeric")
            except Exception as err:
                unreadable[stem] = str(err).splitlines()[0][:80] if str(err) else "unreadable"
                continue
            shapes[arr.shape] += 1
            file_shapes[stem] = arr.shape
            arr = arr.astype(np.float64)
            finite = np.isfinite(arr)
            if not finite.all():
                nonfinite[stem] = int((~finite).sum())
                continue
            moments[stem] = (
                float(arr.sum()),
                float((arr**2).sum()),
                arr.size,
                float(arr.min()),
                float(arr.max()),
            )
        report.present[name] = present
        report.shapes[name] = shapes
        report.file_shapes[name] = file_shapes
        report.nonfinite[name] = nonfinite
        report.unreadable[name] = unreadable
        report.moments[name] = moments
    return report


def check_layout(root: str | Path) -> Path:
    """The dataset root as a Path, or a DataError naming the first missing folder."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder not found: {root}; prepare a dataset there first")
    for folder in FOLDERS.values():
        if not (root / folder).is_dir():
            raise DataError(
                f"dataset {root} lacks the folder {folder}/ (expected images/, "
                "freq_embeddings/, inits/amp_init/, inits/emb_init/, each with train/ and val/)"
            )
    return root


def specs_from_report(report: SplitReport, array_dims: dict[str, str | int]) -> dict:
    """{name: ArraySpec} from the majority shapes of a split."""
    specs = {}
    for name in FOLDERS:
        shape = report.majority_shape(name)
        if shape is None:
            raise DataError(f"no readable {FOLDERS[name]}/{report.split} files to infer a shape")
        specs[name] = infer_spec(shape, array_dims.get(name, "auto"), FOLDERS[name])
    return specs


def normalisation_stats(report: SplitReport, stems: list[str]) -> dict[str, dict[str, float]]:
    """{name: {"mean", "std"}} over all values of `stems` (population std, floored at 1e-6)."""
    stats = {}
    for name in FOLDERS:
        total = total_sq = count = 0.0
        for stem in stems:
            s, sq, n, _, _ = report.moments[name][stem]
            total, total_sq, count = total + s, total_sq + sq, count + n
        mean = total / max(count, 1)
        var = max(total_sq / max(count, 1) - mean**2, 0.0)
        stats[name] = {"mean": mean, "std": max(var**0.5, 1e-6)}
    return stats


def identity_stats() -> dict[str, dict[str, float]]:
    return {name: {"mean": 0.0, "std": 1.0} for name in FOLDERS}


def normalise(x: torch.Tensor, stat: dict[str, float]) -> torch.Tensor:
    return (x - stat["mean"]) / stat["std"]


def denormalise(x: torch.Tensor, stat: dict[str, float]) -> torch.Tensor:
    return x * stat["std"] + stat["mean"]


def load_array(path: Path, spec: ArraySpec, what: str) -> torch.Tensor:
    """One .npy file -> float32 tensor of spec.model_shape, or a DataError naming the file."""
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as err:
        raise DataError(f"cannot read {what} {path}: {str(err).splitlines()[0]}") from None
    if tuple(arr.shape) != spec.file_shape:
        raise DataError(f"{what} {path}: expected shape {spec.file_shape}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise DataError(f"{what} {path}: {int((~np.isfinite(arr)).sum())} NaN/Inf values")
    return torch.from_numpy(arr.astype(np.float32)).reshape(spec.model_shape)


class EcgPairs(Dataset):
    """Normalised examples of one split: item -> {name: (C, L) or (C, H, W) float32 tensor}.
    With `augment`, a random circular shift along time (up to `time_shift`
    image columns, applied to 2-D arrays and to the 1-D arrays named in `time_1d`) and Gaussian
    noise of std `cond_noise` on the conditions."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        stems: list[str],
        specs: dict[str, ArraySpec],
        stats: dict[str, dict[str, float]],
        augment: bool = False,
        time_shift: int = 0,
        cond_noise: float = 0.0,
        time_1d: tuple[str, ...] = (),
    ) -> None:
        self.root, self.split, self.stems = Path(root), split, list(stems)
        self.specs, self.stats = specs, stats
        self.augment, self.time_shift, self.cond_noise = augment, time_shift, cond_noise
        self.time_1d = time_1d
        self.width = specs["images"].size[-1]

    def __len__(self) -> int:
        return len(self.stems)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        stem = self.stems[i]
        item = {}
        for name, folder in FOLDERS.items():
            x = load_array(self.root / folder / self.split / f"{stem}.npy", self.specs[name], name)
            item[name] = normalise(x, self.stats[name])
        if self.augment:
            self._augment(item)
        return item

    def _augment(self, item: dict[str, torch.Tensor]) -> None:
        if self.time_shift > 0:
            k = int(torch.randint(-self.time_shift, self.time_shift + 1, ()).item())
            for name, spec in self.specs.items():
                if spec.dims == 2 or name in self.time_1d:
                    shift = round(k * spec.size[-1] / self.width)
                    item[name] = torch.roll(item[name], shift, dims=-1)
        if self.cond_noise > 0:
            for name in CONDITIONS:
                item[name] = item[name] + self.cond_noise * torch.randn_like(item[name])


@dataclass
class Datasets:
    """The training and validation examples of a configured dataset, with the array shapes,
    the normalisation statistics and a summary of the pairing report per split."""

    train: EcgPairs
    val: EcgPairs | None
    specs: dict[str, ArraySpec]
    stats: dict[str, dict[str, float]]
    summary: dict[str, dict]


def usable_stems(
    report: SplitReport, specs: dict[str, ArraySpec], log: Callable[[str], None]
) -> list[str]:
    """Complete stems of a split whose shapes also match `specs` (the training shapes)."""
    keep = [
        stem
        for stem in report.complete
        if all(report.file_shapes[n][stem] == specs[n].file_shape for n in FOLDERS)
    ]
    if len(keep) < len(report.complete):
        log(
            f"warning: {len(report.complete) - len(keep)} {report.split} stems have shapes "
            "other than the training split's and are left out"
        )
    return keep


def load_datasets(
    cfg: DatasetConfig,
    axes_1d: dict[str, str],
    saved: tuple[dict[str, ArraySpec], dict[str, dict[str, float]]] | None = None,
    log: Callable[[str], None] = print,
) -> Datasets:
    """Scan both splits of `cfg.path` (logging the pairing report), infer the shapes and the
    normalisation statistics from the training split, or take them from `saved` (a resumed
    checkpoint's), and build the datasets. `axes_1d`: {array name: "width" | "height"}, the
    image axis a 1-D array runs along (those along "width", time, shift with the image under
    augmentation)."""
    root = check_layout(cfg.path)
    reports = {}
    for split in (cfg.train_split, cfg.val_split):
        reports[split] = rep = scan_split(root, split)
        log(rep.summary())
        for line in rep.defect_lines():
            log(f"  {line}")
    train_rep = reports[cfg.train_split]
    if not train_rep.complete:
        raise DataError(
            f"dataset {root} has no complete pair in split {cfg.train_split!r} "
            f"({len(train_rep.all_stems)} stems found); every stem needs a sound file in "
            "images/, freq_embeddings/, inits/amp_init/ and inits/emb_init/"
        )
    if saved is not None:
        specs, stats = saved
    else:
        specs = specs_from_report(train_rep, cfg.array_dims)
        stems = usable_stems(train_rep, specs, log)
        stats = normalisation_stats(train_rep, stems) if cfg.normalize else identity_stats()
    time_1d = tuple(n for n in FOLDERS if specs[n].dims == 1 and axes_1d.get(n) == "width")
    train_stems = usable_stems(train_rep, specs, log)[: cfg.max_items]
    val_stems = usable_stems(reports[cfg.val_split], specs, log)[: cfg.max_items]
    train = EcgPairs(
        root,
        cfg.train_split,
        train_stems,
        specs,
        stats,
        cfg.augment,
        cfg.augment_time_shift,
        cfg.augment_cond_noise,
        time_1d,
    )
    val = EcgPairs(root, cfg.val_split, val_stems, specs, stats) if val_stems else None
    summary = {
        s: {"complete": len(r.complete), "defects": r.defect_lines()} for s, r in reports.items()
    }
    return Datasets(train, val, specs, stats, summary)
