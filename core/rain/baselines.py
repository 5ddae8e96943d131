"""Rain nowcasting baselines without training, in the style of ``pysteps.nowcasts.get_method``.

Every method has the signature ``method(frames, n_leads, velocity=None) -> [n_leads, H, W]``: ``frames`` are the
observed rain maps up to the issue time ``[T, H, W]`` (mm/h or mm per step, oldest first, NaN =
unobserved) and the result holds the forecasts for 1 .. ``n_leads`` steps ahead in the same units;
``velocity`` is a motion field already estimated for these frames (methods without motion ignore it).
``get_method(name)`` returns one of :data:`METHODS`.

- ``persistence``: the last observed map at every lead.
- ``extrapolation``: pySTEPS Lucas-Kanade motion from the input frames (``pysteps.motion``, dense
  field) and semi-Lagrangian advection of the last frame (``pysteps.extrapolation``). Rain that
  would come from outside the grid is unknown and set to 0.
- ``sprog``: pySTEPS S-PROG (Seed 2003): the same motion, the last frames in dB decomposed into a
  6-level FFT cascade, each level advected and damped by its own AR(2) process (smaller scales
  lose predictability sooner, so the forecast smooths with lead time), then back to rain.

NaN pixels are treated as dry for the motion and the advection: pySTEPS needs finite fields.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from typing import Callable

import numpy as np

from core.registry import Registry

os.environ.setdefault("PYSTEPS_QUIET", "1")

METHODS: Registry[Callable[..., np.ndarray]] = Registry("rain baseline")
"""The baselines by name (config ``nowcast.baselines``), ``method(frames, n_leads, velocity=None)``."""
RAIN_THRESHOLD = 0.1  # mm/h: below this a pixel counts as dry for S-PROG's dB transform
DB_ZERO = -15.0  # dB value of a dry pixel


def _finite(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 3:
        raise ValueError(f"baseline frames must be [T, H, W], got shape {frames.shape}")
    return np.where(np.isfinite(frames), np.clip(frames, 0, None), 0.0)


@METHODS.register("persistence")
def persistence(frames: np.ndarray, n_leads: int, velocity: np.ndarray | None = None) -> np.ndarray:
    """The last frame repeated for leads 1 .. ``n_leads``: ``[n_leads, H, W]``."""
    last = np.asarray(frames, dtype=np.float64)[-1]
    return np.repeat(last[None], int(n_leads), axis=0)


def motion_field(frames: np.ndarray) -> np.ndarray:
    """Dense Lucas-Kanade motion ``[2, H, W]`` (pixels per step, x then y) from the frames ``[T, H, W]``."""
    from pysteps import motion

    rain = _finite(frames)
    if rain.shape[0] < 2:
        raise ValueError("Lucas-Kanade motion needs at least 2 frames")
    if not (rain[-1] > 0).any() or not (rain[:-1] > 0).any():
        return np.zeros((2,) + rain.shape[1:])  # nothing to track: no motion
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(motion.get_method("LK")(rain, verbose=False), dtype=np.float64)


@METHODS.register("extrapolation")
def extrapolation(frames: np.ndarray, n_leads: int, velocity: np.ndarray | None = None) -> np.ndarray:
    """Semi-Lagrangian extrapolation of the last frame along the Lucas-Kanade motion: ``[n_leads, H, W]``."""
    from pysteps import extrapolation as extrap

    rain = _finite(frames)
    v = motion_field(rain) if velocity is None else velocity
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = extrap.get_method("semilagrangian")(rain[-1], v, int(n_leads), outval=0.0)
    return np.clip(np.nan_to_num(np.asarray(out, dtype=np.float64), nan=0.0), 0, None)


@METHODS.register("sprog")
def sprog(frames: np.ndarray, n_leads: int, velocity: np.ndarray | None = None) -> np.ndarray:
    """pySTEPS S-PROG nowcast from the last 3 frames (AR order 2): ``[n_leads, H, W]``."""
    from pysteps import nowcasts
    from pysteps.utils import transformation

    rain = _finite(frames)
    if rain.shape[0] < 3:
        raise ValueError("S-PROG needs at least 3 input frames (AR order 2)")
    v = motion_field(rain) if velocity is None else velocity
    wet = rain[-3:] >= RAIN_THRESHOLD
    wet_per_frame = wet.reshape(3, -1).sum(axis=1)
    if wet_per_frame.min() < 10 or (~wet).reshape(3, -1).sum(axis=1).min() < 10:
        # the cascade's autocorrelations are undefined when any of the 3 frames is (almost) constant
        return extrapolation(rain, n_leads, v)
    db, _ = transformation.dB_transform(rain[-3:], {"transform": None, "unit": "mm/h", "threshold": RAIN_THRESHOLD,
                                                     "zerovalue": 0.0}, threshold=RAIN_THRESHOLD, zerovalue=DB_ZERO)
    # S-PROG prints a summary of its set-up on every call
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            out = nowcasts.get_method("sprog")(
                db, v, int(n_leads), precip_thr=10.0 * np.log10(RAIN_THRESHOLD), n_cascade_levels=6,
                measure_time=False,
            )
        except ValueError as err:
            if "non-finite" not in str(err):
                raise
            # a cascade level without variance (small grids, a few wet pixels) has no AR(2) fit;
            # S-PROG without damping is plain extrapolation
            return extrapolation(rain, n_leads, v)
    out = np.asarray(out, dtype=np.float64)
    rate = np.where(np.isfinite(out) & (out > 10.0 * np.log10(RAIN_THRESHOLD)), 10.0 ** (out / 10.0), 0.0)
    return rate


def get_method(name: str) -> Callable[..., np.ndarray]:
    """The baseline called ``name`` (one of :data:`METHODS`), as ``method(frames [T, H, W], n_leads)``."""
    return METHODS.get(name)


def nowcast_stack(rain: np.ndarray, issue: np.ndarray, steps: int, n_leads: int, methods) -> dict[str, np.ndarray]:
    """Every method's nowcasts issued at the frame indices ``issue`` from ``rain`` ``[time, H, W]``.

    Returns ``{name: [len(issue), n_leads, H, W]}`` (float32). The motion field is estimated once
    per issue time and shared by extrapolation and S-PROG, as pySTEPS users do.
    """
    out = {m: np.zeros((len(issue), n_leads) + rain.shape[1:], dtype=np.float32) for m in methods}
    for k, i in enumerate(np.asarray(issue, dtype=np.int64)):
        frames = rain[i - steps + 1 : i + 1]
        v = motion_field(frames) if ("extrapolation" in methods or "sprog" in methods) else None
        for m in methods:
            out[m][k] = get_method(m)(frames, n_leads, velocity=v)
    return out
