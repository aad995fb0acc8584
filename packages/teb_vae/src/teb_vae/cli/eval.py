"""`teb-eval`: the record-level benchmark. Forecasts from every 4 s step of whole CTG records,
scored against persistence and the mean of the last 2 minutes, written to DIR/benchmark.json
(see teb_vae.benchmark for every definition).

The records: with --records FILE, its test part (a YAML split file with train / val / test)
or its names (a plain list); otherwise every recording in --data.
"""

from __future__ import annotations

import argparse
import json

from sigshared.cli import cli_entry, require_file
from sigshared.errors import DataError
from sigshared.files import atomic_output, output_dir
from sigshared.training import select_device
from teb_vae.benchmark import (
    WholeRecordForecast,
    forecast_whole_record,
    score_record,
    summarise,
    z_shuffled_summary,
)
from teb_vae.checkpoint import load_trained
from teb_vae.data import list_recordings, read_recording, read_records_file, select_records
from teb_vae.quality import quality_summary


def _table(body: dict) -> str:
    rows = ["forecaster    MAE    RMSE   NLL    CRPS   +-1sd  +-2sd  90%"]
    for name, entry in body["forecasters"].items():
        m = entry["overall"]
        rows.append(
            f"{name:<12} {m['mae']:6.2f} {m['rmse']:6.2f} {m['nll']:6.3f} {m['crps']:6.2f} "
            f"{100 * m['cover_1std']:5.1f}% {100 * m['cover_2std']:5.1f}% "
            f"{100 * m['cover_90']:5.1f}%"
        )
    for key, what in (("z_shuffled", "model"), ("z_shuffled_network", "network alone")):
        z = body[key]
        lo, hi = z["nll_increase"]["ci95"]
        rows.append(
            f"z shuffled across steps, {what}: NLL {z['model']['nll']:.3f} -> "
            f"{z['shuffled']['nll']:.3f} (per record {z['nll_increase']['mean']:+.3f}, "
            f"95 % CI {lo:+.3f} .. {hi:+.3f}), MAE {z['model']['mae']:.2f} -> "
            f"{z['shuffled']['mae']:.2f}, CRPS {z['model']['crps']:.2f} -> "
            f"{z['shuffled']['crps']:.2f}"
        )
    return "\n".join(rows)


def _model_sums(fc: WholeRecordForecast, stage2_start: int | None):
    """The sums of `fc`'s forecasts over all its valid samples (`score_record`, model alone)."""
    return score_record(fc, stage2_start, None)["model"]["all"]


@cli_entry
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="teb-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="folder of CTG records (WFDB, CSV, NPZ)")
    parser.add_argument(
        "--records",
        default=None,
        metavar="FILE",
        help="the records to score: a split file (its test part) or a list of names",
    )
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="checkpoints/best.pt of a teb-train run (default: the shipped CTU-UHB model)",
    )
    parser.add_argument("--out", required=True, help="output folder for benchmark.json")
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda", "mps"],
        help="where to run (default: auto)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    args = parser.parse_args(argv)
    device = select_device(args.device)
    ckpt = require_file(args.checkpoint, "checkpoint") if args.checkpoint else None
    trained = load_trained(ckpt, device)
    if trained.baseline_spread is None:
        raise DataError(
            f"{trained.path} carries no baseline spread (written before teb-eval existed); "
            "retrain it"
        )
    if args.records:
        split = read_records_file(args.records)
        names = split.get("test") or split.get("train", [])
        paths = select_records(args.data, names)
    else:
        paths = list_recordings(args.data)
    window = trained.cfg.features.window
    with output_dir(args.out, overwrite=args.overwrite) as out:
        per_record, quality, header, skipped = {}, {}, {}, []
        own: dict[str, dict] = {"model": {}, "network": {}}
        shuffled: dict[str, dict] = {"model": {}, "network": {}}
        for path in paths:
            rec = read_recording(path)
            if len(rec.fhr) < window:
                skipped.append(rec.name)
                continue
            fc = forecast_whole_record(trained, rec, device)
            per_record[rec.name] = score_record(fc, rec.stage2_start, trained.baseline_spread)
            fz = forecast_whole_record(trained, rec, device, shuffle_z_seed=0)
            own["model"][rec.name] = per_record[rec.name]["model"]["all"]
            own["network"][rec.name] = _model_sums(fc.network(), rec.stage2_start)
            shuffled["model"][rec.name] = _model_sums(fz, rec.stage2_start)
            shuffled["network"][rec.name] = _model_sums(fz.network(), rec.stage2_start)
            quality[rec.name] = quality_summary(fc.clean.masks)
            header[rec.name] = rec.meta
            print(f"{rec.name}: {quality[rec.name]['fhr_masked_pct']:.1f} % of FHR masked")
        if not per_record:
            raise DataError(f"no record in {args.data} is at least {window / 240:g} minutes long")
        body = summarise(per_record, trained.cfg.model.horizon)
        body["z_shuffled"] = z_shuffled_summary(own["model"], shuffled["model"])
        body["z_shuffled_network"] = z_shuffled_summary(own["network"], shuffled["network"])
        body = {
            "checkpoint": str(trained.path),
            "records": list(per_record),
            "skipped_short": skipped,
            **body,
            "quality": quality,
            "header": header,
        }
        with atomic_output(out / "benchmark.json") as tmp:
            tmp.write_text(json.dumps(body, indent=2))
    print(_table(body))
    print(f"wrote {out}/benchmark.json")


if __name__ == "__main__":
    main()
