"""Test-set verification of experiments 1 and 2 against persistence, on region 1 only.

Every system (``exp1``, ``exp2``, ``persistence`` = the last observed rain map) is scored identically
on the same test samples and region-1 pixels: RMSE and MAE (rain units), and per threshold
(event = value >= threshold) the contingency counts, CSI, POD, FAR, frequency bias and ETS, and FSS
at a few window sizes. The experiment 2 minus experiment 1 difference of CSI and RMSE gets a paired
bootstrap confidence interval over test times, and so does the CSI of the better experiment minus
the strongest baseline at each threshold (:func:`compare_with_baselines`).

``metrics.json`` (docs/design.md, 7. Contracts)::

    {"test": {"exp1": {"rmse": .., "mae": .., "csi": {"5.0": ..}, "pod": {..}, "far": {..},
                       "bias": {..}, "ets": {..}, "contingency": {"5.0": {"hits": ..}}, "fss": {"5.0": {"3": ..}}},
              "exp2": {..}, "persistence": {..}},
     "comparison": {"exp2_minus_exp1": {"csi": {"5.0": {"diff", "low", "high", "level", "n_boot"}}, "rmse": {..}},
                    "best_minus_baseline": {"csi": {"5.0": {"experiment": "exp2", "baseline": "sprog", "diff", "low",
                                                            "high", "level", "n_boot"}}}},
     "thresholds": [..], "units": "..", "n_test": .., "test_times": [first, last], "grid": {..},
     "test_leads": {"30": {"exp1": {..as test..}, "exp2": .., "persistence": .., "extrapolation": .., "sprog": ..,
                           "anvil": .., "steps_mean": ..}},
     "comparison_leads": {"30": {"exp2_minus_exp1": {..}, "best_minus_baseline": {..}}}, "leads_minutes": ["5", ..],
     "main_lead_minutes": "30"}

``test`` is ``test_leads`` at the main lead. Leads are keyed in minutes (``"720"`` for the 12-hourly
reanalysis). A sample issued at frame ``i`` (its last input) is scored at lead ``k`` against frame ``i + k``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from core import metrics as M
from core.rain.baselines import METHODS as BASELINES
from core.rain.experiments import EXPERIMENTS, ExperimentData, lead_key, sample_inputs, step_minutes
from core.rain.model import STRainNet
from core.rain.probmatch import match_forecasts
from core.atomic_io import atomic_write_with

DEFAULT_THRESHOLDS_12H = (0.1, 5.0, 15.0, 30.0)  # mm per 12 h
DEFAULT_THRESHOLDS_RADAR = (0.5, 1.0, 5.0, 10.0)  # mm/h
DEFAULT_FSS_SCALES = (1, 3, 5)  # pixels


def threshold_key(threshold: float) -> str:
    """JSON key of a threshold: ``5 -> "5.0"``, ``0.1 -> "0.1"``."""
    return str(float(threshold))


def check_thresholds(thresholds) -> list[float]:
    """Validated list of thresholds (positive, finite, increasing)."""
    if not isinstance(thresholds, (list, tuple)) or not thresholds:
        raise ValueError(f"config evaluate.thresholds must be a non-empty list of numbers, got {thresholds!r}")
    try:
        values = [float(t) for t in thresholds]
    except (TypeError, ValueError):
        raise ValueError(f"config evaluate.thresholds must be numbers, got {thresholds!r}") from None
    if any(not np.isfinite(v) or v <= 0 for v in values):
        raise ValueError(f"config evaluate.thresholds must be positive and finite, got {values}")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"config evaluate.thresholds must be strictly increasing, got {values}")
    return values


@torch.no_grad()
def predict(
    model: STRainNet,
    data: ExperimentData,
    ends: np.ndarray,
    steps: int,
    device: torch.device,
    autocast_dtype: torch.dtype | None = None,
    batch_size: int = 8,
) -> np.ndarray:
    """Region-1 rain predicted for the samples issued at ``ends``: ``[N, n_leads, H1, W1]`` float64.

    Channel ``k`` is the forecast ``k + 1`` steps after the issue time (the last input frame).
    """
    model.eval()
    out = []
    rows, cols = data.r1
    for k in range(0, len(ends), batch_size):
        chunk = ends[k : k + batch_size]
        x = np.stack([sample_inputs(data, int(i), steps) for i in chunk])
        xt = torch.from_numpy(x).to(device)
        with torch.autocast(device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            y = model(xt)
        y = y.float()[:, :, rows, cols].cpu().numpy()
        out.append(data.normalizer.rain_inverse(y))
    n_out = int(getattr(model, "out_channels", 1))
    return np.concatenate(out, axis=0) if out else np.zeros((0, n_out) + data.mask[rows, cols].shape)


def truth_and_persistence(data: ExperimentData, ends: np.ndarray, lead: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Observed region-1 rain ``lead`` steps after the issue frames ``ends`` and at them (persistence), ``[N, H1, W1]``."""
    rows, cols = data.r1
    truth = data.rain_mm[np.asarray(ends) + int(lead)][:, rows, cols].astype(np.float64)
    persistence = data.rain_mm[np.asarray(ends)][:, rows, cols].astype(np.float64)
    return truth, persistence


