"""ecg-prepare on raw PhysioNet-style folders: channels by name and type, native rates of
multi-rate WFDB records, missing samples, the validation split, per-file rates of CSV / NPY."""

import json

import numpy as np
import pytest
import wfdb

from spectro_diffusion.ecg.analysis import spread_sample
from spectro_diffusion.ecg.cli.prepare import main as prepare_main
from spectro_diffusion.ecg.records import is_ecg_lead, read_records, repair_gaps
from spectro_diffusion.ecg.synthetic import synthetic_records

PREP = ["--image-height", "16", "--image-width", "16", "--coarse-grid", "4", "--quiet"]


def run(argv):
    with pytest.raises(SystemExit) as exc:
        prepare_main([str(a) for a in argv])
    return exc.value.code


def ecg(seconds, fs, seed):
    """(samples, 2) synthetic ECG in mV."""
    return synthetic_records(1, seconds, fs, seed)["syn000"].T.copy()


def write_record(folder, name, fs, signals, names, units, spf=None):
    """A WFDB record (format 16) from full-rate signals; `spf` samples per frame per channel."""
    wfdb.wrsamp(
        name,
        fs=fs,
        units=units,
        sig_name=names,
        e_p_signal=[s.astype(np.float64) for s in signals] if spf else None,
        p_signal=None if spf else np.stack(signals, axis=1),
        samps_per_frame=spf,
        fmt=["16"] * len(names),
        adc_gain=[200.0] * len(names),
        baseline=[0] * len(names),
        write_dir=str(folder),
    )


@pytest.mark.parametrize(
    "name, expected",
    [
        ("MLII", True),
        ("V1", True),
        ("v6", True),
        ("V", True),
        ("II", True),
        ("aVR", True),
        ("MCL1", True),
        ("ECG", True),
        ("ECG 2", True),
        ("i", True),
        ("", True),
        ("PLETH", False),
        ("RESP", False),
        ("ABP", False),
        ("vx", False),
        ("vz", False),
    ],
)
def test_ecg_lead_names(name, expected):
    assert is_ecg_lead(name) == expected


def test_short_gaps_interpolated_long_gaps_marked():
    x = np.arange(100, dtype=float)
    x[10] = np.nan  # 1 sample: interpolated
    x[40:43] = np.nan  # 3 samples: interpolated (limit 0.04 s * 100 Hz = 4)
    x[60:70] = np.inf  # 10 samples: marked
    filled, long_mask, report = repair_gaps(x, 100.0, 0.04)
    assert np.allclose(filled, np.arange(100))  # linear data: interpolation is exact
    assert np.flatnonzero(long_mask).tolist() == list(range(60, 70))
    assert (report.nan_values, report.interpolated_runs, report.interpolated_samples) == (14, 2, 4)
    assert (report.long_runs, report.long_samples) == (1, 10)


@pytest.fixture()
def raw_folder(tmp_path):
    """Two WFDB records as PhysioNet ships them: a multi-rate one (ECG at 4 samples per frame
    of 62.5 Hz beside a 62.5 Hz RESP channel holding NaN) and one with ECG, PLETH and NaN
    runs inside an ECG lead."""
    folder = tmp_path / "raw"
    folder.mkdir()
    lead = ecg(40.0, 250.0, 1)[:, 0]
    resp = np.sin(np.linspace(0, 20, 2500))
    resp[100:104] = np.nan
    write_record(folder, "multi", 62.5, [lead, resp], ["MCL1", "RESP"], ["mV", "NU"], [4, 1])
    both = ecg(40.0, 250.0, 2)
    both[1000, 0] = np.nan  # one sample: interpolated
    both[5000:5100, 1] = np.nan  # 0.4 s: the windows over it are dropped
    pleth = np.cos(np.linspace(0, 60, 10000))
    write_record(
        folder,
        "gaps",
        250.0,
        [both[:, 0], both[:, 1], pleth],
        ["II", "V", "PLETH"],
        ["mV", "mV", "NU"],
    )
    return folder


