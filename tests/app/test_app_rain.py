"""AppTest: Rain experiments (regions, experiment switch, a real tiny background run) and Rain maps."""

from __future__ import annotations

import json
import os

import pytest

from tests.app_helpers import assert_clean, button, errors_of, open_page, poll_until_final, write_small_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("rain_runs")
    world = write_small_world(tmp_path_factory.mktemp("rain_data") / "world.nc")
    # the page opens data only under its roots: the world's folder is one, as HYDROCAST_DATA
    old = {name: os.environ.get(name) for name in ("HYDROCAST_RUNS", "HYDROCAST_DATA")}
    os.environ["HYDROCAST_RUNS"] = str(root)
    os.environ["HYDROCAST_DATA"] = str(world.parent)
    yield {"root": root, "world": world}
    for name, value in old.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def set_up_page(world):
    at = open_page("5_Rain_experiments.py")
    at.radio(key="rain_source_kind").set_value("gridded file (NetCDF/Zarr, ERA5 layout)").run()
    at.text_input(key="rain_source_path").set_value(str(world)).run()
    for key, value in (("r1_south", 50.0), ("r1_north", 52.5), ("r1_west", 4.0), ("r1_east", 7.5)):
        at.number_input(key=key).set_value(value)
    at.run()
    return at


def trace_names(at, index: int) -> list[str]:
    return [t.get("name") for t in json.loads(at.get("plotly_chart")[index].proto.spec)["data"]]


def test_switching_experiment_redraws_the_regions(env):
    at = set_up_page(env["world"])
    assert_clean(at)
    assert not errors_of(at), errors_of(at)
    assert {"region 1 (target)", "region 2 (upstream)", "data grid"} <= set(trace_names(at, 0))
    at.radio(key="rain_experiments").set_value("exp1").run()
    assert "region 2 (upstream)" not in trace_names(at, 0)
    at.radio(key="rain_experiments").set_value("both").run()
    at.selectbox(key="r2_side").set_value("east").run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    region2 = next(t for t in spec["data"] if t.get("name") == "region 2 (upstream)")
    assert min(region2["x"]) > 7.5  # east of region 1
    # an automatic side is estimated by the run from the rain's motion: no box to draw yet, no size
    at.selectbox(key="r2_side").set_value("auto").run()
    assert_clean(at)
    assert "region 2 (upstream)" not in trace_names(at, 0)
    assert at.number_input(key="r2_size").disabled


def test_bad_path_is_a_readable_error(env, tmp_path):
    at = open_page("5_Rain_experiments.py")
    at.radio(key="rain_source_kind").set_value("gridded file (NetCDF/Zarr, ERA5 layout)").run()
    at.text_input(key="rain_source_path").set_value(str(tmp_path / "nowhere.nc")).run()
    assert_clean(at)
    assert any("nowhere.nc" in e for e in errors_of(at))


def test_a_path_outside_the_data_roots_is_refused_alike_whether_it_exists(env, tmp_path):
    """Issue 33, item 9: /root/.ssh and a made-up folder get the same refusal naming the roots."""
    (tmp_path / "secret").mkdir()
    messages = []
    for path in (tmp_path / "secret", tmp_path / "no_such_folder"):
        at = open_page("5_Rain_experiments.py")
        at.radio(key="rain_source_kind").set_value("radar folder").run()
        at.text_input(key="rain_source_path").set_value(str(path)).run()
        assert_clean(at)
        (message,) = [e for e in errors_of(at) if "data roots" in e]
        assert str(env["world"].parent) in message.replace("\\", "")
        messages.append(message.replace(path.name.replace("_", "\\_"), "PATH"))
    assert messages[0] == messages[1]
    assert "not exist" not in messages[0] and "not found" not in messages[0]


def test_a_radar_folder_message_shows_its_patterns_as_text(env):
    """Issue 33, item 9: the file-name patterns of the message are escaped, not rendered as maths."""
    empty = env["world"].parent / "empty_radar"
    empty.mkdir(exist_ok=True)
    at = open_page("5_Rain_experiments.py")
    at.radio(key="rain_source_kind").set_value("radar folder").run()
    at.text_input(key="rain_source_path").set_value(str(empty)).run()
    (message,) = [e for e in errors_of(at) if "known format" in e]
    assert "\\$" in message and "$" not in message.replace("\\$", "")


