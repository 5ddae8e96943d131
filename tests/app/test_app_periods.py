"""AppTest: overlapping training/validation/test periods show one message and disable Start."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.app_helpers import assert_clean, errors_of, open_page

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def empty_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDROCAST_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("HYDROCAST_DATA", raising=False)


def start_button(at):
    [button] = [b for b in at.button if b.label == "Start training"]
    return button


def test_train_page_refuses_overlapping_periods():
    at = open_page("2_Train_dXAJ.py")
    assert_clean(at)
    assert not start_button(at).disabled and not errors_of(at)
    at.date_input(key="train_period_0").set_value((dt.date(1980, 1, 1), dt.date(1986, 6, 30))).run()
    at.date_input(key="test_period_0").set_value((dt.date(1986, 1, 1), dt.date(1988, 12, 31))).run()
    assert_clean(at)
    overlap = [e for e in errors_of(at) if "overlap" in e]
    assert len(overlap) == 1 and "from 1986-01-01 to 1986-06-30" in overlap[0], errors_of(at)
    assert start_button(at).disabled
    at.date_input(key="train_period_0").set_value((dt.date(1980, 1, 1), dt.date(1985, 12, 31))).run()
    assert not [e for e in errors_of(at) if "overlap" in e]
    assert not start_button(at).disabled


def test_rain_page_refuses_overlapping_periods():
    at = open_page("5_Rain_experiments.py")
    assert_clean(at)
    assert not start_button(at).disabled
    at.date_input(key="rain_val_period").set_value((dt.date(2001, 4, 20), dt.date(2001, 5, 20))).run()
    assert_clean(at)
    overlap = [e for e in errors_of(at) if "overlap" in e]
    assert len(overlap) == 1 and "'train' and 'val' overlap from 2001-04-20 to 2001-04-30" in overlap[0], overlap
    assert start_button(at).disabled
