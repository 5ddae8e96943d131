"""Embedded Natural Earth rivers, lakes and state/province borders on the basin map and the rain maps, offline."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from core.viz import map_layers, maps


def _near(lines: map_layers.Lines, lon: float, lat: float, radius: float) -> bool:
    return bool(np.any((np.abs(lines.lon - lon) < radius) & (np.abs(lines.lat - lat) < radius)))


def test_layers_are_real_natural_earth_features():
    layers = map_layers.load_layers()
    assert set(layers) == {"lake", "river", "admin1"}
    # Lake Constance (Bodensee) shore near Friedrichshafen, the Rhine at Basel, the Colorado-Utah line
    assert _near(layers["lake"], 9.45, 47.65, 0.1)
    assert _near(layers["river"], 7.6, 47.56, 0.1)
    assert _near(layers["admin1"], -109.05, 37.0, 0.05)  # Four Corners: a straight state line keeps its ends only
    # the middle of the Pacific has none of them
    for lines in layers.values():
        assert not _near(lines, -150.0, 0.0, 3.0)
        assert np.nanmin(lines.lon) >= -180 and np.nanmax(lines.lon) <= 180


def test_clip_keeps_whole_lines_so_lakes_stay_closed():
    lakes = map_layers.load_layers()["lake"]
    lon, lat = map_layers.clip_lines(lakes, (9.0, 9.8), (47.4, 47.9), margin=0.0)
    assert lon.size > 10
    gaps = np.flatnonzero(np.isnan(lon))
    start = 0
    for end in gaps:  # every ring ends where it began
        assert lon[start] == pytest.approx(lon[end - 1]) and lat[start] == pytest.approx(lat[end - 1])
        start = end + 1
    # nothing far away: every kept ring meets the (unpadded) box
    assert np.nanmin(lon) < 9.8 and np.nanmax(lon) > 9.0
    empty = map_layers.clip_lines(lakes, (-150.5, -149.5), (-0.5, 0.5))
    assert empty[0].size == 0


def test_basin_map_draws_rivers_lakes_and_borders_zoomed_to_the_basins():
    # two outlets on the Rhine near Lake Constance
    fig = maps.basin_map([47.56, 47.70], [7.60, 9.30], ["basel", "constance"])
    names = [tr.name for tr in fig.data]
    for layer in ("lakes", "rivers", "state/province borders", "coastline"):
        assert layer in names
    lakes = next(tr for tr in fig.data if tr.name == "lakes")
    assert lakes.fill == "toself"
    lon_range = fig.layout.xaxis.range
    # zoomed: well under the old fixed 3-degree margin, still wider than the outlets
    assert 7.0 < lon_range[0] < 7.6 and 9.3 < lon_range[1] < 10.0
    one = maps.basin_map([50.5], [9.7], ["fulda"])
    assert one.layout.xaxis.range[1] - one.layout.xaxis.range[0] == pytest.approx(0.8)


def test_rain_maps_draw_the_layers_in_every_panel_without_filled_lakes():
    lat = np.linspace(47.0, 48.5, 8)
    lon = np.linspace(8.0, 10.5, 10)
    field = np.ones((8, 10))
    fig = maps.rain_maps({"truth": field, "exp1": field}, lat, lon)
    rivers = [tr for tr in fig.data if tr.name == "rivers"]
    assert len(rivers) == 2  # one per panel
    assert {tr.xaxis for tr in rivers} == {"x", "x2"}
    assert all(tr.fill in (None, "none") for tr in fig.data if tr.name == "lakes")
    assert any(tr.name == "lakes" for tr in fig.data)


def test_maps_are_built_without_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a map tried to open a network connection: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    map_layers.load_layers.cache_clear()
    fig = maps.basin_map([47.56], [7.60], ["basel"])
    figure = fig.to_dict()
    # plain x/y traces only: geo and tile traces fetch outlines or tiles in the browser
    assert {tr["type"] for tr in figure["data"]} == {"scatter"}
    assert "geo" not in figure["layout"] and "mapbox" not in figure["layout"] and "map" not in figure["layout"]