@pytest.fixture(scope="module")
def rain_run(env):
    at = set_up_page(env["world"])
    button(at, "Start training").click().run()
    assert_clean(at)
    assert not errors_of(at), errors_of(at)
    run = at.session_state["rain_run"]
    status = poll_until_final(run, timeout=400)
    at.run()
    return {"at": at, "run": run, "status": status}


def test_rain_job_completes_from_the_page(rain_run):
    assert rain_run["status"]["state"] == "completed", rain_run["status"]
    at = rain_run["at"]
    assert_clean(at)
    assert {"exp1 RMSE", "exp2 RMSE", "persistence RMSE"} <= {m.label for m in at.metric}


def test_rain_maps_page(rain_run):
    at = open_page("6_Rain_maps.py")
    assert_clean(at)
    maps = json.loads(at.get("plotly_chart")[0].proto.spec)
    heat = [t for t in maps["data"] if t["type"] == "heatmap"]
    # baselines on the maps too, the pySTEPS ANVIL and STEPS-mean references included (issue 30)
    panels = ["truth", "exp1", "exp2", "persistence", "extrapolation", "sprog", "anvil", "steps_mean"]
    assert len(heat) == len(panels) and maps["layout"]["coloraxis"]["cmin"] == 0
    assert [a["text"] for a in maps["layout"]["annotations"]][: len(panels)] == panels
    diff = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert diff["layout"]["coloraxis"]["cmid"] == 0
    assert len([t for t in diff["data"] if t["type"] == "heatmap"]) == len(panels) - 1
    words = " ".join(m.value for m in at.markdown)
    assert "best CSI" in words  # the words saying which system is best
    assert " - " in words and "CSI at" in words and "[" in words  # better experiment - strongest baseline, interval
    tables = at.table
    # CSI/POD/FAR/ETS per threshold, the exp2 - exp1 bootstrap gains, better experiment - strongest baseline
    assert len(tables) == 3
    systems = {row for row in at.table[0].value.index.get_level_values("system")}
    assert {"ANVIL (pySTEPS)", "STEPS ensemble mean (pySTEPS)"} <= systems
    best = at.table[2].value
    assert list(best.columns[:5]) == ["experiment", "strongest baseline", "difference", "low", "high"]
    assert (best["low"] <= best["difference"]).all() and (best["difference"] <= best["high"]).all()
    lead_chart = json.loads(at.get("plotly_chart")[2].proto.spec) if len(at.get("plotly_chart")) > 3 else None
    if lead_chart is not None:  # runs with several leads draw every system on the lead chart
        # one line per system, or for a run with one lead one bar per system (the systems on the x axis)
        drawn = {t.get("name") for t in lead_chart["data"]} | {x for t in lead_chart["data"] if t["type"] == "bar"
                                                                for x in t.get("x", [])}
        assert {"ANVIL (pySTEPS)", "STEPS ensemble mean (pySTEPS)"} <= drawn
    # a different test time redraws the maps
    slider = at.select_slider(key="rain_time")
    before = at.get("plotly_chart")[0].proto.spec
    other = next(o for o in slider.options if o != slider.value)
    slider.set_value(other).run()
    assert at.get("plotly_chart")[0].proto.spec != before
    button(at, "Render PNG with cartopy").click().run()
    assert_clean(at)
    assert len(at.image) == 1


def test_the_loss_defaults_to_the_example_configs(env):
    """The form starts from the config's loss (issue 30's mse_soft_csi), not the registry's first entry."""
    from core.rain.run_config import base_config

    at = open_page("5_Rain_experiments.py")
    loss = base_config()["train"]["loss"]
    assert at.selectbox(key="rain_loss_0").value == loss
    assert at.selectbox(key="rain_loss_0").options[0] != loss  # the registry's first entry is another loss
