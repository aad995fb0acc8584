"""teb-train and teb-infer end to end on a tiny config, and their answers to bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
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
    assert (out / "plots" / "forecast_final.pdf").read_bytes()[:4] == b"%PDF"


def test_resume_continues_steps_and_kl_annealing(trained, tmp_path):
    import shutil

    import torch

    root, out = trained
    resumed = tmp_path / "resumed"
    shutil.copytree(out, resumed)
    ckpt = resumed / "checkpoints" / "last.pt"
    argv = ["--config", str(root / "tiny.yaml"), "--data", str(root / "data"), "--out"]
    argv += [str(resumed), "--device", "cpu", "--quiet", "--set", "trainer.max_steps=4"]
    assert run(train.main, [*argv, "--resume", str(ckpt)]) == 0
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
    assert "--overwrite" in capsys.readouterr().err
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


def test_bad_inputs_exit_2_with_one_clear_line(trained, tmp_path, capsys):
    _, out = trained
    ckpt = str(out / "checkpoints" / "last.pt")
    short = tmp_path / "short.npz"
    np.savez(short, fhr=np.full(4000, 140.0), up=np.zeros(4000))
    missing = tmp_path / "missing.npz"
    np.savez(missing, fhr=np.zeros(5000), up=np.zeros(5000))
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("hr,toco\n" + "140,10\n" * 5000)
    cases = [(short, "16.7 minutes"), (missing, "no valid sample"), (wrong, "'fhr' and 'up'")]
    for path, needle in cases:
        code = run(
            infer.main, ["--checkpoint", ckpt, "--input", str(path), "--out", str(tmp_path / "o")]
        )
        err = capsys.readouterr().err
        assert code == 2 and needle in err and "Traceback" not in err, err
    assert run(train.main, ["--set", "model.nope=1", "--out", str(tmp_path / "t")]) == 2
    assert "model.nope" in capsys.readouterr().err
