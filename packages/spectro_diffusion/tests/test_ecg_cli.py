"""ecg-prepare (WFDB / CSV round trips), ecg-train, ecg-infer, ecg-analyze, and bad inputs."""

import json

import numpy as np
import pytest
import wfdb

from spectro_diffusion.ecg.analysis import DatasetVisualizer
from spectro_diffusion.ecg.cli.analyze import main as analyze_main
from spectro_diffusion.ecg.cli.infer import main as infer_main
from spectro_diffusion.ecg.cli.prepare import main as prepare_main
from spectro_diffusion.ecg.cli.train import main as train_main
from spectro_diffusion.ecg.data import FOLDERS
from spectro_diffusion.ecg.features import coarse_image, freq_from_image
from spectro_diffusion.ecg.synthetic import synthetic_records

PREP = ["--image-height", "16", "--image-width", "16", "--coarse-grid", "4", "--quiet"]
TINY = [
    "model.base_channels=8",
    "model.channel_mults=[1,2]",
    "model.num_res_blocks=1",
    "model.condition_dim=16",
    "model.cond_channels=8",
    "model.cond_input_channels=4",
    "model.freq_head_channels=8",
    "model.attention_resolutions=[8]",
    "model.num_heads=2",
    "model.fusion_heads=2",
    "diffusion.num_train_timesteps=50",
    "inference.num_inference_steps=3",
    "trainer.max_steps=3",
    "trainer.batch_size=8",
    "training.warmup_steps=1",
]


def run(main, argv):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    return exc.value.code


