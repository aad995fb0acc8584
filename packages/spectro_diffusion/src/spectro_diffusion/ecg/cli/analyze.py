"""`ecg-analyze`: plot the four arrays of one stem and check a dataset (see
`spectro_diffusion.ecg.analysis`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sigshared.cli import cli_entry
from sigshared.files import output_dir
from spectro_diffusion.ecg.analysis import PACKAGE, DatasetVisualizer, format_report


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ecg-analyze",
        description="Plot the four arrays of one stem and check the dataset (counts per split, "
        "shapes, value ranges, NaN/Inf, pairing).",
    )
    p.add_argument("--file-name", required=True, help="stem to plot, e.g. 100_lead0_z0_w000")
    p.add_argument("--dataset-path", required=True, help="dataset root (images/, inits/, ...)")
    p.add_argument("--visualize-only", action="store_true", help="only the stem's figure")
    p.add_argument(
        "--out", help="output folder (default: runs/spectro_diffusion_ecg_analyze/<time>/)"
    )
    p.add_argument("--overwrite", action="store_true", help="allow a non-empty --out")
    return p


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    out_path = args.out or Path("runs") / PACKAGE / time.strftime("%Y%m%d-%H%M%S")
    with output_dir(out_path, overwrite=args.overwrite) as out:
        viz = DatasetVisualizer(args.file_name, args.dataset_path, out)
        viz.find_split()
        if args.visualize_only:
            figure = viz.visualize()
        else:
            stats = viz.run_full_analysis()
    if args.visualize_only:
        print(f"wrote {figure}")
    else:
        print(format_report(stats))
        print(f"wrote figures and analysis.json to {out}")


if __name__ == "__main__":
    main()
