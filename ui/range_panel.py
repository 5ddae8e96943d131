"""Range diagnostics of a finished dXAJ run (computed by ``core.hydro.range_diagnostics``) and the
one-click "start a run with this range widened", which fills Train dXAJ with the run's settings and
the widened range without starting anything."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import streamlit as st
import xarray as xr

from core.hydro.range_diagnostics import (FLAG_SHARE, NEAR_BOUND, WIDEN_FACTOR, BoundDiagnosis, diagnose_predictions,
                                          diagnosis_table, flag_message, widened_ranges)
from core.runs.folder import RunDir
from ui.data import predictions
from ui.frame import BASINS_KEY, DATA_SOURCE_KEY, PERIOD_KEY, remember
from ui.ranges import set_draft

TRAIN_PAGE = "pages/2_Train_dXAJ.py"
PREFILL_NOTE_KEY = "_train_prefill_note"
"""What Train dXAJ was filled from (shown on that page until the next Start)."""

# Train page number field -> (the run's config key, the field's bounds); the page keeps its fields per
# preset tag as ``<field>_<tag>``. A value outside the bounds would make the widget refuse to draw.
_NUMBERS = {"warmup": (("window", "warmup"), 0, 3650), "rho": (("window", "rho"), 5, 3650),
            "batch": (("train", "batch_size"), 1, 4096), "epochs": (("train", "epochs"), 1, 1000),
            "iters": (("train", "iterations_per_epoch"), 1, 100000), "hidden": (("model_args", "hidden"), 4, 1024)}
_CHOICES = {"loss": ("train", "loss"), "strategy": ("model_args", "strategy"), "device": ("train", "device")}


@st.cache_data(show_spinner=False, max_entries=32)
def _diagnoses(path: str, mtime: float) -> list[BoundDiagnosis]:
    """The diagnoses of a run's predictions.nc, once per file version (0.1 s for 25 basins x 10 years)."""
    return diagnose_predictions(predictions(Path(path), "hydro"))


def range_panel(run: RunDir, ds: xr.Dataset, where: str) -> None:
    """The diagnostics table of ``run`` (its predictions ``ds``), a warning per flagged bound and its
    widen button. ``where`` keeps widget keys apart between pages ("train", "parameters")."""
    try:
        diagnoses = _diagnoses(str(run.predictions_path), run.predictions_path.stat().st_mtime) \
            if run.predictions_path.exists() else diagnose_predictions(ds)
    except (OSError, ValueError) as exc:
        st.warning(f"Range diagnostics of {run.name}: {exc}", icon="⚠️")
        return
    if not diagnoses:
        return
    st.markdown(f"**Range diagnostics of {run.name}**: share of the test steps (days x basins) whose generated "
                f"value lies within {NEAR_BOUND:.0%} of the range width from each bound. A bound is flagged from "
                f"{FLAG_SHARE:.0%}: a parameter spread evenly over its range would show about {NEAR_BOUND:.0%}, "
                "so a quarter of the steps means the LSTM presses against the bound and the range, not the "
                "data, decides the value.")
    table = diagnosis_table(diagnoses)
    st.dataframe(table, hide_index=True, key=f"range_diag_{where}", height=35 * (len(table) + 1) + 3,  # no scrolling
                 column_config={c: st.column_config.NumberColumn(c, format="%.1f")
                                for c in ("at lower bound (%)", "at upper bound (%)")})
    flagged = [(d, side) for d in diagnoses for side in d.flagged]
    if not flagged:
        st.caption(f"No parameter sits at a bound in {FLAG_SHARE:.0%} or more of the test steps.")
        return
    st.caption(f"A widened range moves the flagged bound out by {WIDEN_FACTOR:g} x its current width, stopping "
               "at the literature limit (core.hydro.params.LITERATURE_RANGES). The button fills Train dXAJ with "
               "this run's data, periods, settings and ranges with that one range widened; nothing starts "
               "until you press Start there.")
    for d, side in flagged:
        st.warning(flag_message(d, side), icon=":material/vertical_align_top:" if side == "upper" else ":material/vertical_align_bottom:")
        widened = d.widened(side)
        if widened is None:
            continue
        ranges = {str(n): (float(lo), float(hi)) for n, lo, hi in
                  zip(ds["param"].values, ds["param_lower"].values, ds["param_upper"].values)}
        try:
            new = widened_ranges(ranges, d.name, widened, source=f"ranges of {run.name}")
        except ValueError as exc:
            st.error(f"Cannot widen {d.name}: {exc}", icon="⚠️")
            continue
        change = f"{d.name} {d.lower:g} – {d.upper:g} widened to {widened[0]:g} – {widened[1]:g}"
        # filled in the click's callback: it runs before the Train page's widgets exist in this run
        if st.button(f"Start a run with {d.name} widened to {widened[0]:g} – {widened[1]:g}",
                     key=f"widen_{where}_{d.name}_{side}", on_click=prefill_train, args=(run, new, change)):
            if where == "train":
                st.rerun()  # the widen button sits in the job fragment: redraw the whole page, filled
            st.switch_page(TRAIN_PAGE)


