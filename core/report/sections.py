"""A run's content for its report: titled blocks of figures, tables and text, and notes on what is missing.

Every reader here catches what a damaged or unfinished run throws and turns it into a note naming
the file and the reason, so a report is always written (docs/design.md, issue 32).
"""

from __future__ import annotations

import html
import json
import os
import platform
import sys
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xarray as xr

from core.runs.config_diff import public_config_text
from core.runs.folder import RunDir, RunFileDamaged, run_kind
from core.runs.results import hydro_score_table, open_predictions
from core.runs.state import status_message

MAX_HYDROGRAPHS = 6
"""Basins drawn as hydrographs (the score table lists every basin): keeps a 25-basin report small."""


@dataclass
class Block:
    """One titled part of the report: HTML snippets and plotly figures, in order."""

    title: str
    parts: list[str | go.Figure] = field(default_factory=list)


@dataclass
class Content:
    """Everything a report shows of one run."""

    blocks: list[Block]
    notes: list[str]
    """What is missing or damaged, for the reader (shown at the top)."""


def table_html(frame: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as an HTML table, numbers rounded, missing values as an en dash, text escaped."""
    def numeric(column: pd.Series) -> pd.Series:
        # a score column holding None (a score that could not be computed) is numbers with gaps
        if column.map(lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))).all():
            return pd.to_numeric(column, errors="coerce")
        return column

    frame = frame.apply(numeric)
    return frame.to_html(index=False, border=0, classes="scores", na_rep="\u2013", escape=True,
                         float_format=lambda v: f"{v:.{digits}f}")


def text_html(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def pre_html(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"


def _facts_table(facts: Mapping[str, object]) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in facts.items() if v not in (None, ""))
    return f'<table class="facts">{rows}</table>'


def machine_facts() -> dict[str, str]:
    """The machine writing the report (a run does not record its own machine beyond its config's device)."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:  # not Linux
        pass
    return {"host": platform.node(), "system": platform.platform(), "processor": cpu,
            "CPU cores": str(os.cpu_count()), "Python": sys.version.split()[0]}


def summary_block(run: RunDir, status: dict, config: dict, period: str | None) -> Block:
    device = (config.get("train") or {}).get("device") if isinstance(config.get("train"), dict) else None
    facts = {"run": run.name, "kind": run_kind(run), "state": status.get("state", "unknown"),
             "message": status_message(status), "started": status.get("started"),
             "finished": status.get("finished"),
             "duration (s)": f"{run.duration_seconds():.0f}" if run.duration_seconds() is not None else None,
             "test period (predictions)": period, "training device (config)": device}
    return Block("Run", [_facts_table(facts)])


def _data_period(config: dict) -> dict[str, str]:
    """The periods the config names (``data.period`` / ``splits``), flattened for display."""
    out = {}
    for section in ("data", "split", "splits", "periods"):
        value = config.get(section)
        if not isinstance(value, dict):
            continue
        for key, v in value.items():
            if any(word in str(key) for word in ("period", "start", "end", "train", "val", "test")) and not isinstance(v, dict):
                out[f"{section}.{key}"] = v if not isinstance(v, (list, tuple)) else " to ".join(map(str, v))
    return out


def config_block(run: RunDir, config: dict, notes: list[str]) -> Block:
    periods = _data_period(config)
    parts = [_facts_table(periods)] if periods else []
    if config:
        parts.append(pre_html(public_config_text(config)))
    else:
        text = run.config_text()
        parts.append(pre_html(text) if text else text_html("No config.yaml in the run folder."))
        if not text:
            notes.append("config.yaml is missing: the settings of this run are unknown.")
    return Block("Configuration", parts)


def _time_span(time: np.ndarray) -> str:
    time = pd.DatetimeIndex(time)
    return f"{time[0]:%Y-%m-%d %H:%M} to {time[-1]:%Y-%m-%d %H:%M} ({len(time)} steps)" if len(time) else "empty"


def _read_predictions(path, kind: str, notes: list[str], owner: str) -> xr.Dataset | None:
    if not path.exists():
        notes.append(f"{owner}: no {path.name} (the run has not written its predictions): no figures from it.")
        return None
    try:
        return open_predictions(path, kind)
    except (RunFileDamaged, OSError, ValueError) as exc:
        notes.append(f"{owner}: {exc}")
        return None


def hydro_blocks(run: RunDir, metrics: dict, notes: list[str]) -> tuple[list[Block], str | None]:
    """Hydrographs, flow-duration-free score table, per-model test scores; and the period shown."""
    from core.viz.hydrographs import hydrograph
    from core.viz.palette import MODEL_LABELS

    models: dict[str, xr.Dataset] = {}
    main = _read_predictions(run.predictions_path, "hydro", notes, run.name)
    if main is not None:
        models[str(main.attrs.get("model", "dpl"))] = main
    for name in run.model_names():
        ds = _read_predictions(run.model_dir(name).predictions_path, "hydro", notes, f"{run.name}/{name}")
        if ds is not None:
            models[name] = ds
    blocks, period = [], None
    if models:
        first = next(iter(models.values()))
        period = _time_span(first["time"].values)
        table = hydro_score_table(models, MODEL_LABELS)
        blocks.append(Block("Test scores per basin (recomputed from the predictions)", [
            text_html("NSE and KGE: 1 is perfect; RMSE in mm per step; PBIAS and peak error in %."),
            table_html(table)]))
        figures: list[str | go.Figure] = []
        basins = [str(b) for b in first["basin"].values]
        for basin in basins[:MAX_HYDROGRAPHS]:
            sims = {MODEL_LABELS.get(n, n): ds["q_sim"].sel(basin=basin).reindex(time=first["time"]).values
                    for n, ds in models.items() if basin in ds["basin"].values}
            prcp = first["prcp"].sel(basin=basin).values if "prcp" in first else None
            figures.append(hydrograph(first["time"].values, first["q_obs"].sel(basin=basin).values, sims, prcp=prcp,
                                      title=f"{basin}: observed vs simulated streamflow (test period)"))
        if len(basins) > MAX_HYDROGRAPHS:
            figures.append(text_html(f"Hydrographs of the first {MAX_HYDROGRAPHS} of {len(basins)} basins; "
                                     "the table above scores them all."))
        blocks.append(Block("Hydrographs", figures))
    if metrics:
        blocks.append(Block("metrics.json (as the run wrote it)", [pre_html(json.dumps(metrics, indent=1, default=str))]))
    return blocks, period


def rain_blocks(run: RunDir, metrics: dict, notes: list[str]) -> tuple[list[Block], str | None]:
    """Rain maps at the wettest test time, CSI chart, lead chart, verification and gain tables."""
    from core.rain.predictions import has_leads, rain_fields
    from core.viz.maps import rain_maps
    from core.viz.verification import csi_chart, gain_table, lead_chart, lead_keys, verification_table

    blocks, period = [], None
    leads = lead_keys(metrics) if metrics else []
    lead = str(metrics.get("main_lead_minutes") or leads[0]) if leads else None
    ds = _read_predictions(run.predictions_path, "rain", notes, run.name)
    if ds is not None:
        try:
            maps = rain_fields(ds, lead if has_leads(ds) else None)
        except (KeyError, ValueError) as exc:
            notes.append(f"{run.name}: the maps cannot be read from {run.predictions_path.name} ({exc}).")
        else:
            period = _time_span(maps.times.values)
            if len(maps.times):
                wet = int(np.nanargmax(np.nan_to_num(maps.truth).sum(axis=(1, 2))))
                when = f"{maps.times[wet]:%Y-%m-%d %H:%M}" + (f", {lead} min ahead" if lead else "")
                units = str(metrics.get("units") or maps.units or "mm")
                fields = {"truth": maps.truth[wet], **{n: v[wet] for n, v in maps.systems.items()}}
                blocks.append(Block("Rain maps", [rain_maps(fields, maps.lat, maps.lon, units,
                                                            title=f"Region 1 rain at {when} ({units}), the wettest test time")]))
    if metrics:
        try:
            table, gains = verification_table(metrics, lead), gain_table(metrics, lead)
            parts: list[str | go.Figure] = []
            if not table.empty:
                parts += [text_html(f"CSI, POD, FAR, ETS per threshold ({metrics.get('units', 'mm')}); RMSE over "
                                    "all region-1 pixels" + (f"; lead {lead} min." if lead else ".")),
                          table_html(table), csi_chart(metrics, lead)]
            if not gains.empty:
                parts += [text_html("Experiment 2 minus experiment 1 with the paired-bootstrap interval:"),
                          table_html(gains)]
            if len(leads) > 1:
                thresholds = list(table["threshold"].unique()) if not table.empty else []
                if thresholds:
                    parts.append(lead_chart(metrics, str(thresholds[min(1, len(thresholds) - 1)])))
            if parts:
                blocks.append(Block("Verification over the test period", parts))
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            notes.append(f"metrics.json of {run.name} has an unexpected layout ({exc}); its scores are left out.")
        blocks.append(Block("metrics.json (as the run wrote it)", [pre_html(json.dumps(metrics, indent=1, default=str))]))
    return blocks, period


def history_block(run: RunDir) -> Block | None:
    from core.viz.training import loss_curves

    history = run.read_all_history()
    return Block("Training loss", [loss_curves(history, title="Train and validation loss per epoch")]) if history else None


def run_content(run: RunDir) -> Content:
    """Every block of ``run``'s report and the notes on what is missing."""
    notes = [f"{problem.file.name} is damaged: {problem.reason}." for problem in run.damage()]
    status = run.read_status()
    if not status:
        notes.append("status.json is missing: the state of this run is unknown.")
    elif status.get("state") != "completed":
        notes.append(f"The run is {status.get('state')} ({status_message(status)}): what it wrote so far is shown.")
    config = run.safe_config()
    metrics = run.read_metrics()
    if not metrics and not any("metrics.json" in n for n in notes):
        notes.append("metrics.json is missing: the run has no test scores yet.")
    kind = run_kind(run)
    if kind == "rain":
        results, period = rain_blocks(run, metrics, notes)
    elif kind == "hydro":
        results, period = hydro_blocks(run, metrics, notes)
    else:
        results, period = [], None
        notes.append("The run's kind (hydro or rain) is unknown: only its files are described.")
    history = history_block(run)
    blocks = [summary_block(run, status, config, period), *results, *([history] if history else []),
              config_block(run, config, notes), Block("Machine writing this report", [_facts_table(machine_facts())])]
    return Content(blocks, notes)
