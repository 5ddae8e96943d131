"""AppTest (issue 32, items 1, 2 and 5): range diagnostics and the widen button on Parameters and Train dXAJ,
the sandbox on the chosen run's basins, overlaid runs on Hydrographs and Rain maps, the one-lead chart."""

from __future__ import annotations

import json

import pytest

from core.data import list_basins
from tests.app_helpers import assert_clean, button, open_page
from tests.run_builders import BASIN, HYDRO_AT_BOUND, HYDRO_MIDDLE, RAIN_A, RAIN_B, write_overlay_runs

pytestmark = pytest.mark.slow

WIDEN_C = "Start a run with C widened to 0 – 0.4"


@pytest.fixture
def runs(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("HYDROCAST_RUNS", str(root))
    monkeypatch.delenv("HYDROCAST_DATA", raising=False)
    return write_overlay_runs(root)


def spec(at, key: str) -> dict:
    charts = [c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id]
    assert charts, f"no chart {key!r}"
    return json.loads(charts[0].proto.spec)


def diagnostics(at):
    frames = [d.value for d in at.dataframe if "at upper bound (%)" in d.value.columns]
    assert frames, "no range diagnostics table"
    return frames[0].set_index("parameter")


def test_parameters_flags_the_bound_and_widen_opens_train_prefilled(runs):
    at = open_page("4_Parameters.py")
    assert_clean(at)
    assert at.selectbox(key="param_run_pick").value == HYDRO_AT_BOUND
    table = diagnostics(at)
    assert table.loc["C", "at upper bound (%)"] == pytest.approx(100.0)
    assert table.loc["C", "flag"] == "held at upper bound"
    assert table.loc["C", "literature range"] == "0 – 0.99"
    assert (table.drop(index="C")["flag"] == "").all()
    assert any("**C** lies within 2% of its upper bound" in w.value for w in at.warning)
    # the middle run: nothing flagged, no widen button
    at.selectbox(key="param_run_pick").set_value(HYDRO_MIDDLE).run()
    assert (diagnostics(at)["flag"] == "").all()
    assert not [b for b in at.button if b.label.startswith("Start a run with")]
    at.selectbox(key="param_run_pick").set_value(HYDRO_AT_BOUND).run()
    button(at, WIDEN_C).click().run()
    assert_clean(at)
    # Train dXAJ, filled from the run, nothing started
    assert at.session_state["param_ranges_draft"]["C"] == [0.0, pytest.approx(0.4)]
    assert at.session_state["param_ranges_draft"]["K"] == [0.1, 1.0]
    assert any(f"Filled from run **{HYDRO_AT_BOUND}** with C 0 – 0.2 widened to 0 – 0.4" in i.value for i in at.info)
    assert any("Training settings" in h.value for h in at.subheader)
    assert at.number_input(key="hidden_0").value == 8 and at.number_input(key="rho_0").value == 30
    assert "hydro_run" not in at.session_state
    assert len([p for p in runs[HYDRO_AT_BOUND].path.parent.iterdir() if p.name.startswith("hydro-")]) == 2


def test_train_page_shows_the_diagnostics_of_its_finished_run(runs):
    at = open_page("2_Train_dXAJ.py")
    assert_clean(at)
    assert diagnostics(at).loc["C", "flag"] == "held at upper bound"
    button(at, WIDEN_C).click().run()
    assert_clean(at)
    assert at.session_state["param_ranges_current"]["C"] == [0.0, pytest.approx(0.4)]  # the table shows it
    assert any("Changed from the defaults: C" in c.value for c in at.caption)


def test_sandbox_starts_on_the_runs_source_and_basins(runs):
    at = open_page("4_Parameters.py")
    assert_clean(at)
    assert at.selectbox(key="sandbox_basin").options == [BASIN]
    assert any(f"run **{HYDRO_AT_BOUND}** trained on" in c.value for c in at.caption)
    sims = [t["name"] for t in spec(at, "sandbox_hydrograph")["data"]]
    assert "dXAJ (dPL)" in sims  # the run's own curve: the sandbox basin is one the run tested
    at.toggle(key="sandbox_use_run").set_value(False).run()
    assert_clean(at)
    assert at.selectbox(key="sandbox_basin").options == list_basins("demo")


def test_hydrographs_overlay_two_runs(runs):
    at = open_page("3_Hydrographs.py")
    assert_clean(at)
    assert at.multiselect(key="hydro_overlay_pick").options == [HYDRO_MIDDLE]
    at.multiselect(key="hydro_overlay_pick").set_value([HYDRO_MIDDLE]).run()
    assert_clean(at)
    names = [t["name"] for t in spec(at, "hydrograph")["data"]]
    assert names.count("observed") == 1
    assert f"{HYDRO_AT_BOUND} · dXAJ (dPL)" in names and f"{HYDRO_MIDDLE} · dXAJ (dPL)" in names
    scores = next(d.value for d in at.dataframe if "run" in d.value.columns and "NSE (-)" in d.value.columns)
    assert list(scores["run"]) == [HYDRO_AT_BOUND, HYDRO_MIDDLE]
    # q_sim = 0.9 q_obs and 1.2 q_obs: PBIAS -10 % and +20 %
    assert list(scores["PBIAS (%)"]) == [pytest.approx(-10.0), pytest.approx(20.0)]
    settings = next(d.value for d in at.dataframe if "setting" in d.value.columns).set_index("setting")
    assert settings.loc["model_args.hidden", HYDRO_AT_BOUND] == "8"
    assert settings.loc["model_args.hidden", HYDRO_MIDDLE] == "16"


def test_rain_maps_one_lead_chart_and_overlay(runs):
    at = open_page("6_Rain_maps.py")
    assert_clean(at)
    lead = spec(at, "lead_chart")
    assert {t["type"] for t in lead["data"]} == {"bar"}
    assert lead["data"][0]["x"] == ["exp1 (region 1)", "exp2 (+ upstream)", "persistence"]
    assert "720 min" in json.dumps(lead["layout"]["xaxis"]["title"])
    at.multiselect(key="rain_overlay_pick").set_value([RAIN_B]).run()
    assert_clean(at)
    overlay = spec(at, "lead_overlay_chart")
    by_run = {t["name"]: t["y"] for t in overlay["data"]}
    assert set(by_run) == {RAIN_A, RAIN_B}
    # exp2 CSI at the page's default threshold, 5 mm: half of 0.6 and 0.2
    assert by_run[RAIN_A][1] == pytest.approx(0.3) and by_run[RAIN_B][1] == pytest.approx(0.1)
