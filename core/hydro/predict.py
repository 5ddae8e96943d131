"""Prediction in basins a trained run never saw (ungauged basins): ``python -m core hydro predict``.

A trained run keeps, per model, its config and its checkpoints (``checkpoints/best.pt``, else
``last.pt``) with the normalisation statistics fitted on its training basins. :func:`predict_run`
loads basins from any source ``core.data.load_basins`` reads, builds the model inputs from their
forcing and static attributes only -- the dataset handed to the models has ``q_obs`` dropped, so
observed flow cannot leak into a prediction -- and runs every model of the run that can be applied to a
new basin:

- ``dpl`` (dXAJ): its parameter LSTM maps the basin's forcing and attributes to XAJ parameters;
- ``lstm``: the streamflow LSTM reads the same inputs;
- ``static_xaj`` is not run: it holds one calibrated parameter set per *training* basin and has
  nothing to say about another basin (reported under ``skipped``).

Warmup: each predicted day is the end of a window exactly as in evaluation
(:func:`core.hydro.evaluate.predict_period`), so it needs ``warmup + rho + horizon - 1`` days of
forcing before it. They are taken from the days before the period start when the data have them;
when the record starts later, the first days of the period that lack a full window are left NaN
(not predicted, not scored) and :attr:`Prediction.notes` says from which date each basin is
predicted. A period with no predictable day raises :class:`DataError`.

Observed flow, when the source has it, is only compared with the prediction afterwards
(``metrics.json``: ``test.median``, ``test.per_basin`` per model, the run's layout).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from core.atomic_io import atomic_write_json, atomic_write_with
from core.data import DataError, DataWarning, load_basins
from core.data.splits import Normalizer, parse_period
from core.hydro.config import DEFAULTS, deep_merge, for_model, validate
from core.hydro.evaluate import predict_period, score_basins
from core.hydro.groups import group_summary
from core.hydro.inputs import build_inputs, derived_inputs
from core.hydro.models import build_model
from core.hydro.params import XAJ_PARAMS, ParamRanges
from core.hydro.prepare import Prepared
from core.hydro.train import load_checkpoint
from core.hydro.windows import WindowSpec
from core.machine.device import resolve_device
from core.runs.folder import RunDir
from core.training.config import read_yaml

TRANSFERABLE = ("dpl", "lstm")
"""Models whose parameters or flows come from a basin's inputs, so they apply to a new basin."""

NOT_TRANSFERABLE = {"static_xaj": "calibrated per training basin: no parameters for a basin it was not trained on"}


@dataclass
class RunModel:
    """One trained model of a run: its name, its resolved config and its checkpoint file."""

    name: str
    config: dict[str, Any]
    checkpoint: Path


@dataclass
class Prediction:
    """What :func:`predict_run` returns: ``dataset`` (predictions.nc content), ``metrics`` (None without
    observed flow) and ``notes`` (models skipped, days not predicted), human-readable."""

    dataset: xr.Dataset
    metrics: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)


def run_models(run_dir: str | Path) -> tuple[dict[str, Any], list[RunModel], dict[str, str]]:
    """The run's config, its models that can predict a new basin (main model first), and the skipped
    ones with the reason. Raises DataError naming the run folder when it holds no trained model."""
    run = RunDir(run_dir)
    if not run.config_path.is_file():
        raise DataError("not a hydro run folder (no config.yaml)", file=run.path)
    stored = read_yaml(run.config_path)
    config = validate(deep_merge(DEFAULTS, stored if isinstance(stored, dict) else {}), run.config_path)
    models: list[RunModel] = []
    skipped: dict[str, str] = {}
    for i, name in enumerate([config["model"]] + list(config.get("baselines") or [])):
        folder = run if i == 0 else run.model_dir(name)
        if name not in TRANSFERABLE:
            skipped[name] = NOT_TRANSFERABLE.get(name, "not applicable to an ungauged basin")
            continue
        ckpt = next((p for p in (folder.checkpoint_dir / "best.pt", folder.checkpoint_dir / "last.pt") if p.is_file()), None)
        if ckpt is None:
            skipped[name] = f"no checkpoint in {folder.checkpoint_dir} (not trained)"
            continue
        models.append(RunModel(name, for_model(config, name), ckpt))
    if not models:
        raise DataError(f"no trained model that can predict an ungauged basin ({'; '.join(f'{k}: {v}' for k, v in skipped.items())})",
                        file=run.path)
    return config, models, skipped


