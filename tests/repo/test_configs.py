"""Every example config under ``configs/`` loads and validates, and a tiny run of each goes end to end.

The tiny runs use the documented command line (``python -m core {hydro,rain} train --config ...``) with
overrides that shorten them (``--epochs 1``, short periods, a two-basin copy of a basin folder) on a copy
of the config with 2 iterations per epoch and batches of at most 8 (no CLI flag for those); a
config whose data is not on this machine (``../shared/data``) skips with the reason. New configs are
picked up by the file name: ``hydro_*.yaml`` or ``rain_*.yaml``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))

# Shortened periods per config (train, test); rain configs with fractions keep their own split.
HYDRO_PERIODS = {
    "hydro_quick.yaml": (["1984-01-01", "1985-12-31"], ["1986-01-01", "1986-06-30"]),
    "hydro_camels.yaml": (["1990-10-01", "1993-09-30"], ["1993-10-01", "1994-09-30"]),
    "hydro_camels_regional.yaml": (["1990-10-01", "1993-09-30"], ["1993-10-01", "1994-09-30"]),
}
RAIN_PERIODS = {
    "rain_quick.yaml": (["2001-01-04", "2001-02-15"], ["2001-06-01", "2001-06-15"]),
}


def _kind(path: Path) -> str:
    return path.name.split("_")[0]


def _source_path(source: str) -> Path | None:
    """The data folder a config names (relative paths from the repository), None for embedded data."""
    if source in (None, "demo"):
        return None
    p = Path(source)
    return p if p.is_absolute() else (REPO / p).resolve()


def test_every_config_has_a_known_kind():
    assert CONFIGS, "configs/ holds no example config"
    for path in CONFIGS:
        assert _kind(path) in ("hydro", "rain"), f"{path.name}: name it hydro_*.yaml or rain_*.yaml"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_loads_and_validates(path):
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(raw, dict) and raw.get("name"), f"{path.name}: a mapping with a name"
    if _kind(path) == "hydro":
        from core.hydro.config import load_config

        cfg = load_config(path)
        assert cfg["model"] in ("dpl", "static_xaj", "lstm")
        # the file's own values survive the merge with the defaults
        assert [str(d) for d in cfg["data"]["train_period"]] == [str(d) for d in raw["data"]["train_period"]]
        assert cfg["train"]["epochs"] == raw["train"]["epochs"]
        # a broken copy is refused, naming the key
        broken = json.loads(json.dumps(raw, default=str))
        broken["model"] = "snowmelt"
        with pytest.raises(ValueError, match="model"):
            load_config(None, broken)
    else:
        from core.rain.pipeline import complete_config

        cfg = complete_config(raw)
        assert cfg["experiments"] and set(cfg["experiments"]) <= {"exp1", "exp2"}
        assert cfg["data"]["steps"] == raw["data"]["steps"]
        with pytest.raises(ValueError, match="unknown (section|key)"):
            complete_config({**raw, "trian": {}})
    source = raw["data"].get("source", "demo")
    assert isinstance(source, str) and source, f"{path.name}: data.source"


def test_regional_config_follows_the_issue_31_protocol():
    """Regional training (issue 31): the 150-basin folder, all three models, the fixed periods, fixed
    epochs and seed with max_minutes only a cap, scores per snow group; caps summing to a sane bound."""
    from core.hydro.config import for_model, load_config

    cfg = load_config(REPO / "configs" / "hydro_camels_regional.yaml")
    assert cfg["data"]["source"].endswith("camels_us_regional")
    assert cfg["model"] == "dpl" and sorted(cfg["baselines"]) == ["lstm", "static_xaj"]
    assert [str(d) for d in cfg["data"]["train_period"]] == ["1985-10-01", "1995-09-30"]
    assert [str(d) for d in cfg["data"]["test_period"]] == ["1995-10-01", "2005-09-30"]
    assert cfg["data"]["valid_fraction"] == 0  # fixed epochs, no early stopping on a hold-out
    assert cfg["evaluate"]["group_by"] == "frac_snow" and cfg["evaluate"]["group_edges"] == [0.12]
    assert cfg["model_args"]["snow"] == "auto"  # the 50 snowy basins get the snow routine
    caps = 0.0
    for name in ["dpl", "static_xaj", "lstm"]:
        sub = for_model(cfg, name)
        assert sub["train"]["seed"] == 42 and sub["train"]["epochs"] >= 10
        # dXAJ and the LSTM read the same CAMELS attributes: an ungauged basin's parameters come from them
        assert str(sub["data"]["attributes"]).endswith("camels_attributes_v2.0"), name
        assert sub["train"]["max_minutes"] is not None
        caps += sub["train"]["max_minutes"]
    # safety caps well above the measured 16.2 / 0.2 / 7.1 min (25.7 min in all), yet bounded
    assert caps <= 60


def _two_basin_copy(folder: Path, dest: Path) -> Path:
    """A basin-table folder with the first two basins of ``folder`` (symlinked CSVs, trimmed basins.csv)."""
    dest.mkdir()
    meta = pd.read_csv(folder / "basins.csv", dtype={"gauge_id": str})
    keep = meta.iloc[:2]
    keep.to_csv(dest / "basins.csv", index=False)
    for gid in keep["gauge_id"]:
        series = next(p for p in (folder / f"{gid}.csv", folder / f"{gid}.csv.gz") if p.exists())
        os.symlink(series, dest / series.name)
    return dest


def _shrunk_copy(path: Path, dest: Path) -> Path:
    """The config with fewer iterations per epoch and smaller batches (the CLI has no flag for them);
    everything else (model, windows, inputs, data) stays as the example has it, except that a config training
