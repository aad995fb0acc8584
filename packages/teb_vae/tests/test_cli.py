"""teb-train and teb-infer end to end on a tiny config, and their answers to bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from teb_vae.cli import infer, train
from teb_vae.synthetic import synthetic_ctg, write_wfdb_record

TINY = {
    "data": {"cache_dir": None, "stride": 4800},
    "model": {
        "source": {
            "reduced_channels": 8,
            "linear_dims": [8],
            "conv_kernel_size": [3],
            "fusion_dims": [8],
            "lstm_hidden_dim": 8,
            "lstm_num_layers": 1,
            "output_dims": [8],
            "final_dims": [8],
        },
        "target": {
            "reduction_dims": [8],
            "st_linear_dims": [8],
            "ph_linear_dims": [8],
            "conv_kernel_size": [3],
            "fusion_dims": [8],
            "lstm_hidden_dim": 8,
            "lstm_num_layers": 1,
            "head_dim": 8,
            "head_hidden": 1,
        },
        "conditional": {"fusion_dims": [8], "head_dims": [8]},
        "decoder": {
            "latent_dim_out": 8,
            "latent_hidden": 1,
            "deep_dims": [8],
            "expand_hidden": 1,
            "conv_channels": [4],
            "post_dims": [4],
            "head_channels": [4],
            "upsample_channels": 2,
        },
    },
    "optim": {"train_decode_steps": 8},
    "trainer": {"batch_size": 1, "max_steps": 2, "max_epochs": 5, "progress": False},
}


def run(main, argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("teb")
    data = root / "data"
    for i, minutes in enumerate((25, 21, 21)):
        sig = synthetic_ctg(minutes, seed=i)
        write_wfdb_record(data, f"10{i:02d}", sig["fhr"], np.nan_to_num(sig["up"]))
    cfg = root / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    out = root / "run"
    code = run(
        train.main,
        [
            "--config",
            str(cfg),
            "--data",
            str(data),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--quiet",
        ],
    )
    assert code == 0
    return root, out


def test_train_writes_the_run_folder(trained):
    _, out = trained
    report = json.loads((out / "report.json").read_text())
    assert report["steps"] == 2
    ev = report["evaluation"]
    assert {"model", "persistence", "last2min_mean", "improvement"} <= set(ev)
    assert 0.0 <= ev["model"]["coverage_2std"] <= 1.0 and ev["model"]["mae_bpm"] > 0
    assert (out / "checkpoints" / "last.pt").is_file() and (out / "config.yaml").is_file()
    assert (out / "checkpoints" / "best.pt").is_file()
    assert (out / "plots" / "forecast_final.pdf").read_bytes()[:4] == b"%PDF"
    # the spread is fitted on the validation windows and stored in both checkpoints
    from teb_vae.checkpoint import load_trained

    best = load_trained(out / "checkpoints" / "best.pt")
    assert best.spread is not None and best.spread.to_state() == report["calibration"]["spread"]
    assert best.anchor is not None and best.anchor.to_state() == report["calibration"]["anchor"]
    assert len(report["calibration"]["spread"]["shift"]) == 8


def test_resume_continues_steps_and_kl_annealing(trained, tmp_path):
    import shutil

    import torch

    root, out = trained
    resumed = tmp_path / "resumed"
    shutil.copytree(out, resumed)
    ckpt = resumed / "checkpoints" / "last.pt"
    argv = ["--config", str(root / "tiny.yaml"), "--data", str(root / "data")]
    argv += ["--device", "cpu", "--quiet", "--set", "trainer.max_steps=4"]
    assert run(train.main, [*argv, "--resume", str(ckpt)]) == 0  # in place: no --out
    assert json.loads((resumed / "report.json").read_text())["steps"] == 4
    state = torch.load(resumed / "checkpoints" / "last.pt", weights_only=True)
    assert int(state["model"]["kld_step"]) == 4
    original = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert int(original["model"]["kld_step"]) == 2


def test_infer_all_steps_one_time_and_refusals(trained, tmp_path, capsys):
    root, out = trained
    ckpt = str(out / "checkpoints" / "last.pt")
    rec = str(root / "data" / "1000.hea")
    dest = tmp_path / "fc"
    assert (
        run(
            infer.main,
            [
                "--checkpoint",
                ckpt,
                "--input",
                rec,
                "--out",
                str(dest),
                "--evaluate",
                "--device",
                "cpu",
            ],
        )
        == 0
    )
    npz = np.load(dest / "forecast.npz")
    assert npz["mu_bpm"].shape == (2, 300, 480)  # 25 min -> two windows (0 and the end)
    assert npz["issued_at_sample"][0, 0] == 16 and np.isfinite(npz["std_bpm"]).all()
    assert (dest / "forecast_window001.pdf").is_file()
    assert "persistence" in json.loads((dest / "report.json").read_text())["evaluation"]
    assert run(infer.main, ["--checkpoint", ckpt, "--input", rec, "--out", str(dest)]) == 2
    assert "is not empty" in capsys.readouterr().err
    one = tmp_path / "one"
    assert (
        run(
            infer.main,
            [
                "--checkpoint",
                ckpt,
                "--input",
                rec,
                "--out",
                str(one),
                "--at-minute",
                "12",
                "--device",
                "cpu",
            ],
        )
        == 0
    )
    npz = np.load(one / "forecast.npz")
    assert npz["mu_bpm"].shape == (1, 1, 480) and npz["issued_at_sample"][0, 0] == 48 * 60
    # --stream: a forecast at every 4 s step of a 3-minute record (no 20-minute minimum)
    sig = synthetic_ctg(3, seed=7)
    np.savez(tmp_path / "short.npz", fhr=sig["fhr"], up=np.nan_to_num(sig["up"]))
    st = tmp_path / "st"
    argv = ["--checkpoint", ckpt, "--input", str(tmp_path / "short.npz"), "--out", str(st)]
    assert run(infer.main, [*argv, "--stream", "--device", "cpu"]) == 0
    npz = np.load(st / "stream.npz")
    assert npz["mu_bpm"].shape == npz["std_bpm"].shape == (45, 480)
    assert np.array_equal(npz["issued_at_sample"], np.arange(45) * 16 + 15)
    assert npz["horizon_s"][0] == 0.25 and npz["horizon_s"][-1] == 120.0
    rows = (st / "stream.csv").read_text().splitlines()
    assert rows[0].startswith("issued_at_sample,time_s,fhr_bpm,mu_15s,std_15s,mu_30s")
    assert len(rows) == 46 and float(rows[1].split(",")[4]) == pytest.approx(
        npz["std_bpm"][0, 59], abs=1e-3
    )
    assert run(infer.main, [*argv, "--stream", "--at-minute", "1"]) == 2


def _one_error_line(err: str) -> str:
    """The error line: exactly one "<prog>: error: ..." line, no traceback (argparse adds
    its usage line before it)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    np.savez(d / "short.npz", fhr=np.full(4000, 140.0), up=np.zeros(4000))
    np.savez(d / "missing.npz", fhr=np.zeros(5000), up=np.zeros(5000))
    (d / "wrong.csv").write_text("hr,toco\n" + "140,10\n" * 5000)
    (d / "header.csv").write_text("fhr,up\n")
    (d / "empty.yaml").write_text("")
    (d / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (d / "list.yaml").write_text("- 1\n- 2\n")
    (d / "corrupt.pt").write_bytes(b"PK\x03\x04 this is not a checkpoint")
    torch.save({"package": "abr_diffusion", "kind": "generator", "model": {}}, d / "foreign.pt")
    (d / "afile").write_text("a file, not a folder")
    return d


def test_infer_bad_inputs_exit_2_with_one_line_and_leave_nothing(
    trained, bad_files, tmp_path, capsys
):
    _, out = trained
    ckpt = str(out / "checkpoints" / "last.pt")
    rec = str(trained[0] / "data" / "1000.hea")
    d = bad_files
    cases = [
        (["--input", rec, "--at-minute", "nan"], "--at-minute"),
        (["--input", rec, "--at-minute", "inf"], "--at-minute"),
        (["--input", rec, "--at-minute", "-1"], "--at-minute"),
        (["--input", rec, "--at-minute", "500"], "outside"),
        (["--input", str(d / "short.npz")], "16.7 minutes"),
        (["--input", str(d / "missing.npz")], "no valid sample"),
        (["--input", str(d / "wrong.csv")], "'fhr' and 'up'"),
        (["--input", str(d / "header.csv")], "0.0 minutes"),
        (["--input", str(d / "nothere.npz")], "not found"),
        (["--input", rec, "--checkpoint", str(d / "corrupt.pt")], "not a readable checkpoint"),
        (["--input", rec, "--checkpoint", str(d / "foreign.pt")], "abr_diffusion checkpoint"),
        (["--input", rec, "--checkpoint", str(d / "nothere.pt")], "not found"),
        (["--input", rec, "--out", str(d / "afile" / "sub")], "cannot create"),
        (["--input", rec, "--out", str(d / "afile")], "is a file"),
    ]
    for extra, needle in cases:
        dest = tmp_path / "o"
        argv = ["--checkpoint", ckpt, "--out", str(dest), "--device", "cpu", *extra]
        code = run(infer.main, argv)
        line = _one_error_line(capsys.readouterr().err)
        assert code == 2 and needle in line, (extra, line)
        assert not dest.exists(), extra
    assert sorted(p.name for p in d.iterdir()) == sorted(
        [
            "short.npz",
            "missing.npz",
            "wrong.csv",
            "header.csv",
            "empty.yaml",
            "binary.yaml",
            "list.yaml",
            "corrupt.pt",
            "foreign.pt",
            "afile",
        ]
    )


def test_train_bad_inputs_exit_2_with_one_line_and_leave_nothing(
    trained, bad_files, tmp_path, capsys
):
    root, out = trained
    d = bad_files
    tiny = str(root / "tiny.yaml")
    data = str(root / "data")
    cases = [
        (["--config", str(d / "empty.yaml")], "empty"),
        (["--config", str(d / "binary.yaml")], "binary.yaml"),
        (["--config", str(d / "list.yaml")], "mapping"),
        (["--config", str(d / "nothere.yaml")], "not found"),
        (["--config", tiny, "--set", "optim.lr=-1"], "optim.lr"),
        (["--config", tiny, "--set", "optim.lr=.nan"], "optim.lr"),
        (["--config", tiny, "--set", "trainer.max_steps=0"], "max_steps"),
        (["--config", tiny, "--set", "model.horizon=100"], "model.horizon"),
        (["--config", tiny, "--set", "model.input_channels=10"], "model.input_channels"),
        (["--config", tiny, "--set", "model.warmup_period=300"], "model.warmup_period"),
        (["--config", tiny, "--set", "model.decoder.dropout=1.5"], "model.decoder.dropout"),
        (["--config", tiny, "--set", "data.max_missing=2"], "data.max_missing"),
        (["--config", tiny, "--set", "features.window=4801"], "features.window"),
        (["--config", tiny, "--set", "model.nope=1"], "model.nope"),
        (["--config", tiny, "--data", str(d / "nothere")], "not found"),
        (["--config", tiny, "--data", str(d / "header.csv")], "shorter than"),
        (["--config", tiny, "--data", data, "--resume", str(d / "corrupt.pt")], "not a readable"),
        (["--config", tiny, "--data", data, "--resume", str(d / "foreign.pt")], "abr_diffusion"),
    ]
    for extra, needle in cases:
        dest = tmp_path / "run"
        code = run(train.main, ["--out", str(dest), "--device", "cpu", "--quiet", *extra])
        line = _one_error_line(capsys.readouterr().err)
        assert code == 2 and needle in line, (extra, line)
        assert not dest.exists(), extra
    # resuming run A into another run's folder B is refused; B is untouched
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    other = tmp_path / "other"
    argv = ["--config", tiny, "--data", data, "--device", "cpu", "--quiet"]
    assert run(train.main, [*argv, "--out", str(other)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "teb-train: training 2 steps"
    code = run(
        train.main, [*argv, "--resume", str(other / "checkpoints/last.pt"), "--out", str(out)]
    )
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2 and "holds another run" in line
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_divergence_is_reported_as_such_with_a_real_path(trained, tmp_path, capsys):
    root, _ = trained
    dest = tmp_path / "diverged"
    argv = ["--config", str(root / "tiny.yaml"), "--data", str(root / "data"), "--out", str(dest)]
    argv += ["--device", "cpu", "--quiet", "--set", "optim.lr=1e6", "--set", "trainer.max_steps=40"]
    argv += ["--set", "trainer.checkpoint_every_steps=1"]
    code = run(train.main, argv)
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2 and "diverged" in line, line
    named = [w.strip(",.;") for w in line.split() if w.strip(",.;").endswith(".pt")]
    assert named and all(Path(p).is_file() for p in named), line  # a real, finite checkpoint
    state = torch.load(named[0], weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_eval_writes_the_benchmark_on_the_split_test_records(trained, tmp_path, capsys):
    from teb_vae.cli import eval as teb_eval
    from teb_vae.data import read_recording
    from teb_vae.features.preprocess import clean_ctg

    root, out = trained
    split = tmp_path / "split.yaml"
    split.write_text("train: [1000, 1001]\ntest: [1002]\n")
    dest = tmp_path / "bench"
    argv = ["--data", str(root / "data"), "--records", str(split), "--out", str(dest)]
    argv += ["--checkpoint", str(out / "checkpoints" / "best.pt"), "--device", "cpu"]
    assert run(teb_eval.main, argv) == 0
    body = json.loads((dest / "benchmark.json").read_text())
    assert body["records"] == ["1002"] and body["horizons_s"] == [15.0 * k for k in range(1, 9)]
    assert set(body["forecasters"]) == {"model", "persistence", "mean_2min"}
    # every forecaster is scored on the same samples: the valid ones each step forecasts
    rec = read_recording(root / "data" / "1002.hea")
    valid = clean_ctg(rec.fhr, rec.up).valid
    n = len(valid) // 16 * 16
    expected = sum(valid[(i + 1) * 16 : (i + 1) * 16 + 480].sum() for i in range(30, n // 16))
    for entry in body["forecasters"].values():
        assert entry["overall"]["samples"] == expected
        assert len(entry["mae_by_horizon"]) == 8
        assert sum(b["samples"] for b in entry["by_horizon"]) == expected
        assert entry["stage_I"]["samples"] == expected  # no stage II start in the header
        assert 0 <= entry["overall"]["cover_1std"] <= entry["overall"]["cover_2std"] <= 1
        lo, hi = entry["record_mean_ci95"]["mae"]
        assert lo == pytest.approx(entry["overall"]["mae"]) == pytest.approx(hi)  # one record
    assert body["quality"]["1002"]["fhr_masked_pct"] >= 0
    # the z-shuffle figures of the network alone are the scores of its own Gaussian
    import dataclasses

    from teb_vae.benchmark import _metrics, forecast_whole_record, score_record
    from teb_vae.checkpoint import load_trained

    net = dataclasses.replace(
        load_trained(out / "checkpoints" / "best.pt"), spread=None, anchor=None
    )
    direct = _metrics(score_record(forecast_whole_record(net, rec), None, None)["model"]["all"])
    for key in ("nll", "mae", "crps"):
        assert body["z_shuffled_network"]["model"][key] == pytest.approx(direct[key], rel=1e-6)
    assert body["z_shuffled"]["model"]["nll"] == pytest.approx(
        body["forecasters"]["model"]["overall"]["nll"]
    )
    # a split naming a record the folder lacks
    split.write_text("test: [1002, 9999]\n")
    argv[argv.index(str(dest))] = str(tmp_path / "bench2")
    assert run(teb_eval.main, argv) == 2
    assert "9999" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "bench2").exists()


def test_train_on_the_records_of_a_split(trained, tmp_path, capsys):
    root, _ = trained
    split = tmp_path / "split.yaml"
    split.write_text("train: [1000, 1001]\nval: [1002]\ntest: []\n")
    dest = tmp_path / "run"
    argv = ["--config", str(root / "tiny.yaml"), "--data", str(root / "data"), "--out", str(dest)]
    argv += ["--records", str(split), "--device", "cpu", "--quiet"]
    assert run(train.main, argv) == 0
    assert json.loads((dest / "report.json").read_text())["data"].startswith("2 + 1 recordings")
    assert run(train.main, ["--records", str(split), "--out", str(tmp_path / "x")]) == 2
    assert "--data" in _one_error_line(capsys.readouterr().err)
