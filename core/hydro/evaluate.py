"""Evaluation over the whole test period of every basin: scores, hydrographs, parameter trajectories.

Every test day ``t`` is simulated by the window that ends on it (targets ``[t - rho - horizon + 1, t]``,
warmup before that), exactly as in training, and its last step is the prediction for ``t``; the
warmup of the first test days comes from the days before the test period. The parameters that
window produced are the parameter trajectory entry of day ``t``. With ``evaluate.stride`` k > 1 a
window ends every k days and predicts its last k days (k times cheaper for long test periods). The static XAJ has one parameter
set per basin, so it runs once through warmup + the whole test period.

Outputs: ``metrics.json`` (docs/design.md, 7. Contracts: ``{"test": {"median": {...}, "per_basin": {...}}}``)
and ``predictions.nc`` with ``q_obs``, ``q_sim``, ``prcp``, ``pet`` ``(basin, time)`` and ``params``
``(basin, time, param)`` in physical units, with the ranges as ``param_lower``/``param_upper``; a run
with the snow routine adds ``tmean`` (degC), ``snow_pack`` (mm) and ``snow_melt`` (mm/step) ``(basin, time)``
and the attribute ``snow = 1``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import xarray as xr
from torch import nn

from core import metrics
from core.data.splits import Normalizer
from core.machine.device import resolve_device
from core.hydro.baselines import StaticXAJ
from core.hydro.groups import group_summary
from core.hydro.model_scores import median_scores
from core.hydro.params import XAJ_PARAMS
from core.hydro.models import build_model
from core.hydro.prepare import Prepared, prepare
from core.hydro.train import load_checkpoint
from core.hydro.windows import WindowSampler
from core.atomic_io import atomic_write_with
from core.runs.folder import RunDir

SCORE_KEYS = ("nse", "kge", "kge_r", "kge_alpha", "kge_beta", "rmse", "pbias", "peak_error")


@torch.no_grad()
def predict_period(model: nn.Module, prepared: Prepared, period: str = "test", batch_size: int = 512,
                   device: torch.device | None = None, stride: int = 1) -> dict[str, Any]:
    """Daily predictions over ``period`` for every basin.

    ``stride`` k: windows end every k days and each predicts its last k days with one parameter set
    (k = 1: a window per day, the exact per-day trajectory; larger k divides the cost by k and stays
    inside what training scored, since every target step of a window entered the loss).

    Returns ``{"first", "last", "q_sim": [basin, n] mm/step, "params": [basin, n, 15] or None}``,
    with the snow routine also ``snow_pack`` (mm) and ``snow_melt`` (mm/step) ``[basin, n]``;
    days without enough preceding data for a full window stay NaN.
    """
    device = device or torch.device("cpu")
    model.eval().to(device)
    inputs, spec = prepared.inputs, prepared.spec
    first, last = inputs.period_slice(prepared.periods[period], period)
    n_basins, n_days = len(inputs.basins), last - first + 1
    q_sim = np.full((n_basins, n_days), np.nan, dtype=np.float32)
    params = None

    if isinstance(model, StaticXAJ):
        # one parameter set per basin: a single continuous run, spun up on the preceding days
        start = max(0, first - spec.warmup - spec.rho)
        forcing = torch.as_tensor(inputs.x[:, start : last + 1].transpose(1, 0, 2), device=device)
        out = model.simulate(forcing, first - start)
        q_sim[:] = out["q"].T.cpu().numpy()
        params = np.repeat(out["params"].cpu().numpy()[:, None, :], n_days, axis=1)
        result = {"first": first, "last": last, "q_sim": q_sim, "params": params}
        if "snow_pack" in out:
            result["snow_pack"] = out["snow_pack"].T.float().cpu().numpy()
            result["snow_melt"] = out["snow_melt"].T.float().cpu().numpy()
        return result

    if not 1 <= stride <= spec.target_length:
        raise ValueError(f"config key 'evaluate.stride' must be in 1 .. rho + horizon = {spec.target_length}, got {stride}")
    ends = np.arange(last, first - 1, -stride)[::-1]  # window end days; the last test day always ends one
    starts = ends - spec.target_length + 1
    ok = starts - spec.warmup >= 0
    table = np.array([(b, f) for b in range(n_basins) for f in starts[ok]], dtype=np.int64).reshape(-1, 2)
    sampler = WindowSampler(inputs.x, inputs.z, inputs.y, table, spec)
    snow = {}  # with the snow routine: pack and melt of the window ending on each day, like q_sim
    back = np.arange(stride - 1, -1, -1)  # offsets of the predicted days before each window end
    for i in range(0, len(table), batch_size):
        rows = np.arange(i, min(i + batch_size, len(table)))
        batch = sampler.batch(rows).to(device)
        out = model(batch.x, batch.z, spec.warmup, batch.basin)
        b = np.broadcast_to(table[rows, 0], (stride, len(rows)))
        day = (table[rows, 1] + spec.target_length - 1 - first)[None, :] - back[:, None]  # [stride, n]
        keep = day >= 0
        q_sim[b[keep], day[keep]] = out["q"][-stride:].float().cpu().numpy()[keep]
        for name in ("snow_pack", "snow_melt"):
            if name in out:
                series = snow.setdefault(name, np.full((n_basins, n_days), np.nan, dtype=np.float32))
                series[b[keep], day[keep]] = out[name][-stride:].float().cpu().numpy()[keep]
        if "params" in out:
            if params is None:
                params = np.full((n_basins, n_days, len(XAJ_PARAMS)), np.nan, dtype=np.float32)
            traj = out["params"].float().cpu().numpy()
            if traj.ndim == 3:  # dynamic parameters [n, B, 15]: each predicted day keeps its own set
                p = traj[-stride:]
            else:
                p = np.broadcast_to(traj[None], (stride, len(rows), len(XAJ_PARAMS)))
            params[b[keep], day[keep]] = p[keep]
    return {"first": first, "last": last, "q_sim": q_sim, "params": params, "stride": stride, **snow}


def score_basins(q_sim: np.ndarray, q_obs: np.ndarray, basins: list[str]) -> dict[str, Any]:
    """``{"median": {...}, "per_basin": {id: hydro_scores}}`` for ``[basin, time]`` arrays."""
    per_basin = {bid: metrics.hydro_scores(q_sim[i], q_obs[i]) for i, bid in enumerate(basins)}
    return {"median": median_scores(per_basin, SCORE_KEYS), "per_basin": per_basin}


def predictions_dataset(prepared: Prepared, pred: Mapping[str, Any], model_name: str) -> xr.Dataset:
    """predictions.nc content for one model."""
    inputs = prepared.inputs
    sl = slice(pred["first"], pred["last"] + 1)
    coords = {"basin": inputs.basins, "time": inputs.time[sl]}
    ds = xr.Dataset(
        {
            "q_obs": (("basin", "time"), inputs.y[:, sl], {"units": "mm/step", "long_name": "observed streamflow"}),
            "q_sim": (("basin", "time"), pred["q_sim"], {"units": "mm/step", "long_name": f"simulated streamflow ({model_name})"}),
            "prcp": (("basin", "time"), inputs.x[:, sl, 0], {"units": "mm/step"}),
            "pet": (("basin", "time"), inputs.x[:, sl, 1], {"units": "mm/step"}),
        },
        coords=coords,
        attrs={"model": model_name, "test_period": json.dumps(prepared.periods["test"]),
               "window_stride": int(pred.get("stride", 1)),
               "warmup": prepared.spec.warmup, "rho": prepared.spec.rho, "horizon": prepared.spec.horizon},
    )
    if inputs.x.shape[-1] > 2:
        ds["tmean"] = (("basin", "time"), inputs.x[:, sl, 2], {"units": "degC", "long_name": "air temperature (snow routine)"})
    for name, long_name, units in (("snow_pack", "snow pack, solid and liquid water", "mm"),
                                   ("snow_melt", "snowmelt", "mm/step")):
        if name in pred:
            ds[name] = (("basin", "time"), pred[name], {"units": units, "long_name": long_name})
    if "snow_pack" in pred:
        ds.attrs["snow"] = 1
    if pred.get("params") is not None:
        ranges = prepared.ranges
        ds = ds.assign_coords(param=list(XAJ_PARAMS))
        ds["params"] = (("basin", "time", "param"), pred["params"],
                        {"long_name": "XAJ parameters of the window ending on each day (physical units)"})
        ds["param_lower"] = ("param", np.array(ranges.lower, dtype=np.float64))
        ds["param_upper"] = ("param", np.array(ranges.upper, dtype=np.float64))
        ds.attrs["param_ranges"] = json.dumps(ranges.to_dict())
    return ds


def model_from_checkpoint(config: Mapping[str, Any], ckpt_dir: Path,
                          prepared: Prepared | None = None) -> tuple[nn.Module, Prepared, int]:
    """Rebuild a trained model (best checkpoint, else last) with the normalisation it was trained with.

    ``prepared``: the run's data already loaded; used when its normalisation is the checkpoint's
    (else the data are prepared again with the checkpoint's statistics)."""
    path = ckpt_dir / "best.pt"
    if not path.exists():
        path = ckpt_dir / "last.pt"
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint in {ckpt_dir}: train the run first")
    ckpt = load_checkpoint(path)
    if prepared is None or prepared.norm.to_dict() != ckpt["normalization"]:
        prepared = prepare(config, Normalizer.from_dict(ckpt["normalization"]))
    model = build_model(config, prepared)
    model.load_state_dict(ckpt["model"])
    return model, prepared, int(ckpt["epoch"])


def evaluate_model(config: Mapping[str, Any], run: RunDir, device_name: str | None = None,
                   prepared: Prepared | None = None) -> dict[str, Any]:
    """Evaluate the model of the run folder ``run``: writes predictions.nc and returns the ``{"test": ...}``
    block (``prepared``: the run's data when already loaded)."""
    device = resolve_device(device_name or config["train"]["device"])
    model, prepared, epoch = model_from_checkpoint(config, run.checkpoint_dir, prepared)
    pred = predict_period(model, prepared, "test", int(config["evaluate"]["batch_size"]), device,
                          stride=int(config["evaluate"].get("stride") or 1))
    obs = prepared.inputs.y[:, pred["first"] : pred["last"] + 1]
    scores = score_basins(pred["q_sim"], obs, prepared.inputs.basins)
    ds = predictions_dataset(prepared, pred, config["model"])
    if "params" in ds:
        margs = config.get("model_args") or {}
        ds.attrs["dynamic_params"] = json.dumps(list(margs.get("dynamic_params") or []) if config["model"] == "dpl" else [])
        ds.attrs["n_components"] = int(margs.get("n_components", 1) or 1) if config["model"] == "dpl" else 1
    atomic_write_with(run.predictions_path, lambda tmp: ds.to_netcdf(tmp))
    scores["period"] = list(prepared.periods["test"])
    group_by = config["evaluate"].get("group_by")
    if group_by:
        values = dict(zip(prepared.inputs.basins, prepared.attributes[group_by].tolist()))
        scores["groups"] = group_summary(scores["per_basin"], values, group_by, config["evaluate"].get("group_edges") or [])
    return {"model": config["model"], "checkpoint_epoch": epoch, "test": scores}