def matching_reference(data: ExperimentData, ends: np.ndarray, reference: str) -> np.ndarray:
    """Region-1 rain the nets' forecasts are probability-matched to (:mod:`core.rain.probmatch`):
    the last observed map ``[N, H1, W1]`` (``last_frame``) or the guide ``[N, n_leads, H1, W1]`` (``guide``), mm."""
    rows, cols = data.r1
    if reference == "last_frame":
        return data.rain_mm[np.asarray(ends)][:, rows, cols].astype(np.float64)
    if data.guide is None:
        raise ValueError("config nowcast.prob_matching = guide needs a nowcast.guide")
    return np.asarray(data.normalizer.rain_inverse(data.guide[np.asarray(ends)][:, :, rows, cols]), dtype=np.float64)


def score(pred: np.ndarray, obs: np.ndarray, thresholds, fss_scales) -> dict:
    """All scores of one system: ``pred`` and ``obs`` ``[N, H, W]`` in the same units (NaN = unobserved)."""
    out: dict = {"rmse": M.rmse(pred, obs), "mae": M.mae(pred, obs)}
    for name in ("csi", "pod", "far", "bias", "ets", "contingency", "fss"):
        out[name] = {}
    for t in thresholds:
        key = threshold_key(t)
        counts = M.contingency(pred, obs, t)
        scores = M.scores_from_counts(counts)
        for name in ("csi", "pod", "far", "bias", "ets"):
            out[name][key] = scores[name]
        out["contingency"][key] = counts
        out["fss"][key] = {str(int(s)): M.fss(pred, obs, t, int(s)) for s in fss_scales}
    return out


def compare(pred1: np.ndarray, pred2: np.ndarray, obs: np.ndarray, thresholds, n_boot: int, seed: int) -> dict:
    """Paired bootstrap (over test times) of exp2 - exp1 for CSI per threshold and for RMSE.

    A positive CSI difference and a negative RMSE difference favour experiment 2.
    """
    a = np.stack([pred1, obs], axis=1)
    b = np.stack([pred2, obs], axis=1)
    out = {"csi": {}, "rmse": M.paired_bootstrap_ci(lambda c: M.rmse(c[:, 0], c[:, 1]), a, b, n_boot, seed)}
    for t in thresholds:
        # from per-sample counts: the same draws and interval as resampling the fields, without re-reading them
        out["csi"][threshold_key(t)] = M.paired_bootstrap_csi(M.case_counts(pred1, obs, t), M.case_counts(pred2, obs, t),
                                                             n_boot, seed)
    return out


def compare_with_baselines(forecasts: dict[str, np.ndarray], obs: np.ndarray, thresholds, n_boot: int,
                           seed: int) -> dict:
    """Paired bootstrap of CSI of the better experiment minus the strongest baseline, per threshold.

    ``forecasts``: ``{system: [N, H, W]}`` at one lead, ``obs`` ``[N, H, W]``. At each threshold the
    better experiment is the one of ``exp1``/``exp2`` with the higher CSI over the test samples, the
    strongest baseline the system without training (persistence, extrapolation, S-PROG, ANVIL, the
    STEPS mean ...) with the highest; both are picked on the test samples themselves, so the
    interval answers "does the best network beat the best reference here", not a pick made
    beforehand. Returns ``{"csi": {threshold key: {"experiment", "baseline", "diff", "low", "high",
    "level", "n_boot"}}}``; a threshold where no experiment or no baseline has a defined CSI is left out.
    """
    exps = [s for s in EXPERIMENTS if s in forecasts]
    refs = [s for s in forecasts if s not in EXPERIMENTS]
    out: dict = {"csi": {}}
    if not exps or not refs:
        return out
    for t in thresholds:
        counts = {s: M.case_counts(forecasts[s], obs, t) for s in exps + refs}
        csi = {s: M.scores_from_counts({"hits": int(c[:, 0].sum()), "misses": int(c[:, 1].sum()),
                                        "false_alarms": int(c[:, 2].sum()), "correct_negatives": 0})["csi"]
               for s, c in counts.items()}
        defined = {s: v for s, v in csi.items() if np.isfinite(v)}
        best_exp = max((s for s in exps if s in defined), key=defined.get, default=None)
        best_ref = max((s for s in refs if s in defined), key=defined.get, default=None)
        if best_exp is None or best_ref is None:
            continue
        ci = M.paired_bootstrap_csi(counts[best_ref], counts[best_exp], n_boot, seed)
        out["csi"][threshold_key(t)] = {"experiment": best_exp, "baseline": best_ref, **ci}
    return out