def test_raw_wfdb_folder_channels_rates_and_gaps(raw_folder, tmp_path):
    records = {r.name: r for r in read_records(raw_folder)}
    multi = {c.name: c for c in records["multi"].channels}
    # Native rates, not frame averages: MCL1 keeps 4 x 62.5 Hz.
    assert multi["MCL1"].fs == 250.0 and multi["MCL1"].signal.size == 10000
    assert multi["RESP"].fs == 62.5
    out = tmp_path / "ds"
    argv = ["--records", raw_folder, "--out", out, "--val-records", "multi", *PREP]
    assert run(argv) == 0
    meta = json.loads((out / "prepare.json").read_text())
    rec = meta["records"]
    assert rec["multi"]["split"] == "val" and rec["gaps"]["split"] == "train"
    assert sorted(rec["multi"]["leads"]) == ["MCL1"] and rec["multi"]["channels_left_out"] == [
        "RESP"
    ]
    assert sorted(rec["gaps"]["leads"]) == ["II", "V"] and rec["gaps"]["channels_left_out"] == [
        "PLETH"
    ]
    assert rec["multi"]["leads"]["MCL1"]["fs"] == 250.0
    ii, v = rec["gaps"]["leads"]["II"], rec["gaps"]["leads"]["V"]
    assert (ii["interpolated_runs"], ii["long_runs"], ii["windows_dropped"]) == (1, 0, 0)
    # 40 s at 250 Hz in 2.048 s windows: 19 windows; the 0.4 s gap at 20-20.4 s lies in one.
    assert ii["windows"] == 19 and (v["long_runs"], v["windows_dropped"]) == (1, 1)
    assert v["windows"] == 18
    assert meta["missing_samples"]["windows_dropped"] == 1
    val = sorted(p.stem for p in (out / "images/val").glob("*.npy"))
    assert val and all(s.startswith("multi_MCL1_") for s in val)
    for path in (out / "images/train").glob("*.npy"):
        assert np.isfinite(np.load(path)).all()
    # The gap of V at 5000-5100 samples = window 9 (4608-5120): missing, its neighbours there.
    train = {p.stem for p in (out / "images/train").glob("*.npy")}
    assert "gaps_V_z0_w009" not in train and {"gaps_V_z0_w008", "gaps_V_z0_w010"} <= train


def test_named_channels_and_unknown_validation_record(raw_folder, tmp_path, capsys):
    out = tmp_path / "ds"
    argv = ["--records", raw_folder, "--out", out, "--channels", "ecg", "PLETH", *PREP]
    assert run(argv) == 0
    meta = json.loads((out / "prepare.json").read_text())
    assert sorted(meta["records"]["gaps"]["leads"]) == ["II", "PLETH", "V"]
    argv = ["--records", raw_folder, "--out", tmp_path / "x", "--val-records", "nope", *PREP]
    assert run(argv) == 2
    assert (
        "validation record 'nope' is not among the records (gaps, multi)" in capsys.readouterr().err
    )
    assert not (tmp_path / "x").exists()
    argv = ["--records", raw_folder, "--out", tmp_path / "y", "--channels", "ABP", *PREP]
    assert run(argv) == 2
    assert "has no channel selected by ABP" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()


def test_csv_and_npy_rates_from_sidecars(tmp_path):
    folder = tmp_path / "tables"
    folder.mkdir()
    x = ecg(20.0, 500.0, 3)
    np.savetxt(folder / "a.csv", x, delimiter=",", header="MLII,RESP", comments="")
    (folder / "a.json").write_text(json.dumps({"fs": 500}))
    y = ecg(20.0, 128.0, 4)[:, :1]
    np.save(folder / "b.npy", y)
    (folder / "b.json").write_text(json.dumps({"fs": 128, "channels": ["V2"]}))
    out = tmp_path / "ds"
    assert run(["--records", folder, "--out", out, *PREP]) == 0
    rec = json.loads((out / "prepare.json").read_text())["records"]
    assert rec["a"]["leads"]["MLII"]["fs"] == 500 and rec["a"]["channels_left_out"] == ["RESP"]
    assert rec["b"]["leads"]["V2"]["fs"] == 128
    # Each file resampled from its own rate: 20 s -> 9 windows of 2.048 s at 250 Hz each.
    assert rec["a"]["leads"]["MLII"]["windows"] == rec["b"]["leads"]["V2"]["windows"] == 9


def test_histogram_sample_spreads_across_records():
    # 300 windows of record "a", 10 of "a_b" (a prefix of another name), 5 of "c".
    stems = [f"a_II_z0_w{i:03d}" for i in range(300)]
    stems += [f"a_b_V_z0_w{i:03d}" for i in range(10)] + [f"c_V1_z0_w{i:03d}" for i in range(5)]
    picked = spread_sample(stems, ["a", "a_b", "c"], 30)
    assert len(picked) <= 30 and len(set(picked)) == len(picked)
    owners = [s.split("_")[0] if not s.startswith("a_b_") else "a_b" for s in picked]
    assert owners.count("a_b") == 10 and owners.count("c") == 5 and owners.count("a") == 10
    in_a = sorted(int(s[-3:]) for s in picked if s.startswith("a_II"))
    assert in_a[0] == 0 and in_a[-1] == 299  # evenly spaced over the whole record
