"""AppTest: Train dXAJ drives a real tiny background job to completion; results pages read it."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from core.runs import jobs
from core.runs.folder import RunDir
from ui.run_tables import metrics_frame
from tests.app_helpers import assert_clean, button, errors_of, open_page, poll_until_final

pytestmark = pytest.mark.slow


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
    # the quick preset (the demo's) holds out two years; one is enough here
    at.date_input(key="test_period_0").set_value((dt.date(1988, 1, 1), dt.date(1988, 12, 31)))
    at.number_input(key="iters_0").set_value(2)
    at.number_input(key="warmup_0").set_value(30)
    at.number_input(key="rho_0").set_value(30)
    at.number_input(key="hidden_0").set_value(8)
    at.multiselect(key="baselines_0").set_value([])  # dXAJ alone


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


def test_second_start_is_refused_while_a_job_runs(trained, runs_root):
    """A job started outside the page holds the CPU: the page refuses to start another and says why."""
    from tests.runs.test_jobs import tiny_hydro_config

    busy = jobs.start_job("hydro", tiny_hydro_config(epochs=50, iterations=50), runs_root, device="cpu")
    try:
        at = open_page("2_Train_dXAJ.py")
        shrink_settings(at)
        button(at, "Start training").click().run()
        refusal = [e for e in errors_of(at) if "already running" in e]
        assert refusal and "one job per device" in refusal[0] and busy.name in refusal[0], errors_of(at)
    finally:
        status = jobs.cancel_job(busy, grace_seconds=5)
    assert status["state"] in ("cancelled", "completed", "failed")
    assert jobs.active_job() is None


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


def _copy_run(trained, runs_root, name: str, nse_change: float = 0.0) -> RunDir:
    """A second finished run: the trained one copied, its median test NSE moved by ``nse_change``."""
    copy = RunDir(shutil.copytree(trained["run"], runs_root / name))
    metrics = copy.read_metrics()
    metrics["test"]["median"]["nse"] = metrics["test"]["median"]["nse"] + nse_change
    copy.write_metrics(metrics)
    return copy


def _frame_with(at, column: str):
    frames = [d.value for d in at.dataframe if column in d.value.columns]
    assert frames, f"no table with a {column!r} column"
    return frames[0]


def test_runs_page_lists_compares_and_exports(trained, runs_root):
    name = os.path.basename(trained["run"])
    other = _copy_run(trained, runs_root, "hydro-compare-copy", nse_change=0.125)
    try:
        at = open_page("7_Runs.py")
        assert_clean(at)
        table = at.dataframe[0].value
        assert table.loc[table["run"] == name, "state"].tolist() == ["completed"]
        # the metrics table (what "Export metrics (CSV)" writes) holds the run's own numbers
        at.selectbox(key="runs_pick").set_value(name).run()
        assert any(b.label == "Export metrics (CSV)" for b in at.get("download_button"))
        metrics = _frame_with(at, "value")
        expected = RunDir(trained["run"]).read_metrics()["test"]
        shown = metrics[(metrics["model"] == "dpl") & (metrics["where"] == "median") & (metrics["score"] == "nse")]
        assert shown["value"].tolist() == pytest.approx([expected["median"]["nse"]])
        assert metrics.equals(metrics_frame(RunDir(trained["run"])))
        # compare: run B's NSE is run A's + 0.125, so the difference column reads +0.125
        at.selectbox(key="compare_a").set_value(name).run()
        at.selectbox(key="compare_b").set_value(other.name).run()
        assert_clean(at)
        compared = _frame_with(at, "difference (b - a)")
        row = compared[(compared["model"] == "dpl") & (compared["where"] == "median") & (compared["score"] == "nse")]
        assert row[name].tolist() == pytest.approx([expected["median"]["nse"]])
        assert row["difference (b - a)"].tolist() == pytest.approx([0.125])
        kge = compared[(compared["where"] == "median") & (compared["score"] == "kge") & (compared["model"] == "dpl")]
        assert kge["difference (b - a)"].tolist() == pytest.approx([0.0])
    finally:
        shutil.rmtree(other.path, ignore_errors=True)


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


def test_runs_page_deletes_a_run(trained, runs_root):
    doomed = _copy_run(trained, runs_root, "hydro-to-delete")
    at = open_page("7_Runs.py")
    assert doomed.name in list(at.dataframe[0].value["run"])
    at.selectbox(key="runs_pick").set_value(doomed.name).run()
    button(at, "Yes, delete").click().run()
    assert_clean(at)
    names = list(at.dataframe[0].value["run"])
    assert doomed.name not in names and os.path.basename(trained["run"]) in names
    assert not doomed.path.exists() and RunDir(trained["run"]).metrics_path.exists()
