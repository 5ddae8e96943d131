"""core.report: one self-contained HTML file per run (figures, score tables, config, period, machine), from the CLI too."""

from __future__ import annotations

import html
import json
import re

import pytest

from core.__main__ import main as core_main
from core.report import report_html, write_report
from core.runs.folder import RunDir
from tests.app.test_app_damaged_runs import HYDRO_METRICS, completed_run, hydro_predictions, rain_predictions

RAIN_METRICS = {"units": "mm", "test": {
    "exp1": {"rmse": 1.0, "csi": {"1": 0.4, "5": 0.1}, "pod": {"1": 0.5, "5": 0.2}, "far": {"1": 0.3, "5": 0.6}},
    "exp2": {"rmse": 0.9, "csi": {"1": 0.5, "5": 0.2}, "pod": {"1": 0.6, "5": 0.3}, "far": {"1": 0.2, "5": 0.5}}}}


def _hydro(tmp_path) -> RunDir:
    run = completed_run(tmp_path, "hydro-20250101-000000-ok", "hydro", hydro_predictions(), HYDRO_METRICS)
    run.write_config({"kind": "hydro", "name": run.name, "data": {"basins": ["b1", "b2"], "period": ["2000-01-01", "2000-02-29"]},
                      "train": {"device": "cpu", "epochs": 3}})
    return run


def _figures(page: str) -> list[dict]:
    """The plotly figures of a report: the JSON data handed to ``Plotly.newPlot``."""
    return re.findall(r'Plotly\.newPlot\(\s*"figure-\d+"', page)


def _no_remote_scripts(page: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc=", page), "a script is loaded from elsewhere"
    assert not re.search(r"<link[^>]*\bhref=[\"']https?:", page)
    # plotly.js itself is inside the page's head (it names its CDN only for geo traces, which no report draws)
    head = page[: page.index("</head>")]
    assert "<script type=\"text/javascript\">/**" in head and "plotly.js" in head


def test_hydro_report_holds_figures_scores_config_period_and_machine(tmp_path):
    page = report_html(_hydro(tmp_path))
    _no_remote_scripts(page)
    assert len(page) > 3_000_000  # plotly.js is inside
    figures = _figures(page)
    assert len(figures) == 3  # two basins' hydrographs and the loss curves
    assert "b1: observed vs simulated streamflow" in page and "dXAJ (dPL)" in page
    # the score table recomputed from the predictions: NSE of q_sim = 0.8 q_obs, and the median row
    assert re.search(r"<td>median</td>", page) or ">median<" in page
    assert "Test scores per basin" in page
    assert "device: cpu" in page and "epochs: 3" in page  # the config, as YAML
    assert "2000-01-01 00:00 to 2000-02-29 00:00 (60 steps)" in page  # the period of the predictions
    assert "data.period" in page and "2000-01-01 to 2000-02-29" in page  # and the one the config names
    assert "Machine writing this report" in page and "CPU cores" in page
    assert "This run is incomplete or damaged" not in page


def test_rain_report_holds_maps_and_verification(tmp_path):
    run = completed_run(tmp_path, "rain-20250101-000000-ok", "rain", rain_predictions(), RAIN_METRICS)
    page = report_html(run)
    _no_remote_scripts(page)
    assert len(_figures(page)) == 3  # rain maps, CSI chart, loss curves
    assert "Region 1 rain at" in page and "the wettest test time" in page
    assert "Verification over the test period" in page and "exp2" in page
    assert ">None<" not in page  # a score that could not be computed shows as a dash


def test_an_unfinished_damaged_run_still_gets_a_report_with_notes(tmp_path):
    run = RunDir(tmp_path / "hydro-20250101-000000-partial").create()
    run.write_config({"kind": "hydro", "name": run.name})
    run.update_status(state="running", progress=0.3, message="epoch 1 of 5")
    (run.path / "metrics.json").write_text('{"test": {"median": {"nse": 0.5')  # truncated
    (run.path / "predictions.nc").write_bytes(b"CDF\x01 truncated")
    page = report_html(run)
    assert "This run is incomplete or damaged" in page
    assert "The run is running (epoch 1 of 5)" in page
    assert "metrics.json is damaged" in page
    assert "predictions.nc" in page and "cannot be opened as NetCDF" in page
    assert "Traceback" not in page


def test_cli_writes_the_report_atomically_and_names_a_missing_run(tmp_path, capsys):
    run = _hydro(tmp_path)
    out = tmp_path / "out" / "report.html"
    assert core_main(["report", "--run-dir", str(run.path), "--out", str(out)]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    assert "<!DOCTYPE html>" in out.read_text()[:50]
    assert not [p for p in out.parent.iterdir() if p.name != "report.html"]  # no temporary file left
    assert core_main(["report", "--run-dir", str(tmp_path / "absent"), "--out", str(out)]) == 2
    assert "absent" in capsys.readouterr().err


def test_write_report_replaces_the_file_whole(tmp_path):
    run = _hydro(tmp_path)
    out = tmp_path / "r.html"
    out.write_text("old")
    write_report(run, out)
    assert out.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("kind", ["hydro", "rain"])
def test_metrics_json_is_shown_as_written(tmp_path, kind):
    run = _hydro(tmp_path) if kind == "hydro" else completed_run(tmp_path, "rain-20250101-000000-ok", "rain",
                                                                 rain_predictions(), RAIN_METRICS)
    page = report_html(run)
    assert "metrics.json (as the run wrote it)" in page
    assert html.escape(json.dumps(run.read_metrics(), indent=1).splitlines()[1].strip()) in page
