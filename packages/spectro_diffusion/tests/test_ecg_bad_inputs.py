"""Bad inputs to every ECG command: exit code 2, one error line naming the problem, and no
output file or folder left behind."""

import numpy as np
import pytest
import torch

from spectro_diffusion.ecg.cli.analyze import main as analyze_main
from spectro_diffusion.ecg.cli.infer import main as infer_main
from spectro_diffusion.ecg.cli.prepare import main as prepare_main
from spectro_diffusion.ecg.cli.train import main as train_main
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
    "inference.num_inference_steps=2",
    "trainer.max_steps=2",
    "trainer.batch_size=8",
    "training.warmup_steps=1",
]


def sets(items):
    return [x for item in items for x in ("--set", item)]


def run(main, argv):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    return exc.value.code


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny dataset, a checkpoint trained on it, and bad files of every kind."""
    root = tmp_path_factory.mktemp("bad")
    data = root / "data"
    argv = ["--synthetic", "--out", data, "--num-records", 2, "--seconds", 6, *PREP]
    assert run(prepare_main, argv) == 0
    run_dir = root / "run"
    argv = ["--out", run_dir, "--device", "cpu", "--quiet", *sets([*TINY, f"dataset.path={data}"])]
    assert run(train_main, argv) == 0
    (root / "empty.yaml").write_text("")
    (root / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (root / "list.yaml").write_text("- 1\n- 2\n")
    (root / "corrupt.pt").write_bytes(b"not a checkpoint at all")
    torch.save({"package": "abr_diffusion", "kind": "generator", "model": {}}, root / "abr.pt")
    torch.save({"package": "spectro_diffusion", "kind": "classifier"}, root / "cls.pt")
    (root / "a_file").write_text("x")
    nan_dir = root / "nan_records"
    nan_dir.mkdir()
    x = synthetic_records(1, 6.0, 250.0, seed=0)["syn000"].T.copy()
    x[100:, :] = np.nan  # a gap too long to interpolate over every window
    np.save(nan_dir / "rec.npy", x)
    short_dir = root / "short_records"
    short_dir.mkdir()
    np.save(short_dir / "rec.npy", np.zeros((50, 1)))
    csv_dir = root / "csv_records"
    csv_dir.mkdir()
    np.savetxt(csv_dir / "r.csv", np.zeros((600, 1)), header="a", comments="")
    (root / "cwd").mkdir()
    full = root / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    return {"root": root, "data": data, "ckpt": run_dir / "checkpoints" / "last.pt"}


def case(main, argv, message, out=None):
    return pytest.param(main, argv, message, out, id=f"{main.__module__.split('.')[-1]}: {message}")


# Arguments as templates: {root}, {data}, {ckpt} and {out} (a fresh output path) are filled in.
CASES = [
    # ecg-prepare
    case(prepare_main, ["--synthetic", "--out", "{out}", "--image-height", "0"], "--image-height"),
    case(prepare_main, ["--synthetic", "--out", "{out}", "--fs", "nan"], "--fs"),
    case(prepare_main, ["--synthetic", "--out", "{out}", "--window-seconds", "inf"], "--window"),
    case(prepare_main, ["--synthetic", "--out", "{out}", "--val-fraction", "1"], "--val-fraction"),
    case(prepare_main, ["--synthetic", "--out", "{out}", "--coarse-grid", "5"], "prepare.coarse"),
    case(prepare_main, ["--records", "{root}/missing", "--out", "{out}"], "folder not found"),
    case(
        prepare_main,
        ["--records", "{root}/nan_records", "--input-fs", "250", "--out", "{out}", "--quiet"],
        "every window holds a long run of missing samples",
    ),
    case(
        prepare_main,
        ["--records", "{root}/short_records", "--input-fs", "250", "--out", "{out}", "--quiet"],
        "no training windows",
    ),
    case(
        prepare_main,
        ["--records", "{root}/csv_records", "--out", "{out}"],
        "carry no sampling rate",
    ),
    case(prepare_main, ["--synthetic", "--out", "{root}/full"], "is not empty"),
    case(prepare_main, ["--synthetic", "--out", "{root}/a_file/ds"], "cannot create"),
    # ecg-train
    case(train_main, ["--out", "{out}", "--set", "trainer.max_steps=0"], "trainer.max_steps"),
    case(
        train_main,
        ["--out", "{out}", "--set", "training.learning_rate=-1"],
        "training.learning_rate must be > 0",
    ),
    case(train_main, ["--out", "{out}", "--set", "model.num_heads=3"], "model.num_heads"),
    case(train_main, ["--out", "{out}", "--set", "model.colour=red"], "model.colour"),
    case(train_main, ["--out", "{out}", "--config", "{root}/empty.yaml"], "empty"),
    case(train_main, ["--out", "{out}", "--config", "{root}/binary.yaml"], "binary.yaml"),
    case(train_main, ["--out", "{out}", "--config", "{root}/list.yaml"], "list.yaml"),
    case(
        train_main,
        ["--out", "{out}", "--set", "dataset.path={root}/nothing"],
        "dataset folder not found",
    ),
    case(
        train_main,
        ["--out", "{out}", "--resume", "{root}/corrupt.pt"],
        "is not a readable checkpoint",
    ),
    case(
        train_main,
        ["--out", "{out}", "--resume", "{root}/abr.pt"],
        "is an abr_diffusion checkpoint, not a spectro_diffusion one",
    ),
    case(
        train_main,
        ["--out", "{data}", "--set", "dataset.path={data}"],
        "is not empty",
    ),
    case(train_main, ["--out", "{root}/run", *sets(TINY)], "holds another run"),
    # ecg-infer
    case(infer_main, ["--checkpoint", "{root}/none.pt"], "checkpoint not found"),
    case(infer_main, ["--checkpoint", "{root}/corrupt.pt"], "is not a readable checkpoint"),
    case(infer_main, ["--checkpoint", "{root}/cls.pt"], "a classifier checkpoint, not an ecg"),
    case(infer_main, ["--checkpoint", "{ckpt}", "--num-inference-steps", "0"], "--num-inference"),
    case(infer_main, ["--checkpoint", "{ckpt}", "--eta", "nan"], "--eta"),
    case(infer_main, ["--checkpoint", "{ckpt}", "--guidance-scale", "inf"], "--guidance-scale"),
    case(infer_main, ["--checkpoint", "{ckpt}", "--sampler", "euler"], "--sampler"),
    case(
        infer_main,
        ["--checkpoint", "{ckpt}", "--num-inference-steps", "51", "--output-dir", "{out}"],
        "inference.num_inference_steps must lie in 1..50",
    ),
    case(
        infer_main,
        ["--checkpoint", "{ckpt}", "--guidance-scale", "2", "--output-dir", "{out}"],
        "diffusion.cond_drop_prob > 0",
    ),
    case(
        infer_main,
        ["--checkpoint", "{ckpt}", "--sampler", "dpmpp_2m", "--eta", "1", "--output-dir", "{out}"],
        "inference.eta applies to the ddim sampler only",
    ),
    case(
        infer_main,
        ["--checkpoint", "{ckpt}", "--input-dir", "{root}", "--output-dir", "{out}"],
        "needs subfolders",
    ),
    case(infer_main, ["--checkpoint", "{ckpt}", "--output-dir", "{root}/full"], "is not empty"),
    case(
        infer_main,
        ["--checkpoint", "{ckpt}", "--output-dir", "{root}/a_file/gen"],
        "cannot create",
    ),
    # ecg-analyze
    case(
        analyze_main,
        ["--file-name", "nope", "--dataset-path", "{data}", "--out", "{out}"],
        "stem 'nope' is in no folder",
    ),
    case(
        analyze_main,
        ["--file-name", "x", "--dataset-path", "{root}/nothing", "--out", "{out}"],
        "dataset folder not found",
    ),
    case(
        analyze_main,
        ["--file-name", "x", "--dataset-path", "{data}", "--out", "{root}/full"],
        "is not empty",
    ),
]


@pytest.mark.parametrize("main, argv, message, _", CASES)
def test_bad_input_exits_2_with_one_line_and_leaves_nothing(
    world, main, argv, message, _, capsys, monkeypatch
):
    # Default output folders (runs/...) would land in the working directory: watch it too.
    monkeypatch.chdir(world["root"] / "cwd")
    out = world["root"] / "out"
    before = sorted(p.name for p in world["root"].iterdir())
    fill = {k: str(v) for k, v in world.items() if k != "root"}
    argv = [a.format(root=world["root"], out=out, **fill) for a in argv]
    assert run(main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # argparse prints its usage block before the error; every other error is one line.
    assert len(err) == 1 or err[0].startswith("usage:"), err
    assert sum("error:" in line for line in err) == 1, err
    assert "error:" in err[-1] and message in err[-1], err[-1]
    assert not out.exists() and not any((world["root"] / "cwd").iterdir())
    assert sorted(p.name for p in world["root"].iterdir()) == before
    assert (world["root"] / "full").is_dir() and len(list((world["root"] / "full").iterdir())) == 1