def history_steps(spec: WindowSpec) -> int:
    """Steps of forcing a predicted day needs before it: its window's warmup and earlier targets."""
    return spec.warmup + spec.target_length - 1


def _window_spec(config: Mapping[str, Any]) -> WindowSpec:
    w = config["window"]
    return WindowSpec(int(w["warmup"]), int(w["rho"]), int(w["horizon"]), int(w["stride"]))


def forcing_only(ds: xr.Dataset) -> tuple[xr.Dataset, xr.DataArray | None]:
    """``(dataset without q_obs, q_obs or None)``: the models only ever see the first."""
    q_obs = ds["q_obs"] if "q_obs" in ds and bool(np.isfinite(ds["q_obs"].values).any()) else None
    return ds.drop_vars("q_obs", errors="ignore"), q_obs


def check_statics(ds: xr.Dataset, names: Iterable[str], source: str) -> None:
    """Raise DataError naming the basin and the attribute when a static input the run was trained
    with is absent from the source or missing (NaN) for one of its basins."""
    for name in names:
        if name not in ds:
            first = str(ds["basin"].values[0])
            raise DataError(f"basin {first} lacks the static attribute {name!r} the run needs (add it to the "
                            "source's basins.csv / attributes)", file=source, variable=name, basin=first)
        values = np.asarray(ds[name].values, dtype=np.float64)
        bad = np.nonzero(~np.isfinite(values))[0]
        if bad.size:
            basin = str(ds["basin"].values[bad[0]])
            raise DataError(f"basin {basin} lacks the static attribute {name!r} the run needs (missing value)",
                            file=source, variable=name, basin=basin)


def model_inputs(forcing: xr.Dataset, model: RunModel, norm: Normalizer, period: tuple[pd.Timestamp, pd.Timestamp],
                 source: str, snow: bool = False) -> Prepared:
    """The arrays of ``model`` for ``forcing`` (a dataset without q_obs), over the period and the
    history before it, scaled with the run's own statistics ``norm``. ``snow``: the model was trained
    with the snow routine (what ``model_args.snow`` resolved to on the *training* data, stored in its
    checkpoint), so x carries the air temperature; never re-resolved on the new basins."""
    config = model.config
    if "q_obs" in forcing:
        raise ValueError("model_inputs takes the forcing dataset without q_obs (see forcing_only)")
    step_s = forcing.attrs.get("time_step_seconds")
    run_step_s = float(config["xaj"].get("step_hours", 24.0)) * 3600.0
    if step_s is not None and abs(float(step_s) - run_step_s) > 1e-6:
        raise DataError(f"time step {float(step_s) / 3600:g} h differs from the run's {run_step_s / 3600:g} h",
                        file=source, variable="time")
    spec = _window_spec(config)
    start = period[0] - pd.Timedelta(seconds=run_step_s * history_steps(spec))
    part = forcing.sel(time=slice(start, period[1]))
    if part.sizes["time"] == 0 or pd.Timestamp(part["time"].values[-1]) < period[0]:
        raise DataError(f"no data in the period {period[0].date()} .. {period[1].date()} (the record covers "
                        f"{pd.Timestamp(forcing['time'].values[0]).date()} .. {pd.Timestamp(forcing['time'].values[-1]).date()})",
                        file=source, date=period[0])
    part, dynamic = derived_inputs(part, list(config["data"]["dynamic_inputs"]), bool(config["data"].get("log_prcp", False)))
    for name in dynamic:
        if name not in part:
            raise DataError(f"the run reads the forcing {name!r}, which the source lacks", file=source, variable=name)
    statics = list(norm.static)
    check_statics(part, statics, source)
    placeholder = xr.full_like(part["prcp"], np.nan)  # build_inputs wants a target array: all missing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the placeholder's flow spread is all-NaN by design
        inputs = build_inputs(part.assign(q_obs=placeholder), norm, dynamic, statics,
                              (str(period[0].date()), str(period[1].date())), temperature=snow)
    ranges = ParamRanges.from_dict(config.get("param_ranges"), source="config param_ranges",
                                   preset=config.get("range_preset", "classic"))
    periods = {"train": None, "valid": None, "test": (str(period[0].date()), str(period[1].date()))}
    return Prepared(inputs=inputs, norm=norm, periods=periods, spec=spec, ranges=ranges, snow=snow)


