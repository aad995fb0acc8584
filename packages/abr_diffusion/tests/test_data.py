"""Synthetic generator, readers (tables, BioSigRZ exports), the grid, bad rows, conditions,
splits, normalisation and peaks."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from scipy import signal as sps

from abr_diffusion.config import ConditionConfig, DataConfig
from abr_diffusion.data import (
    AmplitudeModel,
    ColumnNames,
    ConditionEncoder,
    read_biosig_csv,
    read_recordings,
    read_table,
    split_rows,
    to_grid,
    zscore_signals,
)
from abr_diffusion.peaks import HUMAN_WAVES, peak_latencies
from abr_diffusion.synthetic import SAMPLE_RATE, STATIC_NAMES, clean_response, generate, time_ms
from sigshared.errors import DataError, UserError

HUMAN = ColumnNames("patient_id", list(STATIC_NAMES), "s")
MOUSE_RATE = 1e6 / 40.96  # a BioSigRZ sampling period of 40.96 µs


def _wide_frame(data) -> pd.DataFrame:
    frame = data.conditions.copy()
    frame.insert(0, "patient_id", data.patient_id)
    sig = pd.DataFrame(data.signals, columns=[f"s{i}" for i in range(data.signals.shape[1])])
    return pd.concat([frame, sig], axis=1)


def test_synthetic_is_seeded_and_shaped():
    a, b = generate(5, 3, seed=7), generate(5, 3, seed=7)
    assert a.signals.shape == (15, 200) and list(a.conditions.columns) == list(STATIC_NAMES)
    assert a.sample_rate == SAMPLE_RATE
    assert np.array_equal(a.signals, b.signals)
    assert len(np.unique(a.patient_id)) == 5
    assert not np.array_equal(a.signals, generate(5, 3, seed=8).signals)


def test_latency_grows_and_amplitude_shrinks_as_intensity_falls():
    levels = np.array([90.0, 70.0, 50.0, 30.0])
    ones = np.ones(4)
    x, lat = clean_response(20 * ones, levels, 11 * ones, 0 * ones, 0 * ones, ones)
    assert np.all(np.diff(lat[:, 2]) > 0)  # wave V later at lower levels
    assert np.all(np.diff(x.max(axis=1)) < 0)  # smaller response
    # Textbook latencies at high level: I ~1.6, III ~3.7, V ~5.6 ms.
    assert np.allclose(lat[0], [1.6, 3.66, 5.56], atol=0.1)
    # On clean responses the waveform's wave V peak lies within 0.12 ms of the centre of the
    # V component (wave IV and the SN10 trough pull it); generate() stores the peak.
    assert np.allclose(peak_latencies(x, SAMPLE_RATE)[:, 2], lat[:, 2], atol=0.12)


@pytest.mark.parametrize("rate", [SAMPLE_RATE, MOUSE_RATE])
def test_peak_detector_against_known_gaussians_at_any_rate(rate):
    t = time_ms(int(0.01 * rate), rate)
    centres = np.array([1.73, 4.02, 6.61])
    x = sum(np.exp(-0.5 * ((t - c) / 0.25) ** 2) for c in centres)[None]
    assert np.allclose(peak_latencies(x, rate, HUMAN_WAVES)[0], centres, atol=0.01)
    mouse = (("I", 1.0, 2.5), ("II", 2.5, 3.5))
    y = np.exp(-0.5 * ((t - 1.42) / 0.15) ** 2)[None]
    assert abs(peak_latencies(y, rate, mouse)[0, 0] - 1.42) < 0.01


def test_to_grid_resamples_polyphase_and_crops_or_pads():
    t_src = np.arange(244) / MOUSE_RATE
    tone = np.sin(2 * np.pi * 1000 * t_src)[None]
    out = to_grid(tone, MOUSE_RATE, 20_000.0, 200)
    t_out = np.arange(200) / 20_000.0
    # Away from the edges (the filter's transient), the 1 kHz tone is reproduced.
    inner = slice(20, 180)
    assert np.allclose(out[0, inner], np.sin(2 * np.pi * 1000 * t_out)[inner], atol=0.02)
    # Against scipy directly: 20000 / 24414.0625 = 512 / 625.
    assert np.allclose(out, sps.resample_poly(tone, 512, 625, axis=1)[:, :200])
    padded = to_grid(np.arange(10.0)[None], 100.0, 100.0, 14)
    assert np.array_equal(padded[0], [*range(10), 4.5, 4.5, 4.5, 4.5])
    assert np.array_equal(to_grid(np.arange(10.0)[None], 1.0, 1.0, 4)[0], [0, 1, 2, 3])


def test_biosig_export_is_read_with_its_rate_and_conditions(tmp_path, biosig_writer):
    rng = np.random.default_rng(0)
    signals = rng.normal(size=(5, 244))
    levels = [90, 70, 50, 90, 10]
    freqs = [100.0, 100.0, 100.0, 8000.0, 100.0]
    biosig_writer(tmp_path / "m.csv", levels, freqs, signals, subject="55")
    data = read_biosig_csv(tmp_path / "m.csv")
    assert data.sample_rate == pytest.approx(MOUSE_RATE)
    assert np.allclose(data.signals, signals, atol=1e-6)
    assert list(data.conditions["level_db"]) == levels
    assert list(data.conditions["stimulus"]) == ["click", "click", "click", "8000", "click"]
    assert (
        np.isnan(data.conditions["frequency_hz"][0]) and data.conditions["frequency_hz"][3] == 8000
    )
    assert set(data.patient_id) == {"55"}
    # Through read_recordings (auto-detected, a glob) it lands on the model's grid.
    biosig_writer(tmp_path / "n.csv", levels, freqs, signals, subject="80")
    cfg = DataConfig(
        conditions=[ConditionConfig("level_db"), ConditionConfig("stimulus", categorical=True)]
    )
    both = read_recordings(str(tmp_path / "*.csv"), cfg)
    assert both.signals.shape == (10, 200) and both.sample_rate == 20_000.0
    assert set(both.patient_id) == {"55", "80"}


def test_biosig_bad_rows_and_wrong_files(tmp_path, biosig_writer):
    signals = np.random.default_rng(1).normal(size=(3, 50))
    signals[1, 5] = np.nan
    biosig_writer(tmp_path / "m.csv", [90, 70, 50], [100.0] * 3, signals)
    log = io.StringIO()
    assert len(read_biosig_csv(tmp_path / "m.csv", log=log)) == 2
    assert "skipped 1 of 3 rows" in log.getvalue()
    _wide_frame(generate(2, 1, seed=0)).to_csv(tmp_path / "table.csv", index=False)
    with pytest.raises(DataError, match="not a BioSigRZ CSV export"):
        read_biosig_csv(tmp_path / "table.csv")


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npz"])
def test_table_formats_round_trip(tmp_path, suffix):
    data = generate(4, 2, seed=1)
    path = tmp_path / f"abr{suffix}"
    if suffix == ".csv":
        _wide_frame(data).to_csv(path, index=False)
    elif suffix == ".parquet":
        frame = data.conditions.copy()
        frame["patient_id"] = data.patient_id
        frame["s"] = list(data.signals)  # an array column
        frame.to_parquet(path)
    else:
        np.savez(
            path,
            patient_id=data.patient_id,
            s=data.signals,
            sample_rate=np.float64(20_000.0),
            **{n: data.conditions[n].to_numpy() for n in STATIC_NAMES},
        )
    loaded = read_table(path, HUMAN)
    assert np.allclose(loaded.signals, data.signals, atol=1e-6)
    assert np.allclose(loaded.conditions.to_numpy(float), data.conditions.to_numpy(), atol=1e-5)
    assert list(loaded.patient_id) == list(data.patient_id)
    assert loaded.sample_rate == (20_000.0 if suffix == ".npz" else None)


def test_a_table_at_another_rate_is_resampled_to_the_grid(tmp_path):
    data = generate(3, 2, seed=1)
    fine = to_grid(data.signals, SAMPLE_RATE, 40_000.0, 400)
    frame = data.conditions.copy()
    frame.insert(0, "patient_id", data.patient_id)
    frame = pd.concat([frame, pd.DataFrame(fine, columns=[f"s{i}" for i in range(400)])], axis=1)
    frame.to_csv(tmp_path / "fine.csv", index=False)
    loaded = read_recordings(str(tmp_path / "fine.csv"), DataConfig(source_sample_rate=40_000.0))
    assert loaded.signals.shape == (6, 200)
    # 20 -> 40 -> 20 kHz gives the signal back away from the edges.
    assert np.allclose(loaded.signals[:, 20:180], data.signals[:, 20:180], atol=0.02)


def test_configurable_column_names(tmp_path):
    data = generate(3, 2, seed=1)
    frame = _wide_frame(data).rename(columns={"patient_id": "subject", "age": "years"})
    frame = frame.rename(columns={f"s{i}": f"amp{i}" for i in range(200)})
    frame.to_csv(tmp_path / "x.csv", index=False)
    names = ColumnNames("subject", ["years", "intensity", "rate", "fmp"], "amp")
    assert len(read_table(tmp_path / "x.csv", names)) == 6


def test_bad_rows_are_reported_and_skipped(tmp_path):
    data = generate(4, 3, seed=2)
    frame = _wide_frame(data)
    frame.loc[1, "s17"] = np.nan
    frame.loc[4, "intensity"] = np.nan
    frame.loc[7, "patient_id"] = None
    frame.loc[9, [f"s{i}" for i in range(200)]] = 0.25
    frame.to_csv(tmp_path / "bad.csv", index=False)
    log = io.StringIO()
    loaded = read_table(tmp_path / "bad.csv", HUMAN, log=log)
    assert len(loaded) == 12 - 4
    msg = log.getvalue()
    assert "skipped 4 of 12 rows" in msg and "2 with NaN/Inf or a missing condition" in msg
    assert "1 with a constant signal" in msg and "1 without a subject id" in msg
    assert "first offending rows (0-based): 1, 4, 7, 9" in msg


def test_wrong_length_array_cells_are_skipped(tmp_path):
    frame = pd.DataFrame(
        {
            "patient_id": ["a", "b", "c"],
            "age": [30, 40, 50],
            "intensity": [80, 60, 40],
            "rate": [11, 21, 31],
            "fmp": [3.0, 2.0, 1.5],
            "s": [" ".join(map(str, np.sin(np.arange(n)))) for n in (200, 150, 200)],
        }
    )
    frame.to_csv(tmp_path / "arr.csv", index=False)
    log = io.StringIO()
    loaded = read_table(tmp_path / "arr.csv", HUMAN, log=log)
    assert len(loaded) == 2
    assert "1 with a signal length other than 200" in log.getvalue()


def test_no_usable_rows_and_missing_columns_fail_clearly(tmp_path):
    data = generate(2, 1, seed=0)
    frame = _wide_frame(data)
    frame["s3"] = np.nan
    frame.to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(DataError, match="no usable rows are left"):
        read_table(tmp_path / "nan.csv", HUMAN)
    _wide_frame(data).drop(columns=["rate"]).to_csv(tmp_path / "cols.csv", index=False)
    with pytest.raises(DataError, match=r"missing column\(s\) rate.*data\.conditions"):
        read_table(tmp_path / "cols.csv", HUMAN)
    _wide_frame(data).drop(columns=["s100"]).to_csv(tmp_path / "gap.csv", index=False)
    with pytest.raises(DataError, match="not consecutive"):
        read_table(tmp_path / "gap.csv", HUMAN)
    with pytest.raises(UserError, match="data file not found"):
        read_table(tmp_path / "absent.csv", HUMAN)
    with pytest.raises(DataError, match="no data file matches"):
        read_recordings(str(tmp_path / "none*.csv"), DataConfig())


def test_split_by_group_has_no_overlap_and_the_fractions():
    data = generate(100, 3, seed=0)
    train, val, test = split_rows(data.patient_id, (0.7, 0.15, 0.15), seed=42)
    sets = [set(data.patient_id[s]) for s in (train, val, test)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert [len(s) for s in sets] == [70, 15, 15]
    assert len(train) + len(val) + len(test) == 300
    again = split_rows(data.patient_id, (0.7, 0.15, 0.15), seed=42)
    assert all(np.array_equal(a, b) for a, b in zip(again, (train, val, test)))
    assert not np.array_equal(split_rows(data.patient_id, (0.7, 0.15, 0.15), seed=1)[2], test)
    with pytest.raises(DataError, match="set data.split_by to row"):
        split_rows(np.array(["a", "a", "b"]))
    rows = split_rows(np.arange(20), (0.5, 0.25, 0.25), seed=0)
    assert [len(r) for r in rows] == [10, 5, 5]


def test_zscore_and_the_condition_encoder():
    x = np.random.default_rng(0).normal(3.0, 2.0, (5, 200))
    z, mean, std = zscore_signals(x)
    assert np.allclose(z.mean(1), 0, atol=1e-12) and np.allclose(z.std(1), 1)
    assert np.allclose(z * std[:, None] + mean[:, None], x)
    frame = pd.DataFrame(
        {
            "level": [80.0, 60.0, 40.0],
            "rate": [11.0, 11.0, 11.0],
            "fmp": [1.0, np.e, np.e**2],
            "stimulus": ["click", "8000", "click"],
        }
    )
    specs = [
        ConditionConfig("level"),
        ConditionConfig("rate"),
        ConditionConfig("fmp", scaling="log"),
        ConditionConfig("stimulus", categorical=True),
    ]
    enc = ConditionEncoder.fit(frame, specs)
    out = enc.transform(frame)
    assert enc.width == 5 and out.shape == (3, 5)
    assert np.allclose(out[:, 0], (frame["level"] - 60) / frame["level"].std(ddof=0))
    assert np.allclose(out[:, 1], 0)  # a constant column is centred, not divided by 0
    assert np.allclose(out[:, 2], [-1.2247449, 0, 1.2247449], atol=1e-6)  # log: 0, 1, 2
    assert np.array_equal(out[:, 3:], [[0, 1], [1, 0], [0, 1]])  # categories "8000", "click"
    assert enc.default == [60.0, 11.0, np.e, "click"]
    with pytest.raises(DataError, match="unknown value\\(s\\) 4000; the model knows 8000, click"):
        enc.transform(frame.assign(stimulus=["4000", "click", "click"]))
    with pytest.raises(DataError, match="condition level: non-numeric, NaN or Inf values in rows"):
        enc.transform(frame.assign(level=[1.0, np.nan, 2.0]))
    assert ConditionEncoder(**enc.to_dict()).transform(frame).tolist() == out.tolist()


def test_amplitude_model_recovers_a_linear_law():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 4))
    std = np.exp(0.3 + 0.5 * z[:, 1])
    mean = 0.1 - 0.2 * z[:, 0]
    model = AmplitudeModel.fit(z, mean, std)
    m, s = model.predict(z[:3])
    assert np.allclose(m, mean[:3]) and np.allclose(s, std[:3])