def write_predictions(
    path: Path,
    times: pd.DatetimeIndex,
    lat: np.ndarray,
    lon: np.ndarray,
    fields: dict[str, np.ndarray],
    units: str,
    attrs: dict,
    upstream: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    leads: tuple[np.ndarray, pd.DatetimeIndex, dict[str, np.ndarray]] | None = None,
) -> None:
    """Write region-1 ``fields`` (``[time, lat, lon]``) and optionally the exp2 input extent to NetCDF atomically.

    ``upstream`` = ``(lat_input, lon_input, last_rain [time, lat_input, lon_input])``: the last observed
    rain over experiment 2's whole input grid (regions 2 and 1), for maps.
    """
    data_vars = {
        name: (("time", "lat", "lon"), np.asarray(v, dtype=np.float32), {"units": units, "long_name": _LONG.get(name, name)})
        for name, v in fields.items()
    }
    coords = {
        "time": ("time", pd.DatetimeIndex(times).values),
        "lat": ("lat", np.asarray(lat, dtype=np.float64), {"units": "degrees_north", "standard_name": "latitude"}),
        "lon": ("lon", np.asarray(lon, dtype=np.float64), {"units": "degrees_east", "standard_name": "longitude"}),
    }
    if upstream is not None:
        lat_in, lon_in, last = upstream
        coords["lat_input"] = ("lat_input", np.asarray(lat_in, dtype=np.float64), {"units": "degrees_north"})
        coords["lon_input"] = ("lon_input", np.asarray(lon_in, dtype=np.float64), {"units": "degrees_east"})
        data_vars["input_rain_last"] = (
            ("time", "lat_input", "lon_input"),
            np.asarray(last, dtype=np.float32),
            {"units": units, "long_name": "last observed rain over the experiment 2 input grid (region 2 + region 1)"},
        )
    if leads is not None:
        # every lead: <system>_by_lead (lead, issue_time, lat, lon); valid_time = issue_time + lead
        lead_min, issue, by_lead = leads
        coords["lead"] = ("lead", np.asarray(lead_min, dtype=np.float64), {"units": "minutes"})
        coords["issue_time"] = ("issue_time", pd.DatetimeIndex(issue).values)
        valid = pd.DatetimeIndex(issue).values[None, :] + (np.asarray(lead_min) * 60e9).astype("timedelta64[ns]")[:, None]
        coords["valid_time"] = (("lead", "issue_time"), valid)
        for name, v in by_lead.items():
            data_vars[f"{name}_by_lead"] = (("lead", "issue_time", "lat", "lon"), np.asarray(v, dtype=np.float32),
                                            {"units": units, "long_name": _LONG.get(name, name) + ", every lead"})
    ds = xr.Dataset(data_vars, coords=coords, attrs={k: str(v) for k, v in attrs.items()})
    encoding = {name: {"zlib": True, "complevel": 4} for name in ds.data_vars}
    atomic_write_with(path, lambda tmp: ds.to_netcdf(tmp, encoding=encoding))


_LONG = {
    "truth": "observed rain at the predicted time",
    "exp1": "ST-RainNet experiment 1 (region 1 only)",
    "exp2": "ST-RainNet experiment 2 (upstream region 2 + region 1)",
    "persistence": "persistence: last observed rain map",
    "extrapolation": "pySTEPS Lucas-Kanade motion + semi-Lagrangian extrapolation",
    "sprog": "pySTEPS S-PROG (cascade of AR(2)-damped advected scales)",
    "anvil": "pySTEPS ANVIL (advected cascade of ARI(2,1) growth and decay)",
    "steps_mean": "mean of a pySTEPS STEPS ensemble (stochastic cascade nowcasts)",
}

SYSTEM_ORDER = (*EXPERIMENTS, *BASELINES.names())


