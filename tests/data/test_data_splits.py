"""Periods by date and normalisation fitted on the training period only (on the real demo data)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.data import DataError, load_basins
from core.data.splits import Normalizer, split_periods

PERIODS = {"train": ("1979-01-01", "1984-12-31"), "valid": ("1985-01-01", "1986-12-31"), "test": ("1987-01-01", "1988-12-31")}


@pytest.fixture(scope="module")
def demo():
    return load_basins("demo")


def test_split_by_date(demo):
    parts = split_periods(demo, PERIODS)
    assert parts["train"].sizes["time"] == 2192  # 6 years incl. 1980 and 1984 leap days
    assert str(parts["valid"].time.values[0])[:10] == "1985-01-01"
    assert str(parts["test"].time.values[-1])[:10] == "1988-12-31"
    assert sum(p.sizes["time"] for p in parts.values()) == demo.sizes["time"]


def test_statistics_from_training_period_only(demo):
    parts = split_periods(demo, PERIODS)
    norm = Normalizer.fit(parts["train"], ["prcp", "pet", "q_obs"], statics=["area_km2"])
    train_q = parts["train"]["q_obs"].values
    assert norm.stats["q_obs"]["mean"] == pytest.approx(np.nanmean(train_q))
    assert norm.stats["q_obs"]["std"] == pytest.approx(np.nanstd(train_q))
    assert norm.stats["q_obs"]["mean"] != pytest.approx(float(demo["q_obs"].mean()), rel=1e-6)
    assert norm.period == ("1979-01-01", "1984-12-31")
    z_train = norm.transform(parts["train"])
    assert float(z_train["prcp"].mean()) == pytest.approx(0.0, abs=1e-12)
    assert float(z_train["prcp"].std()) == pytest.approx(1.0)
    z_test = norm.transform(parts["test"])
    assert z_test["prcp"].attrs["units"] == "1"
    assert float(z_test["prcp"].mean()) != pytest.approx(0.0, abs=1e-3)  # test scaled with train stats
    back = norm.inverse_transform(z_test)
    np.testing.assert_allclose(back["q_obs"].values, parts["test"]["q_obs"].values)
    assert back["q_obs"].attrs["units"] == "mm/day"
    # constant static (one basin): std replaced by 1, maps to 0
    assert norm.stats["area_km2"]["std"] == 1.0


def test_roundtrip_through_json(demo):
    norm = Normalizer.fit(split_periods(demo, {"train": PERIODS["train"]})["train"], ["prcp", "q_obs"])
    again = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert again == norm
    x = np.array([0.0, 1.5, np.nan])
    np.testing.assert_allclose(again.invert(again.apply(x, "q_obs"), "q_obs"), x)


def test_split_errors(demo):
    with pytest.raises(DataError, match=r"periods 'train' and 'test' overlap from 1984-01-01 to 1984-12-31"):
        split_periods(demo, {"train": ("1979-01-01", "1984-12-31"), "test": ("1984-01-01", "1988-12-31")})
    with pytest.raises(DataError, match=r"test period 1987-01-01 .. 1990-12-31 is outside the data \(1979-01-01 .. 1988-12-31\).*date=1990-12-31"):
        split_periods(demo, {"test": ("1987-01-01", "1990-12-31")})
    with pytest.raises(DataError, match=r"train period starts 1985-01-01 after it ends 1980-01-01"):
        split_periods(demo, {"train": ("1985-01-01", "1980-01-01")})
    with pytest.raises(DataError, match=r"train period must be \(start, end\)"):
        split_periods(demo, {"train": "1985"})
    norm = Normalizer.fit(demo, ["prcp"])
    with pytest.raises(DataError, match=r"no normalisation statistics for 'pet'"):
        norm.apply(demo["pet"], "pet")
    with pytest.raises(DataError, match=r"cannot normalise 'srad': not in the dataset.*file=demo"):
        Normalizer.fit(demo, ["srad"])
    with pytest.raises(DataError, match=r"no finite value in the training period.*variable=q_obs"):
        Normalizer.fit(load_basins("demo", basins="hymod_example", end="2012-12-31"), ["q_obs"])
