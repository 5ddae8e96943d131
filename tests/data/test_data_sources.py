"""Source discovery: the demo, HYDROCAST_DATA folders, names accepted by load_basins."""

from __future__ import annotations

import os


from core.data import available_sources, list_basins, load_basins
from core.data.sources import ENV_VAR, detect_kind


def test_demo_always_listed(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    sources = available_sources()
    assert [s.name for s in sources] == ["demo"]
    assert sources[0].kind == "demo" and sources[0].n_basins == 2
    assert list_basins("demo") == ["fulda_grebenau", "hymod_example"]
    assert sources[0].to_dict()["origin"] == "builtin"


def test_env_var_parent_folder_and_names(shared_data, monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, os.pathsep.join([str(shared_data), str(tmp_path / "missing")]))
    sources = {s.name: s for s in available_sources()}
    assert sources["camels_us_daily"].kind == "basin_table" and sources["camels_us_daily"].n_basins == 25
    assert sources["camels_us_sample"].kind == "camels_us" and sources["camels_us_sample"].n_basins == 4
    assert sources["camels_us_sample"].origin == "env"
    assert "radar_fmi_20160928" not in sources  # not a basin source
    ds = load_basins("camels_us_sample", basins="01547700", start="2001-01-01", end="2001-01-31")
    assert ds.sizes == {"basin": 1, "time": 31}


def test_config_paths_and_kinds(shared_data, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    sources = available_sources(extra=[shared_data / "camels_us_daily"])
    assert [(s.name, s.origin) for s in sources] == [("demo", "builtin"), ("camels_us_daily", "config")]
    assert detect_kind(shared_data / "camels_us_daily" / "01484100.csv") == "basin_file"
    assert detect_kind(shared_data / "reanalysis") is None
    assert "12040500" in list_basins(shared_data / "camels_us_daily")
