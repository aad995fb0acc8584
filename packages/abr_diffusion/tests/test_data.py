"""Synthetic generator, table loader, bad rows, patient split, normalisation and peaks."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from abr_diffusion.data import (
    AmplitudeModel,
    ColumnNames,
    StaticScaler,
    load_table,
    patient_split,
    zscore_signals,
)
from abr_diffusion.peaks import peak_latencies
from abr_diffusion.synthetic import clean_response, generate, time_ms
from sigshared.errors import UserError


def _wide_frame(data) -> pd.DataFrame:
    frame = pd.DataFrame(data.static, columns=["age", "intensity", "rate", "fmp"])
    frame.insert(0, "patient_id", data.patient_id)
    sig = pd.DataFrame(data.signals, columns=[f"s{i}" for i in range(data.signals.shape[1])])
    return pd.concat([frame, sig], axis=1)


def test_synthetic_is_seeded_and_shaped():
    a, b = generate(5, 3, seed=7), generate(5, 3, seed=7)
    assert a.signals.shape == (15, 200) and a.static.shape == (15, 4)
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
    assert np.allclose(peak_latencies(x)[:, 2], lat[:, 2], atol=0.12)


def test_peak_detector_against_a_known_gaussian():
    t = time_ms()
    centres = np.array([1.73, 4.02, 6.61])
    x = sum(np.exp(-0.5 * ((t - c) / 0.25) ** 2) for c in centres)[None]
    assert np.allclose(peak_latencies(x)[0], centres, atol=0.01)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npz"])
def test_table_formats_round_trip(tmp_path, suffix):
    data = generate(4, 2, seed=1)
    path = tmp_path / f"abr{suffix}"
    if suffix == ".csv":
        _wide_frame(data).to_csv(path, index=False)
    elif suffix == ".parquet":
        frame = pd.DataFrame(data.static, columns=["age", "intensity", "rate", "fmp"])
        frame["patient_id"] = data.patient_id
        frame["s"] = list(data.signals)  # an array column
        frame.to_parquet(path)
    else:
        np.savez(
            path,
            patient_id=data.patient_id,
            s=data.signals,
            **{n: data.static[:, j] for j, n in enumerate(["age", "intensity", "rate", "fmp"])},
        )
    loaded = load_table(path)
    assert np.allclose(loaded.signals, data.signals, atol=1e-6)
    assert np.allclose(loaded.static, data.static, atol=1e-5)
    assert list(loaded.patient_id) == list(data.patient_id)


def test_configurable_column_names(tmp_path):
    data = generate(3, 2, seed=1)
    frame = _wide_frame(data).rename(columns={"patient_id": "subject", "age": "years"})
    frame = frame.rename(columns={f"s{i}": f"amp{i}" for i in range(200)})
    frame.to_csv(tmp_path / "x.csv", index=False)
    names = ColumnNames("subject", ["years", "intensity", "rate", "fmp"], "amp")
    assert len(load_table(tmp_path / "x.csv", names)) == 6


def test_bad_rows_are_reported_and_skipped(tmp_path):
    data = generate(4, 3, seed=2)
    frame = _wide_frame(data)
    frame.loc[1, "s17"] = np.nan
    frame.loc[4, "intensity"] = np.nan
    frame.loc[7, "patient_id"] = None
    frame.loc[9, [f"s{i}" for i in range(200)]] = 0.25
    frame.to_csv(tmp_path / "bad.csv", index=False)
    log = io.StringIO()
    loaded = load_table(tmp_path / "bad.csv", log=log)
    assert len(loaded) == 12 - 4
    msg = log.getvalue()
    assert "skipped 4 of 12 rows" in msg and "2 with NaN/Inf" in msg
    assert "1 with a constant signal" in msg and "1 without patient_id" in msg
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
    loaded = load_table(tmp_path / "arr.csv", log=log)
    assert len(loaded) == 2
    assert "1 with a signal length other than 200" in log.getvalue()


def test_no_usable_rows_and_missing_columns_fail_clearly(tmp_path):
    data = generate(2, 1, seed=0)
    frame = _wide_frame(data)
    frame["s3"] = np.nan
    frame.to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(UserError, match="no usable rows are left"):
        load_table(tmp_path / "nan.csv")
    _wide_frame(data).drop(columns=["rate"]).to_csv(tmp_path / "cols.csv", index=False)
    with pytest.raises(UserError, match="missing column\\(s\\) rate"):
        load_table(tmp_path / "cols.csv")
    _wide_frame(data).drop(columns=["s199"]).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(UserError, match="expected signal columns s0 .. s199, found 199"):
        load_table(tmp_path / "short.csv")
    with pytest.raises(UserError, match="data file not found"):
        load_table(tmp_path / "absent.csv")


def test_patient_split_has_no_overlap_and_the_fractions():
    data = generate(100, 3, seed=0)
    train, val, test = patient_split(data.patient_id, (0.7, 0.15, 0.15), seed=42)
    sets = [set(data.patient_id[s]) for s in (train, val, test)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert [len(s) for s in sets] == [70, 15, 15]
    assert len(train) + len(val) + len(test) == 300
    again = patient_split(data.patient_id, (0.7, 0.15, 0.15), seed=42)
    assert all(np.array_equal(a, b) for a, b in zip(again, (train, val, test)))
    other = patient_split(data.patient_id, (0.7, 0.15, 0.15), seed=1)
    assert not np.array_equal(other[2], test)


def test_zscore_and_static_scaler():
    x = np.random.default_rng(0).normal(3.0, 2.0, (5, 200))
    z, mean, std = zscore_signals(x)
    assert np.allclose(z.mean(1), 0, atol=1e-12) and np.allclose(z.std(1), 1)
    assert np.allclose(z * std[:, None] + mean[:, None], x)
    static = np.array([[20, 80, 11, 2.0], [40, 60, 11, 3.0], [60, 40, 11, 4.0]])
    scaler = StaticScaler.fit(static)
    out = scaler.transform(static)
    assert np.allclose(out[:, :2].mean(0), 0, atol=1e-6) and np.allclose(out[:, 0].std(), 1)
    assert np.allclose(out[:, 2], 0)  # a constant column is centred, not divided by 0


def test_amplitude_model_recovers_a_linear_law():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 4))
    std = np.exp(0.3 + 0.5 * z[:, 1])
    mean = 0.1 - 0.2 * z[:, 0]
    model = AmplitudeModel.fit(z, mean, std)
    m, s = model.predict(z[:3])
    assert np.allclose(m, mean[:3]) and np.allclose(s, std[:3])