def evaluate_leads(prepared, models: dict, thresholds: list[float], fss_scales, n_boot: int, seed: int,
                   device: torch.device, autocast_dtype, batch_size: int, predictions_path: Path) -> dict:
    """Score every experiment and baseline at every lead on the same test samples and region-1 pixels.

    ``prepared``: :class:`core.rain.pipeline.Prepared`; ``models``: ``{exp: model}``. Returns the
    metrics dict (module docstring) with ``test`` at the main lead and ``test_leads.<minutes>``; writes
    ``predictions_path``.
    """
    nc = prepared.nowcast
    ends = prepared.split.test
    first = prepared.experiments[next(iter(prepared.experiments))]
    minutes = step_minutes(prepared.times.values)
    forecasts: dict[str, np.ndarray] = {}  # [N, n_leads, H1, W1]
    for name, model in models.items():
        forecasts[name] = predict(model, prepared.experiments[name], ends, prepared.steps, device,
                                  autocast_dtype, batch_size)
        if nc.prob_matching != "none":
            forecasts[name] = match_forecasts(forecasts[name], matching_reference(prepared.experiments[name], ends,
                                                                                  nc.prob_matching))
    forecasts.update(prepared.baselines or {})
    systems = [s for s in SYSTEM_ORDER if s in forecasts]
    truth_by_lead, test_leads, comp_leads = {}, {}, {}
    for lead in nc.leads:
        truth, _ = truth_and_persistence(first, ends, lead)
        truth_by_lead[lead] = truth
        key = lead_key(lead, minutes)
        test_leads[key] = {s: score(forecasts[s][:, lead - 1], truth, thresholds, fss_scales) for s in systems}
        comp = {}
        if "exp1" in forecasts and "exp2" in forecasts:
            comp["exp2_minus_exp1"] = compare(forecasts["exp1"][:, lead - 1], forecasts["exp2"][:, lead - 1],
                                              truth, thresholds, n_boot, seed)
        best = compare_with_baselines({s: forecasts[s][:, lead - 1] for s in systems}, truth, thresholds, n_boot, seed)
        if best["csi"]:
            comp["best_minus_baseline"] = best
        if comp:
            comp_leads[key] = comp
    main_key = lead_key(nc.main_lead, minutes)
    valid_main = prepared.times[ends + nc.main_lead]
    metrics = {
        "test": test_leads[main_key],
        "test_leads": test_leads,
        "leads_minutes": [lead_key(k, minutes) for k in nc.leads],
        "main_lead_minutes": main_key,
        "systems": systems,
        "thresholds": thresholds,
        "fss_scales": list(fss_scales),
        "units": prepared.units,
        "n_test": int(len(ends)),
        "test_times": [valid_main[0].isoformat(), valid_main[-1].isoformat()],
        "issue_times": [prepared.times[ends[0]].isoformat(), prepared.times[ends[-1]].isoformat()],
        "n_train": int(len(prepared.split.train)),
        "n_val": int(len(prepared.split.val)),
        "grid": {
            name: {"input_shape": list(d.inputs.shape[-2:]), "region1_shape": list(d.mask[d.r1].shape),
                   "channels": d.model_channels}
            for name, d in prepared.experiments.items()
        },
        "source": prepared.kind,
        "upstream_side": prepared.layout.side,
        "nowcast": {"guide": nc.guide, "augment": nc.augment, "n_leads": nc.n_leads, "prob_matching": nc.prob_matching},
    }
    if comp_leads:
        metrics["comparison"] = comp_leads.get(main_key, {})
        metrics["comparison_leads"] = comp_leads
    rows, cols = first.r1
    upstream = None
    if "exp2" in prepared.experiments:
        d2 = prepared.experiments["exp2"]
        upstream = (d2.lat, d2.lon, d2.rain_mm[ends])
    main = {"truth": truth_by_lead[nc.main_lead], **{s: forecasts[s][:, nc.main_lead - 1] for s in systems}}
    by_lead = {"truth": np.stack([truth_by_lead[k] for k in nc.leads])}
    by_lead.update({s: np.stack([forecasts[s][:, k - 1] for k in nc.leads]) for s in systems})
    write_predictions(
        predictions_path, valid_main, first.lat[rows], first.lon[cols], main, prepared.units,
        {"upstream_side": prepared.layout.side, "experiments": ",".join(models), "main_lead_minutes": main_key},
        upstream,
        leads=(np.asarray([k * minutes for k in nc.leads]), prepared.times[ends], by_lead),
    )
    return metrics