def _date(value: Any) -> dt.date:
    return pd.Timestamp(value).date()


def _config_value(config: Mapping, path: tuple[str, ...]) -> Any:
    value: Any = config
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def prefill_train(run: RunDir, ranges: Mapping[str, list[float]], change: str) -> None:
    """Fill Train dXAJ from ``run``: its data source and basins (when this dashboard has that source),
    data and test periods, the form's settings for every preset, and ``ranges`` in the range table."""
    from core.hydro.config import SCHEMA
    from core.hydro.losses import LOSSES
    from core.hydro.models import baseline_names
    from core.hydro.run_config import PRESETS
    from ui.data import source_options

    choices = {"loss": LOSSES.names(), "strategy": list(SCHEMA.key("model_args.strategy").type.choices),
               "device": ["auto", "cpu", "cuda"]}

    set_draft({n: list(r) for n, r in ranges.items()})
    config = run.safe_config()
    notes = [f"Filled from run **{run.name}** with {change}."]
    if config.get("range_preset") in ("classic", "camels_us"):
        st.session_state["range_preset"] = config["range_preset"]
    data = config.get("data") if isinstance(config.get("data"), Mapping) else {}
    source, basins = data.get("source"), [str(b) for b in data.get("basins") or []]
    if source in source_options() and basins:
        st.session_state[DATA_SOURCE_KEY] = source
        st.session_state[BASINS_KEY] = basins
        notes.append(f"Data source and basins are the run's ({len(basins)} basins).")
    elif source:
        notes.append(f"The run's data source {source} is not available here: the sidebar's is kept.")
    try:
        train = tuple(_date(d) for d in data["train_period"])
        test = tuple(_date(d) for d in data["test_period"])
    except (KeyError, TypeError, ValueError):
        train = test = None
    for tag in range(len(PRESETS)):
        if train and test:
            remember(f"train_period_{tag}", train)
            remember(f"test_period_{tag}", test)
        for field, (path, low, high) in _NUMBERS.items():
            value = _config_value(config, path)
            if isinstance(value, (int, float)) and low <= value <= high:
                remember(f"{field}_{tag}", int(value))
        for field, path in _CHOICES.items():
            value = _config_value(config, path)
            if value in choices[field]:
                remember(f"{field}_{tag}", value)
        if isinstance(config.get("baselines"), list):
            remember(f"baselines_{tag}", [b for b in config["baselines"] if b in baseline_names()])
    if train and test:
        remember(PERIOD_KEY, (min(train[0], test[0]), max(train[1], test[1])))
    margs = config.get("model_args") if isinstance(config.get("model_args"), Mapping) else {}
    dynamic = list(margs.get("dynamic_params") or [])
    notes.append("Set by hand if you want them as in the run: dynamic parameters "
                 f"({', '.join(dynamic) or 'none'}) and XAJ components ({margs.get('n_components', 1)}).")
    st.session_state[PREFILL_NOTE_KEY] = " ".join(notes)


def show_prefill_note() -> None:
    """The note of :func:`prefill_train` on Train dXAJ (kept until a run starts)."""
    note = st.session_state.get(PREFILL_NOTE_KEY)
    if note:
        st.info(note, icon=":material/tune:")


def clear_prefill_note() -> None:
    st.session_state.pop(PREFILL_NOTE_KEY, None)
