"""`DatasetVisualizer`: look at one stem and check a whole dataset (the library of
`ecg-analyze`).

`visualize()` plots the four arrays of one stem (images, emb_init, amp_init, freq_embeddings;
any missing one is marked). `run_full_analysis()` adds the dataset statistics: files per folder
and split, complete pairs, shapes, value ranges (min, max, mean, std over sound files), NaN/Inf
and unreadable files, and the pairing report (stems missing from a folder, files of another
shape), written to analysis.json and printed; plus a histogram of each array's values.

    from spectro_diffusion.ecg.analysis import DatasetVisualizer
    viz = DatasetVisualizer("syn000_lead0_z0_w000", "data/ecg")
    viz.visualize()          # -> path of the PNG
    viz.run_full_analysis()  # -> the statistics dict
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from sigshared.errors import DataError
from sigshared.plotting import new_figure, save_figure
from spectro_diffusion.ecg.data import FOLDERS, check_layout, scan_split
from spectro_diffusion.ecg.plots import plot_example

PACKAGE = "spectro_diffusion_ecg_analyze"
SPLITS = ("train", "val")
HISTOGRAM_FILES = 200


class DatasetVisualizer:
    """One stem of a dataset in the documented layout; figures go to `out_dir` (default:
    runs/spectro_diffusion_ecg_analyze/<time>/), created on first use if absent."""

    def __init__(
        self, file_name: str, dataset_path: str | Path, out_dir: str | Path | None = None
    ) -> None:
        self.file_name = Path(file_name).stem
        self.dataset_path = check_layout(dataset_path)
        self._out = Path(out_dir) if out_dir is not None else None

    @property
    def out_dir(self) -> Path:
        if self._out is None:
            self._out = Path("runs") / PACKAGE / time.strftime("%Y%m%d-%H%M%S")
        self._out.mkdir(parents=True, exist_ok=True)
        return self._out

    def find_split(self) -> str:
        """The split holding the stem (in any of the four folders), or a DataError."""
        for split in SPLITS:
            for folder in FOLDERS.values():
                if (self.dataset_path / folder / split / f"{self.file_name}.npy").is_file():
                    return split
        raise DataError(
            f"stem {self.file_name!r} is in no folder of {self.dataset_path} "
            f"(looked in {', '.join(SPLITS)}); list images/train/ for valid names"
        )

    def load(self) -> dict[str, np.ndarray]:
        """{array name: array} of the stem; arrays missing from a folder are left out."""
        split = self.find_split()
        arrays = {}
        for name, folder in FOLDERS.items():
            path = self.dataset_path / folder / split / f"{self.file_name}.npy"
            if path.is_file():
                try:
                    arrays[name] = np.load(path, allow_pickle=False)
                except Exception as err:
                    raise DataError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
        return arrays

    def visualize(self) -> Path:
        """Plot the stem's four arrays; returns the PNG path."""
        arrays = {k: v[None] if v.ndim == 1 else v for k, v in self.load().items()}
        title = f"{self.file_name} ({self.find_split()})"
        return plot_example(arrays, title, self.out_dir / f"{self.file_name}.png")

    def statistics(self) -> dict:
        """Counts, shapes, ranges, NaN / unreadable files and pairing defects per split."""
        stats: dict = {"dataset": str(self.dataset_path), "splits": {}}
        for split in SPLITS:
            rep = scan_split(self.dataset_path, split)
            arrays = {}
            for name, folder in FOLDERS.items():
                moments = rep.moments[name].values()
                count = sum(m[2] for m in moments)
                mean = sum(m[0] for m in moments) / max(count, 1)
                var = max(sum(m[1] for m in moments) / max(count, 1) - mean**2, 0.0)
                arrays[name] = {
                    "folder": f"{folder}/{split}",
                    "files": len(rep.present[name]),
                    "shapes": {str(list(s)): c for s, c in rep.shapes[name].items()},
                    "min": min((m[3] for m in moments), default=None),
                    "max": max((m[4] for m in moments), default=None),
                    "mean": mean if count else None,
                    "std": var**0.5 if count else None,
                    "files_with_nan_or_inf": sorted(rep.nonfinite[name]),
                    "unreadable_files": sorted(rep.unreadable[name]),
                }
            stats["splits"][split] = {
                "complete_pairs": len(rep.complete),
                "stems": len(rep.all_stems),
                "arrays": arrays,
                "defects": rep.defect_lines(),
            }
        return stats

    def record_names(self) -> list[str]:
        """The record names of the dataset's prepare.json ([] when it has none)."""
        meta = self.dataset_path / "prepare.json"
        try:
            return list(json.loads(meta.read_text()).get("records", {}))
        except (OSError, ValueError, AttributeError):
            return []

    def plot_histograms(self, limit: int = HISTOGRAM_FILES) -> Path:
        """Histogram of each array's values over up to `limit` training files, spread across
        records (`spread_sample`)."""
        fig, axes = new_figure(2, 2, figsize=(10, 6))
        records = self.record_names()
        for ax, (name, folder) in zip(axes.flat, FOLDERS.items()):
            every = sorted((self.dataset_path / folder / "train").glob("*.npy"))
            picked = spread_sample([f.stem for f in every], records, limit)
            values = []
            for stem in picked:
                path = self.dataset_path / folder / "train" / f"{stem}.npy"
                try:
                    arr = np.load(path, allow_pickle=False).astype(np.float64).ravel()
                except Exception:
                    continue  # unreadable files are listed by statistics()
                values.append(arr[np.isfinite(arr)])
            if values:
                ax.hist(np.concatenate(values), bins=60, color="#1f77b4")
            ax.set_title(f"{name} (train, {len(picked)} of {len(every)} files)")
            ax.set_xlabel("value")
        return save_figure(fig, self.out_dir / "histograms.png")

    def run_full_analysis(self) -> dict:
        """visualize() + statistics() + histograms; writes analysis.json, returns the stats
        (`format_report` turns them into lines)."""
        figure = self.visualize()
        stats = self.statistics()
        stats["figures"] = [str(figure), str(self.plot_histograms())]
        (self.out_dir / "analysis.json").write_text(json.dumps(stats, indent=2))
        return stats


