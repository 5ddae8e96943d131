"""AppTest: choices kept across pages, problems shown once before Start with Start disabled, run
comparison listing the differing settings, the sandbox scoring its test period, readable statuses."""

from __future__ import annotations

import pytest

from core.atomic_io import atomic_write_yaml
from core.runs.folder import RunDir, new_run_dir
from tests.app_helpers import assert_clean, button, errors_of, open_page

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def empty_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDROCAST_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("HYDROCAST_DATA", raising=False)
    return tmp_path / "runs"


def _start(at):
    return button(at, "Start training")


def test_rain_region_and_experiment_kept_across_pages():
    at = open_page("5_Rain_experiments.py")
    at.number_input(key="r1_east").set_value(118.0).run()
    at.radio(key="rain_experiments").set_value("exp2").run()
    at.switch_page("pages/6_Rain_maps.py").run()
    at.switch_page("pages/5_Rain_experiments.py").run()
    assert_clean(at)
    assert at.number_input(key="r1_east").value == 118.0
    assert at.radio(key="rain_experiments").value == "exp2"
    assert not _start(at).disabled


def test_region_outside_the_grid_disables_start_with_one_message():
    at = open_page("5_Rain_experiments.py")
    at.number_input(key="r1_east").set_value(179.0).run()
    assert_clean(at)
    errors = errors_of(at)
    assert len(errors) == 1 and "falls outside the grid" in errors[0]
    assert _start(at).disabled


def test_two_demo_basins_keep_the_train_page_usable():
    at = open_page("1_Basins.py")
    at.multiselect[0].set_value(["fulda_grebenau", "hymod_example"]).run()
    assert_clean(at)
    assert any("share no common period" in e for e in errors_of(at))
    assert any("Not on the map" in c.value and "hymod_example" in c.value for c in at.caption)
    at.switch_page("pages/2_Train_dXAJ.py").run()
    assert_clean(at)
    errors = errors_of(at)
    assert len(errors) == 1 and "share no common period" in errors[0]
    assert _start(at).disabled
    # the settings and the range table (with its reset button) are still drawn
    assert len(at.date_input) == 2 and button(at, "Reset all ranges to defaults")
    # back to one basin: the period control appears and Start is enabled
    at.switch_page("pages/1_Basins.py").run()
    at.multiselect[0].set_value(["fulda_grebenau"]).run()
    assert at.date_input(key="data_period").value
    at.switch_page("pages/2_Train_dXAJ.py").run()
    assert not errors_of(at) and not _start(at).disabled


def test_overlapping_periods_disable_start():
    at = open_page("2_Train_dXAJ.py")
    train = at.date_input(key="train_period_0")
    test = at.date_input(key="test_period_0")
    train.set_value((train.value[0], test.value[1]))
    _start(at).click().run()  # the form sends its fields; the check runs on the new values
    assert any("overlap" in e for e in errors_of(at))
    assert _start(at).disabled


def test_runs_compare_lists_config_differences_and_hides_internal_keys(empty_runs):
    runs = []
    for east in (120, 118):
        run = new_run_dir("rain", "cmp", empty_runs)
        atomic_write_yaml(run.config_path, {"kind": "rain", "_config_dir": "/somewhere",
                                            "regions": {"region1": {"lat": [28, 44], "lon": [104, east]}}})
        run.update_status(state="cancelled", message="received signal 15")
        runs.append(run)
    at = open_page("7_Runs.py")
    assert_clean(at)
    assert all("_config_dir" not in c.value for c in at.code)
    frames = [f.value for f in at.dataframe]
    assert "Cancelled by user" in set(frames[0]["message"]) and "received signal 15" not in set(frames[0]["message"])
    diff = next(f for f in frames if "setting" in f.columns)
    assert list(diff["setting"]) == ["regions.region1.lon"]


def test_sandbox_scores_the_test_period_and_keeps_sliders():
    at = open_page("4_Parameters.py")
    assert_clean(at)
    labels = {m.label: m.value for m in at.metric}
    assert "NSE (test period)" in labels
    before = labels["NSE (test period)"]
    at.slider(key="sandbox_K").set_value(0.5).run()
    assert at.metric[0].value != before
    at.switch_page("pages/3_Hydrographs.py").run()
    at.switch_page("pages/4_Parameters.py").run()
    assert at.slider(key="sandbox_K").value == 0.5
    assert not at.warning  # no "default value and Session State API" warning


def test_demo_button_queues_hydro_then_rain(monkeypatch):
    started = []

    def fake_start(kind, config, root=None, name=None, device=None):
        run = new_run_dir(kind, name, root)
        run.update_status(state="completed", progress=1.0, message="done")
        started.append((kind, config))
        return run

    monkeypatch.setattr("core.runs.jobs.start_job", fake_start)
    at = open_page()
    button(at, "▶ Run the demo").click().run()
    assert_clean(at)
    assert [k for k, _ in started] == ["hydro", "rain"]
    hydro_config = started[0][1]
    assert hydro_config["baselines"] == ["static_xaj", "lstm"] and hydro_config["data"]["basins"] == ["fulda_grebenau"]
    assert RunDir(at.session_state["demo"]["runs"]["rain"]).read_status()["state"] == "completed"
