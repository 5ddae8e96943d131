"""AppTest: Train dXAJ drives a real tiny background job to completion; results pages read it."""

from __future__ import annotations

import json
import os

import pytest

from core import jobs
from tests.app_helpers import assert_clean, button, errors_of, open_page, poll_until_final


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("app_runs")
    old = {k: os.environ.get(k) for k in ("HYDROCAST_RUNS", "HYDROCAST_DATA")}
    os.environ["HYDROCAST_RUNS"] = str(root)
    os.environ.pop("HYDROCAST_DATA", None)
    yield root
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def shrink_settings(at) -> None:
    """The quick-demo preset made smaller still, for a test: a 4-year run, 2 batches, short windows."""
    import datetime as dt

    at.date_input(key="train_period_0").set_value((dt.date(1985, 1, 1), dt.date(1987, 12, 31)))
    at.number_input(key="iters_0").set_value(2)
    at.number_input(key="warmup_0").set_value(30)
    at.number_input(key="rho_0").set_value(30)
    at.number_input(key="hidden_0").set_value(8)


@pytest.fixture(scope="module")
def trained(runs_root):
    """Start a tiny dXAJ from the Train page, refuse a second start, poll to completion."""
    at = open_page("2_Train_dXAJ.py")
    assert_clean(at)
    shrink_settings(at)
    button(at, "Start training").click().run()
    assert_clean(at)
    run_path = at.session_state["hydro_run"]
    assert any("started in the background" in s.value for s in at.success)
    # a second start while the first is training is refused with the reason
    button(at, "Start training").click().run()
    refusal = [e for e in errors_of(at) if "already running" in e]
    status = poll_until_final(run_path)
    at.run()
    return {"at": at, "run": run_path, "status": status, "refusal": refusal}


def test_job_completes_and_page_shows_results(trained):
    assert trained["status"]["state"] == "completed", trained["status"]
    at = trained["at"]
    assert_clean(at)
    assert any("completed" in m.value for m in at.markdown)
    labels = [m.label for m in at.metric]
    assert "median test NSE" in labels and "median test KGE" in labels
    assert len(at.get("plotly_chart")) >= 1  # loss curves
    assert jobs.active_job() is None


def test_second_start_was_refused(trained):
    # the worker may in rare cases finish before the second click; then there is nothing to refuse
    if trained["status"].get("finished") and not trained["refusal"]:
        pytest.skip("the tiny job finished before the second click")
    assert trained["refusal"] and "one job per device" in trained["refusal"][0]


def test_ranges_table_edit_and_validation(runs_root):
    at = open_page("2_Train_dXAJ.py")
    # edit a cell of the table: UM lower 30 above its upper 20
    at.session_state["ranges_table_0"] = {"edited_rows": {3: {"lower": 30.0}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert_clean(at)
    errors = errors_of(at)
    assert errors and "UM" in errors[0], errors
    assert button(at, "Start training").disabled
    # the one-range form: a valid change is accepted and reported
    at.session_state["ranges_table_0"] = {"edited_rows": {}, "added_rows": [], "deleted_rows": []}
    at.run()
    at.selectbox(key="range_param").set_value("SM").run()
    at.number_input(key="range_upper_SM_0").set_value(80.0)
    button(at, "Apply").click().run()
    assert_clean(at)
    assert not errors_of(at)
    assert any("Changed from the defaults: SM" in c.value for c in at.caption)
    assert at.session_state["param_ranges_current"]["SM"] == [1.0, 80.0]
    # a physically impossible value (CG must stay below 1)
    at.selectbox(key="range_param").set_value("CG").run()
    at.number_input(key="range_upper_CG_1").set_value(1.5)
    button(at, "Apply").click().run()
    assert any("CG" in e for e in errors_of(at))
    button(at, "Reset all ranges to defaults").click().run()
    assert not errors_of(at)
    assert any("(defaults)" in c.value for c in at.caption)


def test_hydrographs_page(trained):
    at = open_page("3_Hydrographs.py")
    assert_clean(at)
    assert at.selectbox(key="hydro_run_pick").value == os.path.basename(trained["run"])
    assert at.selectbox(key="hydro_basin_pick").value == "fulda_grebenau"
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    names = [[t.get("name") for t in s["data"]] for s in specs]
    assert ["rainfall", "observed", "dXAJ (dPL)"] == names[0]
    assert "exceedance" in json.dumps(specs[1]["layout"]["xaxis"]["title"])
    table = at.dataframe[0].value
    assert set(table["basin"]) == {"fulda_grebenau", "median"}


def test_parameters_page_shows_15_trajectories(trained):
    at = open_page("4_Parameters.py")
    assert_clean(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert titles[:15] == ["K", "B", "IM", "UM", "LM", "DM", "C", "SM", "EX", "KI", "KG", "A", "THETA", "CI", "CG"]
    # the sandbox can start from what the LSTM learned for the basin
    import numpy as np
    import xarray as xr

    with xr.open_dataset(os.path.join(trained["run"], "predictions.nc")) as ds:
        median_sm = float(np.nanmedian(ds["params"].sel(basin="fulda_grebenau", param="SM").values))
    button(at, "Start from the LSTM's median parameters for this basin").click().run()
    assert_clean(at)
    assert at.slider(key="sandbox_SM").value == pytest.approx(median_sm, abs=1e-6)


def test_runs_page_lists_compares_and_exports(trained):
    at = open_page("7_Runs.py")
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table["state"]) == ["completed"]
    assert any(b.label == "Export metrics (CSV)" for b in at.get("download_button"))
    metrics = at.dataframe[1].value
    assert {"model", "where", "score", "value"} <= set(metrics.columns)
    assert ((metrics["where"] == "median") & (metrics["score"] == "nse")).any()


def test_cancel_from_the_page(trained):
    at = open_page("2_Train_dXAJ.py")
    at.radio(key="hydro_preset").set_value("standard (configs/hydro_quick.yaml)").run()
    button(at, "Start training").click().run()
    assert_clean(at)
    run_path = at.session_state["hydro_run"]
    assert run_path != trained["run"]
    cancel = [b for b in at.button if b.label == "Cancel training"]
    assert cancel, "a running job offers Cancel"
    cancel[0].click().run()
    assert_clean(at)
    status = poll_until_final(run_path, timeout=60)
    assert status["state"] == "cancelled"
    assert jobs.active_job() is None


def test_runs_page_deletes_a_run(trained):
    at = open_page("7_Runs.py")
    names = list(at.dataframe[0].value["run"])
    cancelled = [n for n in names if n != os.path.basename(trained["run"])]
    if not cancelled:
        pytest.skip("needs the cancelled run of test_cancel_from_the_page")
    at.selectbox(key="runs_pick").set_value(cancelled[0]).run()
    button(at, "Yes, delete").click().run()
    assert_clean(at)
    assert list(at.dataframe[0].value["run"]) == [os.path.basename(trained["run"])]