def _load(source: str, basins: list[str] | None, config: Mapping[str, Any], cache: dict,
          notes: list[str]) -> xr.Dataset:
    """The source's basins as ``config`` reads them (its PET method, its attribute files), loaded once
    per distinct reading; the data's quirks kept as given (DataWarning) go to ``notes``."""
    data = config["data"]
    key = (data.get("pet_method", "auto"), str(data.get("attributes")))
    if key not in cache:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            cache[key] = load_basins(source, basins=basins, pet_method=data.get("pet_method", "auto"),
                                     attributes=data.get("attributes"))
        notes += [str(w.message) for w in caught if issubclass(w.category, DataWarning) and str(w.message) not in notes]
    return cache[key]


def predict_run(run_dir: str | Path, source: str, period: tuple[Any, Any], basins: list[str] | None = None,
                device: str = "cpu", stride: int | None = None) -> Prediction:
    """Run every transferable model of the trained run ``run_dir`` on the basins of ``source`` over
    ``period`` (start, end dates, inclusive). Streamflow in mm/step. Errors in the data raise
    :class:`DataError` naming file, variable, basin and date.

    ``stride``: a window every k days predicting its last k, 1 .. ``rho + horizon``. None (default):
    ``rho + horizon``, each window predicts its whole target part, the days training scored for it
    (on the 150 regional CAMELS basins the median NSE and KGE differ from the run's stride 30 by
    0.002 and 0.009, within noise, at a twelfth of the cost: docs/hydro_predict.md). The run's
    ``evaluate.stride`` reproduces ``hydro evaluate`` exactly."""
    config, models, skipped = run_models(run_dir)
    start, end = parse_period(period, "prediction")
    dev = resolve_device(device)
    notes = [f"{name} not predicted: {why}" for name, why in skipped.items()]
    loaded: dict = {}
    sims: dict[str, np.ndarray] = {}
    params = None
    snow: dict[str, np.ndarray] = {}
    strides: dict[str, int] = {}
    time = ids = first_ds = None
    q_obs = None
    for model in models:
        ds = _load(source, basins, model.config, loaded, notes)
        forcing, observed = forcing_only(ds)
        ckpt = load_checkpoint(model.checkpoint)
        prepared = model_inputs(forcing, model, Normalizer.from_dict(ckpt["normalization"]), (start, end), source,
                                snow=bool(ckpt.get("snow", False)))
        net = build_model(model.config, prepared)
        net.load_state_dict(ckpt["model"])
        k = int(stride or prepared.spec.target_length)
        if not 1 <= k <= prepared.spec.target_length:
            raise ValueError(f"stride must be in 1 .. rho + horizon = {prepared.spec.target_length} "
                             f"(model {model.name}), got {k}")
        pred = predict_period(net, prepared, "test", int(model.config["evaluate"]["batch_size"]), dev, stride=k)
        strides[model.name] = k
        sl = slice(pred["first"], pred["last"] + 1)
        if time is None:
            time, ids, first_ds = prepared.inputs.time[sl], prepared.inputs.basins, prepared
            q_obs = None if observed is None else observed.sel(basin=ids, time=time).values.astype(np.float32)
        sims[model.name] = pred["q_sim"]
        if model.name == "dpl" and pred.get("params") is not None:
            params = (pred["params"], prepared.ranges)
        if model.name == "dpl" and "snow_pack" in pred:
            snow = {k: pred[k] for k in ("snow_pack", "snow_melt")}
    dataset = _dataset(config, run_dir, source, ids, time, sims, params, q_obs, first_ds, skipped)
    dataset.attrs["window_stride"] = json.dumps(strides)
    for name, values in snow.items():  # dXAJ with the snow routine: its pack and melt beside the flow
        dataset[name] = (("basin", "time"), values, {"units": "mm" if name == "snow_pack" else "mm/step",
                                                     "long_name": f"{name.replace('_', ' ')} (dXAJ snow routine)"})
    notes += _unpredicted_notes(dataset, history_steps(first_ds.spec))
    metrics = None if q_obs is None else _metrics(config, dataset, loaded, ids, skipped)
    return Prediction(dataset=dataset, metrics=metrics, notes=notes)


