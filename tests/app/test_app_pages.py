"""AppTest: every page opens without exception on an empty runs folder; sidebar and readable errors."""

from __future__ import annotations

import pytest

from tests.app_helpers import assert_clean, errors_of, open_page

pytestmark = pytest.mark.slow

PAGES = ["1_Basins.py", "2_Train_dXAJ.py", "3_Hydrographs.py", "4_Parameters.py", "5_Rain_experiments.py",
         "6_Rain_maps.py", "7_Runs.py"]


@pytest.fixture(autouse=True)
def empty_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDROCAST_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("HYDROCAST_DATA", raising=False)


def test_home_shows_device_sources_and_no_runs():
    at = open_page()
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert "Training device" in text and "CPU" in text
    assert "demo" in text
    assert any("No runs yet" in i.value for i in at.info)
    assert at.sidebar.selectbox[0].label == "Basin data source"


@pytest.mark.parametrize("page", PAGES)
def test_page_opens_without_exception(page):
    at = open_page(page)
    assert_clean(at)
    assert at.title[0].value
    # only the rain source may legitimately be unavailable (generated demo not installed); nothing else errs
    assert all("Opening the data source" in e for e in errors_of(at)), errors_of(at)


def test_results_pages_point_to_training_when_there_are_no_runs():
    for page, where in (("3_Hydrographs.py", "Train dXAJ"), ("6_Rain_maps.py", "Rain experiments")):
        at = open_page(page)
        assert any(where in i.value for i in at.info)


def test_basins_page_selects_basins_and_shows_core_errors_readably():
    at = open_page("1_Basins.py")
    select = at.multiselect[0]
    assert select.value == ["fulda_grebenau"]
    assert len(at.get("plotly_chart")) == 2  # outlet map + forcing of the one basin
    # the two demo catchments share no common period: said once, before any training, no traceback
    select.set_value(["fulda_grebenau", "hymod_example"]).run()
    assert_clean(at)
    assert [e for e in errors_of(at) if "share no common period" in e] == errors_of(at) and len(errors_of(at)) == 1
    at.multiselect[0].set_value(["hymod_example"]).run()  # the period control came and went: fresh tree
    assert_clean(at)
    assert not errors_of(at)
    assert at.session_state["basins"] == ["hymod_example"]


def test_upload_is_validated(tmp_path):
    at = open_page("1_Basins.py")
    bad = b"date,prcp,q_obs\n2000-01-01,1.0,0.5\n2000-01-02,abc,0.4\n"
    at.file_uploader[0].set_value(("my_basin.csv", bad, "text/csv")).run()
    assert_clean(at)
    errors = errors_of(at)
    assert errors and "rejected" in errors[0] and "my_basin.csv" in errors[0]
    huge = b"date,prcp,q_obs\n" + b"0" * (26 * 1024 * 1024)
    at.file_uploader[0].set_value(("huge.csv", huge, "text/csv")).run()
    assert any("upload limit" in e and "huge.csv" in e for e in errors_of(at))
    rows = "\n".join(f"2001-01-{d:02d},{d % 3}.0,1.5,0.{d}" for d in range(1, 29))
    good = ("date,prcp,pet,q_obs\n" + rows + "\n").encode()
    at.file_uploader[0].set_value(("good_basin.csv", good, "text/csv")).run()
    assert_clean(at)
    assert not errors_of(at), errors_of(at)
    assert any("good_basin.csv: 1 basin(s), 28 time steps" in s.value for s in at.success)
    # the validated file is now a data source in the sidebar
    at.run()
    assert any("upload: good_basin.csv" in o for o in at.sidebar.selectbox[0].options)


def test_sandbox_sliders_rerun_xaj():
    at = open_page("4_Parameters.py")
    assert_clean(at)
    charts = at.get("plotly_chart")
    before = charts[-1].proto.spec
    at.slider(key="sandbox_CG").set_value(0.981).run()
    assert_clean(at)
    after = at.get("plotly_chart")[-1].proto.spec
    assert before != after and "NSE" in after


def test_sandbox_sliders_follow_the_ranges_edited_on_the_train_page():
    from core.hydro.params import DEFAULT_RANGES
    from ui.ranges import CURRENT_KEY

    at = open_page("4_Parameters.py")
    at.slider(key="sandbox_K").set_value(0.95).run()
    edited = {name: list(r) for name, r in DEFAULT_RANGES.items()}
    edited["K"] = [0.2, 1.5]
    edited["SM"] = [50.0, 60.0]
    at.session_state[CURRENT_KEY] = edited
    at.run()
    assert_clean(at)
    # new bounds make new sliders: they restart in the middle of the edited ranges
    assert (at.slider(key="sandbox_K").min, at.slider(key="sandbox_K").max) == (0.2, 1.5)
    assert at.slider(key="sandbox_K").value == pytest.approx(0.85)
    assert at.slider(key="sandbox_SM").value == pytest.approx(55.0)
    assert any("edited on" in c.value for c in at.caption)
    # an invalid table (lower above upper) leaves the sandbox on the defaults
    edited["K"] = [1.2, 0.5]
    at.session_state[CURRENT_KEY] = edited
    at.run()
    assert_clean(at)
    assert at.slider(key="sandbox_K").max == DEFAULT_RANGES["K"][1]
