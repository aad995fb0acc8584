"""Dataset layout: shape inference, pairing and defect report, normalisation, augmentation."""

import numpy as np
import pytest
import torch

from sigshared.errors import UserError
from spectro_diffusion.ecg.cli.train import main as train_main
from spectro_diffusion.ecg.data import (
    FOLDERS,
    EcgPairs,
    infer_spec,
    normalisation_stats,
    scan_split,
    specs_from_report,
)

SHAPES = {"images": (8, 12), "freq_embeddings": (8,), "amp_init": (20,), "emb_init": (8, 12)}


def write_stem(root, split, stem, rng, skip=(), shapes=None):
    for name, folder in FOLDERS.items():
        if name in skip:
            continue
        d = root / folder / split
        d.mkdir(parents=True, exist_ok=True)
        shape = (shapes or {}).get(name, SHAPES[name])
        np.save(d / f"{stem}.npy", rng.standard_normal(shape).astype(np.float32))


def test_shape_inference_1d_2d_and_channels():
    s = infer_spec((64,))
    assert (s.dims, s.channels, s.size) == (1, 1, (64,))
    s = infer_spec((32, 48))
    assert (s.dims, s.channels, s.size, s.model_shape) == (2, 1, (32, 48), (1, 32, 48))
    s = infer_spec((3, 32, 48))
    assert (s.dims, s.channels, s.size) == (2, 3, (32, 48))
    s = infer_spec((2, 100), dims=1)
    assert (s.dims, s.channels, s.size) == (1, 2, (100,))
    with pytest.raises(UserError, match=r"got shape \(2, 3, 4\)"):
        infer_spec((2, 3, 4), dims=1, name="amp_init")
    with pytest.raises(UserError, match="got shape"):
        infer_spec((5, 2, 3, 4))


def test_pairing_and_every_defect_reported_by_name_and_count(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(4):
        write_stem(tmp_path, "train", f"good{i}", rng)
    write_stem(tmp_path, "train", "noemb", rng, skip=("emb_init",))
    write_stem(tmp_path, "train", "wide", rng, shapes={"images": (8, 13)})
    write_stem(tmp_path, "train", "hasnan", rng)
    bad = np.ones((8,), np.float32)
    bad[[1, 4]] = [np.nan, np.inf]
    np.save(tmp_path / "freq_embeddings/train/hasnan.npy", bad)
    write_stem(tmp_path, "train", "broken", rng)
    (tmp_path / "inits/amp_init/train/broken.npy").write_bytes(b"not a numpy file")
    rep = scan_split(tmp_path, "train")
    assert rep.complete == [f"good{i}" for i in range(4)]
    text = "\n".join(rep.defect_lines())
    assert "inits/emb_init/train: 1 stems missing: noemb" in text
    assert "images/train: 1 files differ from shape (8, 12): wide (8, 13)" in text
    assert "freq_embeddings/train: 1 files hold NaN/Inf: hasnan (2 values)" in text
    assert "inits/amp_init/train: 1 unreadable files: broken" in text
    specs = specs_from_report(rep, {n: "auto" for n in FOLDERS})
    assert specs["images"].file_shape == (8, 12) and specs["amp_init"].dims == 1


def test_normalisation_stats_match_numpy(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(3):
        write_stem(tmp_path, "train", f"s{i}", rng)
    rep = scan_split(tmp_path, "train")
    stats = normalisation_stats(rep, rep.complete)
    for name, folder in FOLDERS.items():
        values = np.concatenate(
            [np.load(tmp_path / folder / "train" / f"s{i}.npy").ravel() for i in range(3)]
        ).astype(np.float64)
        assert np.isclose(stats[name]["mean"], values.mean())
        assert np.isclose(stats[name]["std"], values.std())


def test_time_shift_augmentation_rolls_time_arrays_together(tmp_path):
    rng = np.random.default_rng(2)
    write_stem(tmp_path, "train", "a", rng)
    rep = scan_split(tmp_path, "train")
    specs = specs_from_report(rep, {})
    stats = {n: {"mean": 0.0, "std": 1.0} for n in FOLDERS}
    plain = EcgPairs(tmp_path, "train", ["a"], specs, stats)[0]
    torch.manual_seed(0)
    shifted = EcgPairs(
        tmp_path, "train", ["a"], specs, stats, augment=True, time_shift=6, time_1d=("amp_init",)
    )
    seen = set()
    for _ in range(20):
        item = shifted[0]
        k = next(
            k
            for k in range(-6, 7)
            if torch.equal(torch.roll(plain["images"], k, -1), item["images"])
        )
        seen.add(k)
        assert torch.equal(torch.roll(plain["emb_init"], k, -1), item["emb_init"])
        assert torch.equal(torch.roll(plain["amp_init"], round(k * 20 / 12), -1), item["amp_init"])
        assert torch.equal(plain["freq_embeddings"], item["freq_embeddings"])
    assert len(seen) > 3


def test_training_refuses_a_dataset_without_a_complete_pair(tmp_path, capsys):
    rng = np.random.default_rng(3)
    write_stem(tmp_path / "ds", "train", "only_images", rng, skip=("amp_init",))
    (tmp_path / "ds/inits/amp_init/train").mkdir(parents=True)
    with pytest.raises(SystemExit) as exc:
        train_main(
            [
                "--config",
                "low_memory",
                "--set",
                f"dataset.path={tmp_path / 'ds'}",
                "--out",
                str(tmp_path / "run"),
                "--device",
                "cpu",
            ]
        )
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "no complete pair in split 'train'" in err
    assert "inits/amp_init/train: 1 stems missing: only_images" in err