def spread_sample(stems: list[str], records: list[str], limit: int) -> list[str]:
    """Up to `limit` of `stems`, spread across records: each stem belongs to the longest
    record name it starts with (followed by "_"; stems of no record form one group), every
    group gets an equal share, taken evenly spaced within it (sorted order lists a record's
    windows in time)."""
    groups: dict[str, list[str]] = {}
    for stem in sorted(stems):
        owner = max((r for r in records if stem.startswith(f"{r}_")), key=len, default="")
        groups.setdefault(owner, []).append(stem)
    if not groups:
        return []
    share = max(1, limit // len(groups))
    picked = []
    for members in groups.values():
        n = min(share, len(members))
        picked += [members[i] for i in np.linspace(0, len(members) - 1, n).round().astype(int)]
    return picked[:limit]


def format_report(stats: dict) -> str:
    """Human-readable lines of `statistics()`."""
    lines = [f"dataset {stats['dataset']}"]
    for split, s in stats["splits"].items():
        lines.append(f"{split}: {s['complete_pairs']} complete pairs of {s['stems']} stems")
        for a in s["arrays"].values():
            rng = (
                f"range [{a['min']:.3g}, {a['max']:.3g}], mean {a['mean']:.3g}, std {a['std']:.3g}"
                if a["mean"] is not None
                else "no sound files"
            )
            nan = len(a["files_with_nan_or_inf"])
            lines.append(
                f"  {a['folder']}: {a['files']} files, shapes {a['shapes']}, {rng}, "
                f"{nan} with NaN/Inf, {len(a['unreadable_files'])} unreadable"
            )
        lines += [f"  defect: {d}" for d in s["defects"]] or ["  pairing: every stem complete"]
    return "\n".join(lines)
