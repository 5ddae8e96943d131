"""core.viz: figures carry the right traces, shared colour scales, bounds and offline coastlines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.viz import coastlines, hydrographs, maps, parameters, training, verification


def test_coastlines_are_real_natural_earth_lines():
    lines = coastlines.load_lines()
    lon, lat = lines["coast_lon"], lines["coast_lat"]
    finite = np.isfinite(lon)
    assert finite.sum() > 4000 and np.isnan(lon).sum() > 100  # many lines, NaN separated
    assert np.nanmin(lon) >= -180 and np.nanmax(lon) <= 180 and np.nanmin(lat) >= -90 and np.nanmax(lat) <= 90
    # the Strait of Gibraltar region has coastline points; mid-Pacific (0 N, 150 W) has none
    near = lambda x, y, r: np.any((np.abs(lon - x) < r) & (np.abs(lat - y) < r))  # noqa: E731
    assert near(-5.5, 36.0, 1.0)
    assert not near(-150.0, 0.0, 3.0)


def test_coastline_traces_are_clipped_to_the_box():
    traces = coastlines.coastline_traces((5, 15), (45, 55), margin=0.0)
    assert [t.name for t in traces] == ["coastline", "border"]
    x = np.asarray(traces[0].x, dtype=float)
    assert np.nanmin(x) >= 5 and np.nanmax(x) <= 15


def test_hydrograph_has_observed_model_baselines_and_rain():
    t = pd.date_range("2000-01-01", periods=50)
    obs = np.linspace(1, 2, 50)
    obs[3] = np.nan
    fig = hydrographs.hydrograph(t, obs, {"dXAJ": obs * 1.1, "LSTM": obs * 0.9}, prcp=np.ones(50))
    names = [tr.name for tr in fig.data]
    assert names == ["rainfall", "observed", "dXAJ", "LSTM"]
    assert fig.data[3].line.dash == "dash" and fig.data[2].line.dash == "solid"
    assert fig.layout.yaxis.autorange == "reversed"  # rain hangs from the top


def test_flow_duration_curve_uses_the_observed_days_only():
    obs = np.array([3.0, np.nan, 1.0, 2.0])
    sim = np.array([30.0, 100.0, 10.0, 20.0])
    fig = hydrographs.flow_duration_curve(obs, {"sim": sim})
    np.testing.assert_allclose(fig.data[0].y, [3, 2, 1])
    np.testing.assert_allclose(fig.data[1].y, [30, 20, 10])  # 100 (no observation that day) left out
    np.testing.assert_allclose(fig.data[0].x, [25, 50, 75])
    assert fig.layout.yaxis.type == "log"


def test_loss_curves_split_by_experiment():
    history = [{"experiment": "exp1", "epoch": 0, "train_loss": 1.0, "val_loss": 1.2},
               {"experiment": "exp2", "epoch": 0, "train_loss": 0.9, "val_loss": 1.1}]
    fig = training.loss_curves(history)
    assert [tr.name for tr in fig.data] == ["exp1 train loss", "exp1 val loss", "exp2 train loss", "exp2 val loss"]
    assert training.loss_curves([]).layout.annotations[0].text == "no epoch finished yet"


def test_parameter_trajectories_draw_15_panels_with_bounds():
    names = [f"P{i}" for i in range(15)]
    lower, upper = np.zeros(15), np.arange(1, 16, dtype=float)
    params = np.random.default_rng(0).uniform(0, 1, (2, 30, 15)) * upper
    fig = parameters.parameter_trajectories(pd.date_range("2000-01-01", periods=30), params, names, lower, upper,
                                            ["a", "b"])
    assert len(fig.layout.annotations) == 15  # subplot titles
    assert len(fig.data) == 15 * (2 + 2)  # two bound lines and two basins per parameter
    bound = fig.data[1]
    assert list(bound.y) == [upper[0], upper[0]]
    assert fig.layout.yaxis15.range[1] > upper[14]


def test_parameter_distribution_is_position_in_range():
    lower, upper = np.array([0.0, 10.0]), np.array([1.0, 20.0])
    params = np.array([[[0.5, 15.0]], [[1.0, 10.0]]])  # [basin, time, param]
    fig = parameters.parameter_distributions(params, ["A", "B"], lower, upper, ["x", "y"])
    np.testing.assert_allclose(fig.data[0].y, [0.5, 1.0])
    np.testing.assert_allclose(fig.data[1].y, [0.5, 0.0])


def test_rain_maps_share_one_scale_and_difference_maps_centre_on_zero():
    lat, lon = np.arange(50, 52, 0.5), np.arange(5, 8, 0.5)
    truth = np.zeros((4, 6))
    exp1 = np.full((4, 6), 2.0)
    exp2 = np.full((4, 6), 7.0)
    fig = maps.rain_maps({"truth": truth, "exp1": exp1, "exp2": exp2}, lat, lon, "mm")
    heat = [tr for tr in fig.data if tr.type == "heatmap"]
    assert len(heat) == 3 and {tr.coloraxis for tr in heat} == {"coloraxis"}
    assert fig.layout.coloraxis.cmin == 0 and fig.layout.coloraxis.cmax == 7.0
    assert any(tr.name == "coastline" for tr in fig.data)
    diff = maps.difference_maps({"exp1": exp1, "exp2": exp2}, truth, lat, lon)
    assert diff.layout.coloraxis.cmid == 0 and diff.layout.coloraxis.cmin == -7.0 and diff.layout.coloraxis.cmax == 7.0
    np.testing.assert_allclose([tr for tr in diff.data if tr.type == "heatmap"][0].z, exp1 - truth)


def test_basin_map_highlights_selected_basins():
    fig = maps.basin_map([51.0, 48.0], [9.0, 11.0], ["a", "b"], ["A", "B"], selected=["b"])
    markers = {tr.name: tr for tr in fig.data if tr.mode == "markers"}
    assert list(markers["selected"].x) == [11.0] and list(markers["basin"].x) == [9.0]


def test_region_map_boxes():
    fig = maps.region_map({"lat": [45, 50], "lon": [10, 15]}, {"lat": [45, 50], "lon": [4, 9]})
    names = [tr.name for tr in fig.data]
    assert "region 1 (target)" in names and "region 2 (upstream)" in names


METRICS = {
    "units": "mm per 12 h",
    "test": {
        "exp1": {"rmse": 1.5, "csi": {"1": 0.4, "5": 0.1}, "pod": {"1": 0.5, "5": 0.2}, "far": {"1": 0.3, "5": 0.6},
                 "ets": {"1": 0.2, "5": 0.05}},
        "exp2": {"rmse": 1.2, "csi": {"1": 0.5, "5": 0.2}, "pod": {"1": 0.6, "5": 0.3}, "far": {"1": 0.2, "5": 0.5},
                 "ets": {"1": 0.3, "5": 0.1}},
        "persistence": {"rmse": 2.0, "csi": {"1": 0.3, "5": None}, "pod": {"1": 0.4, "5": 0.0},
                        "far": {"1": 0.5, "5": None}, "ets": {"1": 0.1, "5": 0.0}},
    },
    "comparison": {"exp2_minus_exp1": {
        "csi": {"1": {"diff": 0.1, "low": 0.02, "high": 0.18, "level": 0.95},
                "5": {"diff": 0.1, "low": -0.05, "high": 0.2, "level": 0.95}},
        "rmse": {"diff": -0.3, "low": -0.5, "high": -0.1, "level": 0.95}}},
}


def test_verification_table_rows_per_threshold_and_system():
    table = verification.verification_table(METRICS)
    assert len(table) == 6
    row = table[(table.threshold == "5") & (table.system.str.startswith("exp2"))].iloc[0]
    assert row["CSI"] == 0.2 and row["FAR"] == 0.5 and row["RMSE"] == 1.2
    assert pd.isna(table[(table.threshold == "5") & (table.system == "persistence")].iloc[0]["CSI"])


def test_gain_table_and_chart():
    gains = verification.gain_table(METRICS)
    assert list(gains["score"]) == ["CSI", "CSI", "RMSE"]
    assert gains.iloc[0]["low"] == 0.02
    assert verification.gain_table({"test": METRICS["test"]}).empty
    fig = verification.csi_chart(METRICS)
    assert len(fig.data) == 3 and list(fig.data[0].x) == ["1", "5"]


def test_static_png_export_uses_local_natural_earth(monkeypatch):
    pytest.importorskip("cartopy")
    from core.viz import static_maps

    # any attempt to download would go through cartopy's downloader: make it fail loudly
    import cartopy.io

    monkeypatch.setattr(cartopy.io.Downloader, "acquire_resource",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("cartopy tried to download")))
    lat, lon = np.arange(45, 50, 0.5), np.arange(0, 6, 0.5)
    png = static_maps.rain_maps_png({"truth": np.ones((10, 12)), "exp1": np.zeros((10, 12))}, lat, lon)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