across radar events (``data.events``) keeps only its first training event and its test event, and a
rain config's STEPS-mean reference gets 2 members."""
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    train = cfg.setdefault("train", {})
    if "iterations_per_epoch" in train or _kind(path) == "hydro":
        train["iterations_per_epoch"] = 2
    train["batch_size"] = min(int(train.get("batch_size", 8)), 8)
    if _kind(path) == "rain":  # the STEPS-mean reference: 2 members instead of 20 (its cost is per member)
        cfg.setdefault("nowcast", {})["steps_members"] = 2
    data = cfg.get("data", {})
    if data.get("events"):  # training across radars: one training event and the test event keep it short
        roles = [e.get("role", "train") for e in data["events"]]
        data["events"] = [data["events"][roles.index("train")], data["events"][roles.index("test")]]
    source = data.get("source")
    if isinstance(source, str) and source != "demo" and not Path(source).is_absolute():
        data["source"] = str((REPO / source).resolve())  # relative to the repository, as the CLI reads it
    dest.write_text(yaml.safe_dump(cfg))
    return dest


def _run(args: list[str], run_dir: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    done = subprocess.run([sys.executable, "-m", "core", *args, "--run-dir", str(run_dir), "--no-progress"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in CONFIGS if _kind(p) == "hydro"],
                         ids=[p.name for p in CONFIGS if _kind(p) == "hydro"])
def test_hydro_config_tiny_run(path, tmp_path):
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    args = ["hydro", "train", "--config", str(_shrunk_copy(path, tmp_path / path.name)), "--epochs", "1",
            "--baselines", "none", "--device", "cpu"]
    source = _source_path(raw["data"].get("source", "demo"))
    if source is not None:
        if not source.exists():
            pytest.skip(f"{path.name}: data {source} is not on this machine")
        args += ["--data", str(_two_basin_copy(source, tmp_path / "basins") if (source / "basins.csv").exists() else source)]
    if path.name in HYDRO_PERIODS:
        train, test = HYDRO_PERIODS[path.name]
        args += ["--train-period", *train, "--test-period", *test]
    metrics = _run(args, tmp_path / "run")
    median = metrics["test"]["median"]
    assert math.isfinite(median["nse"]) and median["nse"] <= 1.0
    assert math.isfinite(median["kge"]) and median["kge"] <= 1.0
    for scores in metrics["test"]["per_basin"].values():
        assert scores["rmse"] >= 0


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in CONFIGS if _kind(p) == "rain"],
                         ids=[p.name for p in CONFIGS if _kind(p) == "rain"])
def test_rain_config_tiny_run(path, tmp_path):
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    args = ["rain", "train", "--config", str(_shrunk_copy(path, tmp_path / path.name)), "--epochs", "1", "--device", "cpu"]
    source = _source_path(raw["data"].get("source", "demo"))
    if source is not None and not source.exists():
        pytest.skip(f"{path.name}: data {source} is not on this machine")
    if path.name in RAIN_PERIODS:
        train, test = RAIN_PERIODS[path.name]
        args += ["--train-period", *train, "--test-period", *test]
    metrics = _run(args, tmp_path / "run")
    trained = [n for n in raw.get("experiments", ["exp1", "exp2"])]
    for name in [*trained, "persistence"]:
        scores = metrics["test"][name]
        assert math.isfinite(scores["rmse"]) and scores["rmse"] >= 0, name
        for value in scores["csi"].values():
            assert value is None or math.isnan(value) or 0.0 <= value <= 1.0
    assert metrics["n_test"] >= 1
