"""Hand-tuning sandbox: XAJ for one basin with parameters chosen by hand, scored on a test period only.

:func:`sandbox_forcing` cuts the forcing once (a warm-up year before the test period, then the test
period); :func:`run_sandbox` runs the fused XAJ kernel on it for one parameter set in milliseconds
and scores the test period only, so a hand-tuned NSE compares like with like against a trained
model's test NSE (scoring training years too would flatter the hand-tuned set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from core import metrics
from core.hydro.params import XAJ_PARAMS


@dataclass(frozen=True)
class SandboxForcing:
    """Forcing of one basin: ``forcing`` float64 ``[T, 1, 2]`` (P, PET in mm per step), the first
    ``warmup`` steps spin the stores up and are not scored; ``time``, ``q_obs`` and ``prcp`` cover
    the scored test period (``[T - warmup]``, q_obs NaN where not observed)."""

    basin: str
    forcing: np.ndarray
    warmup: int
    time: np.ndarray
    q_obs: np.ndarray
    prcp: np.ndarray


@dataclass(frozen=True)
class SandboxResult:
    """Simulated streamflow ``q_sim`` (mm per step, ``[T - warmup]``) and its test-period scores."""

    q_sim: np.ndarray
    scores: dict[str, float]


def sandbox_forcing(ds: xr.Dataset, basin: str, test_period: Sequence | None = None,
                    warmup_steps: int = 365) -> SandboxForcing:
    """Cut ``basin``'s forcing from a :func:`core.data.load_basins` dataset for the sandbox.

    ``test_period`` (first, last) is the scored period; default: the last year of the data (at most
    a third of it). Up to ``warmup_steps`` steps before it warm the stores up (fewer when the data
    starts later). Raises ValueError naming the basin when the period holds no step of the data.
    """
    one = ds.sel(basin=basin)
    time = pd.DatetimeIndex(one["time"].values)
    if test_period is None:
        n_test = min(365, max(len(time) // 3, 1))
        first, last = time[-n_test], time[-1]
    else:
        first, last = pd.Timestamp(test_period[0]), pd.Timestamp(test_period[1])
    inside = np.nonzero((time >= first) & (time <= last))[0]
    if inside.size == 0:
        raise ValueError(f"basin {basin}: the test period {first.date()}..{last.date()} holds no step of its data "
                         f"({time[0].date()}..{time[-1].date()})")
    i0, i1 = int(inside[0]), int(inside[-1]) + 1
    start = max(i0 - warmup_steps, 0)
    prcp = one["prcp"].values[start:i1].astype(np.float64)
    pet = one["pet"].values[start:i1].astype(np.float64)
    return SandboxForcing(basin=str(basin), forcing=np.stack([prcp, pet], axis=-1)[:, None, :], warmup=i0 - start,
                          time=one["time"].values[i0:i1], q_obs=one["q_obs"].values[i0:i1].astype(np.float64),
                          prcp=prcp[i0 - start:])


def run_sandbox(forcing: SandboxForcing, params: Sequence[float], backend: str = "auto") -> SandboxResult:
    """XAJ streamflow for the 15 physical ``params`` (order of ``XAJ_PARAMS``) and its test-period
    scores (:func:`core.metrics.hydro_scores`: NSE, KGE, RMSE in mm per step, PBIAS and peak error in %).

    ``backend`` as in :func:`core.hydro.xaj.simulate` ("auto" takes the fused kernel when available).
    """
    import torch

    from core.hydro.xaj import simulate

    values = np.asarray(params, dtype=np.float64).reshape(1, -1)
    if values.shape[1] != len(XAJ_PARAMS):
        raise ValueError(f"run_sandbox: {values.shape[1]} parameters given, XAJ needs {len(XAJ_PARAMS)} ({', '.join(XAJ_PARAMS)})")
    with torch.no_grad():
        q, _ = simulate(torch.from_numpy(forcing.forcing), torch.from_numpy(values), warmup=forcing.warmup,
                        backend=backend)
    q_sim = q[:, 0].numpy()
    return SandboxResult(q_sim=q_sim, scores=metrics.hydro_scores(q_sim, forcing.q_obs))
