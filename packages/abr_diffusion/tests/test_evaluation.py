"""The level series' conditions: the level set, fixed conditions kept, the others from the
training rows near each level."""

from __future__ import annotations

import pandas as pd

from abr_diffusion.config import load
from abr_diffusion.evaluation import series_conditions


def test_series_conditions_follow_the_config():
    train = pd.DataFrame(
        {
            "level_db": [90.0, 90.0, 50.0, 50.0, 50.0],
            "stimulus": ["8000", "8000", "8000", "click", "8000"],
        }
    )
    cfg = load("mouse", ["eval.levels=[90,50,10]"])
    rows = series_conditions(train, cfg)
    assert list(rows["level_db"]) == [90.0, 50.0, 10.0]
    assert list(rows["stimulus"]) == ["click"] * 3  # eval.series_conditions fixes it
    cfg = load("mouse", ["eval.levels=[90,50]", "eval.series_conditions={}"])
    assert list(series_conditions(train, cfg)["stimulus"]) == ["8000", "8000"]  # most frequent


def test_numeric_conditions_take_the_median_near_the_level():
    train = pd.DataFrame(
        {
            "age": [20.0, 40.0, 60.0, 80.0],
            "intensity": [90.0, 90.0, 30.0, 30.0],
            "rate": [11.0, 11.0, 51.0, 51.0],
            "fmp": [2.0, 4.0, 1.0, 1.0],
        }
    )
    rows = series_conditions(train, load("demo", ["eval.levels=[90,30,60]"]))
    assert rows.to_dict("records")[0] == {"age": 30.0, "intensity": 90.0, "rate": 11.0, "fmp": 3.0}
    assert rows["age"][1] == 70.0 and rows["rate"][1] == 51.0
    assert rows["age"][2] == 50.0  # no row within 5 dB of 60: the median of all rows