def _dataset(config, run_dir, source, ids, time, sims, params, q_obs, prepared, skipped) -> xr.Dataset:
    names = list(sims)
    x = prepared.inputs.x
    first = int(prepared.inputs.time.get_indexer([time[0]])[0])
    sl = slice(first, first + len(time))
    ds = xr.Dataset(
        {
            "q_sim": (("model", "basin", "time"), np.stack([sims[n] for n in names]),
                      {"units": "mm/step", "long_name": "simulated streamflow of each model (ungauged prediction)"}),
            "prcp": (("basin", "time"), x[:, sl, 0], {"units": "mm/step", "long_name": "precipitation"}),
            "pet": (("basin", "time"), x[:, sl, 1], {"units": "mm/step", "long_name": "potential evapotranspiration"}),
        },
        coords={"model": names, "basin": ids, "time": time},
        attrs={"kind": "hydro_prediction", "run_dir": str(run_dir), "source": str(source), "main_model": config["model"],
               "period": json.dumps([str(pd.Timestamp(time[0]).date()), str(pd.Timestamp(time[-1]).date())]),
               "skipped_models": json.dumps(skipped),
               "warmup": prepared.spec.warmup, "rho": prepared.spec.rho, "horizon": prepared.spec.horizon},
    )
    if q_obs is not None:
        ds["q_obs"] = (("basin", "time"), q_obs,
                       {"units": "mm/step", "long_name": "observed streamflow (scored only, never a model input)"})
    if params is not None:
        values, ranges = params
        ds = ds.assign_coords(param=list(XAJ_PARAMS))
        ds["params"] = (("basin", "time", "param"), values,
                        {"long_name": "XAJ parameters dXAJ generated for the window ending on each day (physical units)"})
        ds["param_lower"] = ("param", np.array(ranges.lower, dtype=np.float64))
        ds["param_upper"] = ("param", np.array(ranges.upper, dtype=np.float64))
        ds.attrs["param_ranges"] = json.dumps(ranges.to_dict())
    return ds


def _unpredicted_notes(ds: xr.Dataset, history: int) -> list[str]:
    notes = []
    q = ds["q_sim"].values
    for i, basin in enumerate(ds["basin"].values):
        done = np.isfinite(q[:, i]).all(axis=0)
        if not done.all():
            first = np.argmax(done) if done.any() else None
            since = f"from {pd.Timestamp(ds['time'].values[first]).date()}" if first is not None else "on no day"
            notes.append(f"basin {basin}: predicted {since} only; the days before are not covered by a full window "
                         f"({history + 1} days with its warmup) inside the record (not predicted, not scored)")
    if not np.isfinite(q).any():
        raise DataError(f"no day of the period can be predicted: every day needs {history} days of forcing before it",
                        file=ds.attrs.get("source"), date=str(ds["time"].values[0])[:10])
    return notes


def _metrics(config: Mapping[str, Any], ds: xr.Dataset, loaded: dict, ids: list[str], skipped: dict) -> dict[str, Any]:
    """metrics.json in the run's layout: the main model's block at the top, each other model under its name."""
    obs = ds["q_obs"].values
    period = json.loads(ds.attrs["period"])
    group_by = config["evaluate"].get("group_by")
    attrs = next(iter(loaded.values()))
    out: dict[str, Any] = {"kind": "ungauged_prediction", "run_dir": ds.attrs["run_dir"], "source": ds.attrs["source"],
                           "skipped": skipped}
    for name in ds["model"].values.tolist():
        scores = score_basins(ds["q_sim"].sel(model=name).values, obs, ids)
        scores["period"] = period
        if group_by and group_by in attrs:
            values = dict(zip(ids, attrs[group_by].sel(basin=ids).values.astype(float).tolist()))
            scores["groups"] = group_summary(scores["per_basin"], values, group_by, config["evaluate"].get("group_edges") or [])
        if name == ds.attrs["main_model"] and "test" not in out:
            out.update({"model": name, "test": scores})
        else:
            out[name] = {"test": scores}
    if "test" not in out:  # the main model was skipped: the first predicted model heads the file
        first = ds["model"].values.tolist()[0]
        out.update({"model": first, "test": out.pop(first)["test"]})
    return out


def write_prediction(prediction: Prediction, out_dir: str | Path) -> list[Path]:
    """Write ``predictions.nc`` (and ``metrics.json`` when flow was observed) atomically into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "predictions.nc"]
    atomic_write_with(written[0], lambda tmp: prediction.dataset.to_netcdf(tmp))
    if prediction.metrics is not None:
        written.append(out / "metrics.json")
        atomic_write_json(written[1], prediction.metrics)
    return written

