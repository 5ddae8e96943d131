"""Run files as the pages read them: confined names, damaged files, the kind of a run, score tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from core import metrics
from core.data import DataError
from core.data.splits import check_periods_disjoint, periods_overlap
from core.runs.catalog import list_runs
from core.runs.folder import DAMAGED, RunDir, RunFileDamaged, new_run_dir, run_kind
from core.runs.results import hydro_score_table, open_predictions
from core.runs.safe_names import UnsafeNameError, confined_path, safe_file_name


# --- confinement -------------------------------------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("../../x.csv", "x.csv"), ("/abs/x.csv", "x.csv"), ("..\\..\\x.csv", "x.csv"), ("C:\\tmp\\x.csv", "x.csv"),
    ("my basin (2).csv", "my_basin_2_.csv"), (".hidden.csv", "hidden.csv"), ("ok-name_1.nc", "ok-name_1.nc"),
])
def test_untrusted_names_become_one_component(name, expected):
    assert safe_file_name(name) == expected


@pytest.mark.parametrize("name", ["", "..", ".", "../..", "/", "a\x00b.csv", "  ", "../", None])
def test_unusable_names_are_refused(name):
    with pytest.raises(UnsafeNameError):
        safe_file_name(name)


def test_confined_path_stays_in_its_folder(tmp_path):
    folder = tmp_path / "runs" / "uploads"
    folder.mkdir(parents=True)
    for name in ("../../x.csv", "/abs/x.csv", "../x.csv"):
        target = confined_path(folder, name)
        assert target.parent == folder.resolve() and target.name == "x.csv"
    (folder / "link.csv").symlink_to(tmp_path / "outside.csv")
    with pytest.raises(UnsafeNameError, match="symbolic link"):
        confined_path(folder, "link.csv")


def test_new_run_dir_name_cannot_leave_the_runs_folder(tmp_path):
    root = tmp_path / "runs"
    for name in ("../../evil", "/abs/evil", "a/../../evil"):
        run = new_run_dir("hydro", name=name, root=root)
        assert run.path.parent == root.resolve() and "-evil" in run.name and ".." not in run.name
    with pytest.raises(UnsafeNameError):
        new_run_dir("hydro", name="..", root=root)
    with pytest.raises(UnsafeNameError):
        new_run_dir("\x00", root=root)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


# --- damaged run files ---------------------------------------------------------------------------
DAMAGES = {
    "status.json": {"number": "42", "list": "[1, 2]", "text progress": '{"state": "running", "progress": "half"}',
                    "unknown state": '{"state": "exploded"}', "truncated": '{"state": "runn', "binary": b"\x89PNG\x00\xff",
                    "folder": None},
    "metrics.json": {"truncated": '{"test": {"median": {"nse": 0.', "list": "[]", "binary": b"\xff\xfe\x00"},
    "config.yaml": {"invalid": "a: [1, 2\nb: {", "list": "- 1\n- 2\n", "binary": b"\x00\xff\xfe\x89", "folder": None},
    "history.json": {"truncated": '[{"epoch": 1', "mapping": '{"epoch": 1}'},
}
CASES = [(f, k) for f, kinds in DAMAGES.items() for k in kinds]


def damage(run: RunDir, file: str, kind: str) -> None:
    path = run.path / file
    content = DAMAGES[file][kind]
    if path.exists():
        path.unlink()
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def healthy_run(root, name="hydro-20250101-000000") -> RunDir:
    run = RunDir(root / name).create()
    run.write_config({"kind": "hydro", "name": "x"})
    run.update_status(state="completed", progress=1.0, message="done")
    run.write_metrics({"test": {"median": {"nse": 0.5}}})
    run.write_history([{"epoch": 1, "train_loss": 0.3}])
    return run


@pytest.mark.parametrize("file, kind", CASES)
def test_readers_report_a_damaged_file_instead_of_raising(tmp_path, file, kind):
    run = healthy_run(tmp_path)
    damage(run, file, kind)
    status, metrics_, history, config = run.read_status(), run.read_metrics(), run.read_history(), run.safe_config()
    assert isinstance(metrics_, dict) and isinstance(history, list) and isinstance(config, dict)
    [problem] = run.damage()
    assert problem.file.name == file and problem.reason
    if file == "status.json":
        assert status["state"] == DAMAGED and "status.json is damaged" in status["message"]
        assert run.duration_seconds() is None
    else:
        assert status["state"] == "completed"
    if file == "config.yaml":
        with pytest.raises(RunFileDamaged, match="config.yaml is damaged"):
            run.read_config()  # the CLI's resume/evaluate must not guess a configuration
    assert run_kind(run) == "hydro"  # from the directory name when the config cannot say
    assert [r.name for r in list_runs(tmp_path)] == [run.name]


def test_kind_of_a_run(tmp_path):
    a = RunDir(tmp_path / "whatever").create()
    a.write_config({"kind": "rain"})
    b = RunDir(tmp_path / "hydro-20250101").create()
    c = RunDir(tmp_path / "other-20250101").create()
    c.write_config({"kind": ["not", "a", "kind"]})
    assert (run_kind(a), run_kind(b), run_kind(c)) == ("rain", "hydro", "unknown")
    assert a.kind == "rain"


# --- predictions and scores ------------------------------------------------------------------------
def hydro_predictions_ds(n_basin=2, n_time=50, seed=0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    obs = rng.gamma(2.0, 1.0, (n_basin, n_time))
    obs[0, :5] = np.nan
    sim = obs * 0.9 + rng.normal(0, 0.2, obs.shape)
    return xr.Dataset({"q_obs": (("basin", "time"), obs), "q_sim": (("basin", "time"), sim),
                       "prcp": (("basin", "time"), obs * 2)},
                      coords={"basin": [f"b{i}" for i in range(n_basin)],
                              "time": pd.date_range("2000-01-01", periods=n_time)})


def test_hydro_score_table_matches_the_metrics_per_basin_with_medians():
    main, base = hydro_predictions_ds(seed=0), hydro_predictions_ds(seed=1)
    table = hydro_score_table({"dpl": main, "lstm": base}, {"dpl": "dXAJ"})
    assert list(table.columns) == ["model", "basin", "nse", "kge", "rmse", "pbias", "peak_error"]
    row = table[(table.model == "dXAJ") & (table.basin == "b0")].iloc[0]
    expected = metrics.hydro_scores(main["q_sim"].values[0], main["q_obs"].values[0])
    for key in ("nse", "kge", "rmse", "pbias", "peak_error"):
        assert row[key] == pytest.approx(expected[key])
    assert row["nse"] == pytest.approx(metrics.nse(main["q_sim"].values[0, 5:], main["q_obs"].values[0, 5:]))
    median = table[(table.model == "lstm") & (table.basin == "median")].iloc[0]
    per_basin = table[(table.model == "lstm") & (table.basin != "median")]
    assert median["kge"] == pytest.approx(per_basin["kge"].median())
    # (time, basin) order gives the same table
    assert hydro_score_table({"dpl": main.transpose("time", "basin")}).equals(hydro_score_table({"dpl": main}))


def test_open_predictions_names_what_is_missing(tmp_path):
    good = tmp_path / "good.nc"
    hydro_predictions_ds().to_netcdf(good)
    assert open_predictions(good, "hydro").sizes["basin"] == 2
    flat = tmp_path / "flat.nc"
    hydro_predictions_ds().isel(basin=0).to_netcdf(flat)
    with pytest.raises(RunFileDamaged, match="no basin dimension"):
        open_predictions(flat, "hydro")
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"CDF\x01garbage")
    with pytest.raises(RunFileDamaged, match="junk.nc is damaged"):
        open_predictions(junk, "hydro")
    with pytest.raises(RunFileDamaged, match="'truth' is missing"):
        open_predictions(_without_truth(tmp_path), "rain")


def _without_truth(tmp_path):
    path = tmp_path / "rain.nc"
    xr.Dataset({"exp1": (("time", "lat", "lon"), np.zeros((2, 3, 4)))},
               coords={"time": pd.date_range("2000", periods=2), "lat": [0, 1, 2], "lon": [0, 1, 2, 3]}).to_netcdf(path)
    return path


# --- periods ---------------------------------------------------------------------------------------
def test_periods_overlap():
    assert periods_overlap({"train": ("1980-01-01", "1984-12-31"), "test": ("1985-01-01", "1986-12-31")}) == []
    [o] = periods_overlap({"train": ("1980-01-01", "1985-01-01"), "valid": None, "test": ("1985-01-01", "1986-12-31")})
    assert (o.first, o.second, str(o.start.date()), str(o.end.date())) == ("train", "test", "1985-01-01", "1985-01-01")
    assert "overlap from 1985-01-01 to 1985-01-01 (1 day)" in str(o)
    three = periods_overlap({"train": ("2001-01-04", "2001-05-02"), "val": ("2001-05-01", "2001-05-20"),
                             "test": ("2001-05-10", "2001-06-30")})
    assert [(o.first, o.second) for o in three] == [("train", "val"), ("val", "test")]
    with pytest.raises(DataError, match="'train' and 'val' overlap"):
        check_periods_disjoint({"train": ("2001-01-04", "2001-05-02"), "val": ("2001-05-01", "2001-05-20")})


def test_one_run_per_folder_markers_and_removal(tmp_path):
    """Issue 33.4: what counts as a folder holding a run, and --overwrite removes only the run's files."""
    from core.runs.folder import RunHeld, new_run_dir

    # the dashboard's fresh folder (empty checkpoints/, request, pending status, log) holds no run yet
    fresh = new_run_dir("hydro", "x", tmp_path)
    (fresh.path / "request.yaml").write_text("model: dpl\n")
    fresh.update_status(state="pending")
    fresh.log_path.write_text("starting\n")
    assert fresh.run_files() == []
    fresh.check_new_run(resume=False, overwrite=False)

    run = RunDir(tmp_path / "old").create()
    run.write_config({"model": "dpl"})
    run.write_history([{"epoch": 1}])
    (run.checkpoint_dir / "last.pt").write_bytes(b"x")
    run.model_dir("lstm").create().write_metrics({"test": {}})
    run.update_status(state="completed")
    (run.path / ".lock").write_text("{}")
    (run.path / "notes.txt").write_text("mine")
    (run.path / ".overwritten-1-2").mkdir()  # trash left by a crash in an earlier removal
    assert run.run_files() == ["config.yaml", "history.json", "checkpoints", "models"]
    with pytest.raises(RunHeld, match="--resume.*--overwrite"):
        run.check_new_run(resume=False, overwrite=False)
    run.check_new_run(resume=True, overwrite=False)
    assert run.remove_run() == ["status.json", "config.yaml", "history.json", "checkpoints", "models"]
    assert sorted(p.name for p in run.path.iterdir()) == [".lock", "notes.txt"]


BOMB = "kind: hydro\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}' if i else 'x'] * 10)}]\n" for i in range(10)) + "data: {basins: *a9}\n"


@pytest.mark.parametrize("text, reason", [
    (BOMB, "alias"),
    ("kind: hydro\nx: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested more than"),
    ("kind: hydro\nnote: '" + "x" * 1_100_000 + "'\n", "more than a run's config"),
])
def test_a_planted_config_yaml_is_refused_by_name_fast(tmp_path, text, reason):
    """Issue 33: the run folder's config.yaml is read bounded (the dashboard reads every run's config)."""
    import time

    run = RunDir(tmp_path / "hydro-planted").create()
    run.config_path.write_text(text)
    start = time.monotonic()
    with pytest.raises(RunFileDamaged, match=reason):
        run.read_config()
    assert run.safe_config() == {} and time.monotonic() - start < 5


def test_the_project_writes_configs_without_aliases(tmp_path):
    shared = ["01013500", "01022500"]
    run = RunDir(tmp_path / "hydro-shared").create()
    run.write_config({"data": {"basins": shared}, "overrides": {"lstm": {"data": {"basins": shared}}}})
    assert "&" not in run.config_path.read_text() and run.read_config()["overrides"]["lstm"]["data"]["basins"] == shared
