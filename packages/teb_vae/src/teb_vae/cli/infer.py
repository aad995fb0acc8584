"""`teb-infer`: forecast the next 2 minutes of FHR, with uncertainty, from a CTG recording.

Reads raw FHR / UP (WFDB record, CSV or NPZ), cleans and normalises them, cuts 20-minute
windows (stride = the window, plus a last window aligned to the end), computes features and
runs a trained checkpoint (by default the model shipped with the package, trained on CTU-UHB
records). Writes into the --out folder `forecast.npz` (mu / std in bpm for
every step, the assembled mean forecast and band, the step times), `forecast.csv` (the mean
forecast per sample), `report.json` and a 4-panel PDF per window; with --at-minute M only the
forecast issued at minute M (of the recording) is written. --evaluate adds MAE / RMSE / NLL /
coverage against the persistence and last-2-minutes-mean baselines.

--stream instead feeds the recording 4 s at a time through a stream that carries the causal
state (cleaning, filter buffers, LSTMs) across the whole record, issuing a forecast at every
step, and writes stream.npz and stream.csv (see `teb_vae.streaming.write_stream_npz` /
`write_stream_csv`) and report.json.
"""

from __future__ import annotations

import argparse
import json

from sigshared.cli import cli_entry, finite_float, require_file
from sigshared.files import output_dir
from sigshared.training import select_device
from teb_vae.checkpoint import load_trained
from teb_vae.data import read_recording
from teb_vae.evaluation import evaluate
from teb_vae.inference import forecast_recording, write_forecast_csv, write_forecast_npz
from teb_vae.plotting import plot_sample
from teb_vae.quality import quality_masks, quality_summary
from teb_vae.streaming import stream_record, write_stream_csv, write_stream_npz


@cli_entry
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="teb-infer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="checkpoints/best.pt or last.pt of a teb-train run (default: the shipped model "
        "trained on CTU-UHB records)",
    )
    parser.add_argument(
        "--input",
        required=True,
        help="a recording: WFDB record (.hea or stem), CSV or NPZ with fhr / up at 4 Hz, at "
        "least 20 minutes long",
    )
    parser.add_argument(
        "--at-minute",
        type=finite_float(lo=0.0),
        default=None,
        metavar="M",
        help="only the forecast issued at minute M of the recording (M >= 0)",
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="forecast at every 4 s step of the whole record, state carried through it "
        "(writes stream.npz / stream.csv instead of windows)",
    )
    parser.add_argument(
        "--evaluate",
        action="store_true",
        help="score the forecasts against the recording and two baselines",
    )
    parser.add_argument(
        "--out", default="teb_forecast", help="output folder (default: teb_forecast)"
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda", "mps"],
        help="where to run (default: auto)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    args = parser.parse_args(argv)
    if args.stream and (args.at_minute is not None or args.evaluate):
        parser.error("--stream writes every step's forecast; leave out --at-minute / --evaluate")
    device = select_device(args.device)
    ckpt = require_file(args.checkpoint, "checkpoint") if args.checkpoint else None
    trained = load_trained(ckpt, device)
    rec = read_recording(args.input)
    if args.stream:
        with output_dir(args.out, overwrite=args.overwrite) as out:
            st = stream_record(trained, rec.fhr, rec.up, device)
            write_stream_npz(st, out / "stream.npz")
            write_stream_csv(st, out / "stream.csv")
            report = {"input": str(args.input), "mode": "stream", "steps": len(st["issued_at"])}
            report["header"] = rec.meta
            report["quality"] = quality_summary(quality_masks(rec.fhr, rec.up))
            (out / "report.json").write_text(json.dumps(report, indent=2))
        print(f"wrote {out}/stream.npz, stream.csv and report.json ({report['steps']} steps)")
        return
    with output_dir(args.out, overwrite=args.overwrite) as out:
        fc = forecast_recording(trained, rec, args.at_minute, device)
        write_forecast_npz(fc, out / "forecast.npz")
        write_forecast_csv(fc, out / "forecast.csv")
        for i, start in enumerate(fc.window_start):
            plot_sample(
                trained.model,
                fc.dataset[i],
                out / f"forecast_window{i:03d}.pdf",
                device,
                title=f"{rec.name}, samples {start}..{start + fc.dataset.fhr.shape[1] - 1}",
                calibrate=fc.calibration(trained, i),
            )
        report = {"input": str(args.input), "windows": len(fc.window_start)}
        report["window_starts"] = fc.window_start
        report["header"] = rec.meta
        report["quality"] = quality_summary(fc.clean.masks)
        if args.evaluate:
            report["evaluation"] = evaluate(trained.model, fc.dataset, device)
            print(json.dumps(report["evaluation"], indent=2))
        (out / "report.json").write_text(json.dumps(report, indent=2))
    n = len(fc.window_start)
    print(f"wrote {out}/forecast.npz, forecast.csv, report.json and {n} PDF(s)")


if __name__ == "__main__":
    main()