def sets(items):
    return [x for item in items for x in ("--set", item)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny synthetic dataset and a checkpoint trained on it for 3 steps."""
    root = tmp_path_factory.mktemp("ecg")
    data = root / "data"
    argv = ["--synthetic", "--out", data, "--num-records", 3, "--seconds", 10, *PREP]
    assert run(prepare_main, argv) == 0
    overrides = [*TINY, f"dataset.path={data}"]
    assert (
        run(train_main, ["--out", root / "run", "--device", "cpu", "--quiet", *sets(overrides)])
        == 0
    )
    return data, root / "run"


def test_prepare_wfdb_record_round_trip(tmp_path):
    signal = synthetic_records(1, 20.0, 360.0, seed=2)["syn000"].T
    rec_dir = tmp_path / "records"
    rec_dir.mkdir()
    wfdb.wrsamp(
        "100",
        fs=360,
        units=["mV", "mV"],
        sig_name=["MLII", "V5"],
        p_signal=signal,
        fmt=["212", "212"],
        write_dir=str(rec_dir),
    )
    out = tmp_path / "ds"
    argv = ["--records", rec_dir, "--out", out, "--fs", 128, "--window-seconds", 2, *PREP]
    assert run(prepare_main, argv) == 0
    meta = json.loads((out / "prepare.json").read_text())
    # 20 s at 128 Hz = 2560 samples; window 256 (2 s rounded to a multiple of 16): 10 windows
    # per lead, the last 2 of them (val_fraction 0.2) in val for a single record.
    assert meta["window_samples"] == 256
    for name, folder in FOLDERS.items():
        train = sorted(p.stem for p in (out / folder / "train").glob("*.npy"))
        val = sorted(p.stem for p in (out / folder / "val").glob("*.npy"))
        assert len(train) == 16 and len(val) == 4, name
        assert "100_V5_z0_w009" in val and "100_MLII_z0_w000" in train
    image = np.load(out / "images/train/100_MLII_z0_w003.npy")
    freq = np.load(out / "freq_embeddings/train/100_MLII_z0_w003.npy")
    emb = np.load(out / "inits/emb_init/train/100_MLII_z0_w003.npy")
    amp = np.load(out / "inits/amp_init/train/100_MLII_z0_w003.npy")
    assert image.shape == (16, 16) and freq.shape == (16,) and amp.shape == (16,)
    # The documented relations of prepared data.
    assert np.allclose(freq, freq_from_image(image.astype(np.float64)), atol=1e-5)
    assert np.allclose(emb, coarse_image(image, 4), atol=1e-5)
    assert abs(amp.mean()) < 0.2


def test_prepare_csv_needs_rate_and_splits_by_record(tmp_path, capsys):
    rec_dir = tmp_path / "csv"
    rec_dir.mkdir()
    for name, rec in synthetic_records(3, 8.0, 200.0, seed=1).items():
        np.savetxt(rec_dir / f"{name}.csv", rec.T, delimiter=",", header="MLII,V5", comments="")
    assert run(prepare_main, ["--records", rec_dir, "--out", tmp_path / "x", *PREP]) == 2
    assert "CSV / NPY files carry no sampling rate" in capsys.readouterr().err
    out = tmp_path / "ds"
    argv = ["--records", rec_dir, "--input-fs", 200, "--out", out, "--val-fraction", 0.34, *PREP]
    assert run(prepare_main, argv) == 0
    train = {p.stem.split("_")[0] for p in (out / "images/train").glob("*.npy")}
    val = {p.stem.split("_")[0] for p in (out / "images/val").glob("*.npy")}
    assert len(val) == 1 and len(train) == 2 and not train & val
    assert run(prepare_main, ["--records", rec_dir, "--input-fs", 200, "--out", out, *PREP]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_train_writes_run_folder_and_resumes(trained, tmp_path):
    _, run_dir = trained
    for name in ("config.yaml", "metrics.csv", "report.json", "checkpoints/last.pt"):
        assert (run_dir / name).is_file(), name
    report = json.loads((run_dir / "report.json").read_text())
    assert report["steps"] == 3 and "generated_image_ssim" in report
    assert "emb_init_baseline_image_mse" in report
    resumed = tmp_path / "resumed"
    argv = [
        "--resume",
        run_dir / "checkpoints/last.pt",
        "--out",
        resumed,
        "--device",
        "cpu",
        "--quiet",
        *sets(
            [
                *TINY[:-3],
                "trainer.max_steps=5",
                "trainer.batch_size=8",
                "training.warmup_steps=1",
                f"dataset.path={trained[0]}",
            ]
        ),
    ]
    assert run(train_main, argv) == 0
    assert json.loads((resumed / "report.json").read_text())["steps"] == 5


def test_infer_writes_documented_files_and_metrics(trained, tmp_path, capsys):
    data, run_dir = trained
    out = tmp_path / "gen"
    argv = [
        "--checkpoint",
        run_dir / "checkpoints/last.pt",
        "--num-samples",
        3,
        "--num-inference-steps",
        2,
        "--visualize",
        "--compare",
        "--output-dir",
        out,
        "--device",
        "cpu",
    ]
    assert run(infer_main, argv) == 0
    stems = sorted(p.stem for p in (data / "inits/amp_init/val").glob("*.npy"))[:3]
    for stem in stems:
        for suffix in ("_freq_embeddings.npy", "_images.npy", ".png", "_compare.png"):
            assert (out / f"{stem}{suffix}").is_file(), stem + suffix
        assert np.load(out / f"{stem}_images.npy").shape == (16, 16)
        assert np.load(out / f"{stem}_freq_embeddings.npy").shape == (16,)
    metrics = json.loads((out / "metrics.json").read_text())
    keys = {"image_mse", "image_psnr_db", "image_ssim", "freq_mse", "freq_pearson"}
    assert set(metrics["mean"]["generated"]) == keys | {"consistency_mse"}
    assert set(metrics["mean"]["emb_init_baseline"]) == keys
    assert sorted(metrics["per_sample"]["generated"]) == stems
    printed = capsys.readouterr().out
    # The model's means are printed beside the baseline's, one metric per row.
    row = next(line for line in printed.splitlines() if line.startswith("image_ssim"))
    values = [float(v) for v in row.split()[1:]]
    assert values == pytest.approx(
        [metrics["mean"][s]["image_ssim"] for s in ("generated", "emb_init_baseline")], rel=1e-3
    )


def test_infer_from_input_dir(trained, tmp_path):
    data, run_dir = trained
    out = tmp_path / "gen"
    argv = [
        "--checkpoint",
        run_dir / "checkpoints/last.pt",
        "--input-dir",
        data / "inits",
        "--split",
        "train",
        "--num-samples",
        2,
        "--num-inference-steps",
        2,
        "--output-dir",
        out,
        "--device",
        "cpu",
        "--quiet",
    ]
    assert run(infer_main, argv) == 0
    assert len(list(out.glob("*_images.npy"))) == 2 and not list(out.glob("*.png"))


def test_analyze_writes_figures(trained, tmp_path):
    data, _ = trained
    stem = sorted(p.stem for p in (data / "images/train").glob("*.npy"))[0]
    out = tmp_path / "analysis"
    argv = ["--file-name", stem, "--dataset-path", data, "--out", out]
    assert run(analyze_main, argv) == 0
    assert (out / f"{stem}.png").is_file() and (out / "histograms.png").is_file()
    stats = json.loads((out / "analysis.json").read_text())
    n_train = len(list((data / "images/train").glob("*.npy")))
    assert stats["splits"]["train"]["complete_pairs"] == n_train
    viz = DatasetVisualizer(stem, data, tmp_path / "viz")
    assert viz.visualize().is_file()


@pytest.mark.parametrize("main", [prepare_main, train_main, infer_main, analyze_main])
def test_help(main, capsys):
    assert run(main, ["--help"]) == 0
    assert "usage:" in capsys.readouterr().out
