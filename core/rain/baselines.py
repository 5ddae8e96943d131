"""Rain nowcasting baselines without training, in the style of ``pysteps.nowcasts.get_method``.

Every method has the signature ``method(frames, n_leads, velocity=None, **options) -> [n_leads, H, W]``: ``frames`` are the
observed rain maps up to the issue time ``[T, H, W]`` (mm/h or mm per step, oldest first, NaN =
unobserved) and the result holds the forecasts for 1 .. ``n_leads`` steps ahead in the same units;
``velocity`` is a motion field already estimated for these frames (methods without motion ignore it);
``options`` are what a method may need of the grid (``pixel_km``, ``step_minutes``) and its own
settings (``members``, ``seed``); every method accepts and ignores the ones it does not use.
``get_method(name)`` returns one of :data:`METHODS`.

- ``persistence``: the last observed map at every lead.
- ``extrapolation``: pySTEPS Lucas-Kanade motion from the input frames (``pysteps.motion``, dense
  field) and semi-Lagrangian advection of the last frame (``pysteps.extrapolation``). Rain that
  would come from outside the grid is unknown and set to 0.
- ``sprog``: pySTEPS S-PROG (Seed 2003): the same motion, the last frames in dB decomposed into a
  6-level FFT cascade, each level advected and damped by its own AR(2) process (smaller scales
  lose predictability sooner, so the forecast smooths with lead time), then back to rain.

- ``anvil``: pySTEPS ANVIL (Pulkkinen et al. 2020) on the rain rates themselves: the same motion,
  a cascade of the last 4 frames' time differences, each level an ARI(2,1) process whose
  parameters vary in space (windows of 50 pixels), advected, so rain can grow and decay; rain is
  kept only where the last frame was wet (pySTEPS' rain-rate mask).
- ``steps_mean``: the mean of a pySTEPS STEPS ensemble (Bowler et al. 2006; Seed et al. 2013):
  ``members`` (config ``nowcast.steps_members``, 20 by default) S-PROG-like cascades with
  stochastic noise on every level and perturbed motion (BPS), probability-matched to the last
  frame and masked incrementally; the members are averaged in rain units, not in dB. A fixed seed
  makes a run reproducible.

NaN pixels are treated as dry for the motion and the advection: pySTEPS needs finite fields. An
input whose last frame holds no rain (or too few frames for the method's AR order) is forecast by
the simpler scheme the method builds on (zero rain for a dry input, extrapolation otherwise), as
pySTEPS itself cannot fit its autoregressive processes there.
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
def persistence(frames: np.ndarray, n_leads: int, velocity: np.ndarray | None = None, **options) -> np.ndarray:
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
def extrapolation(frames: np.ndarray, n_leads: int, velocity: np.ndarray | None = None, **options) -> np.ndarray:
    """Semi-Lagrangian extrapolation of the last frame along the Lucas-Kanade motion: ``[n_leads, H, W]``."""
    from pysteps import extrapolation as extrap

    rain = _finite(frames)
    v = motion_field(rain) if velocity is None else velocity
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = extrap.get_method("semilagrangian")(rain[-1], v, int(n_leads), outval=0.0)
    return np.clip(np.nan_to_num(np.asarray(out, dtype=np.float64), nan=0.0), 0, None)


@METHODS.register("sprog")
def sprog(frames: np.ndarray, n_leads: int, velocity: np.ndarray | None = None, **options) -> np.ndarray:
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


def _quiet_pysteps():
    """pySTEPS' nowcasts print their set-up on every call and warn about their fits: both silenced."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    return stack


def _wet_enough(frames: np.ndarray, n: int) -> bool:
    """Whether each of the last ``n`` frames has at least 10 wet and 10 dry pixels (a cascade's
    autocorrelations are undefined on an (almost) constant field)."""
    wet = frames[-n:] >= RAIN_THRESHOLD
    return bool(wet.reshape(n, -1).sum(axis=1).min() >= 10 and (~wet).reshape(n, -1).sum(axis=1).min() >= 10)


def _cascade_levels(shape: tuple[int, ...]) -> int:
    """FFT cascade levels for a grid: 6 (pySTEPS' default) on radar grids, fewer on small ones so
    that the coarsest level still spans at least 2 pixels (the bandpass filters need room)."""
    return int(max(2, min(6, np.floor(np.log2(min(shape[-2:]))))))


@METHODS.register("anvil")
def anvil(frames: np.ndarray, n_leads: int, velocity: np.ndarray | None = None, **options) -> np.ndarray:
    """pySTEPS ANVIL nowcast from the last 4 frames (ARI(2,1); 3 frames give ARI(1,1)): ``[n_leads, H, W]``."""
    from pysteps import nowcasts

    rain = _finite(frames)
    if not (rain[-1] >= RAIN_THRESHOLD).any():
        return np.zeros((int(n_leads),) + rain.shape[1:])  # nothing to advect or grow
    ar_order = min(2, rain.shape[0] - 2)
    v = motion_field(rain) if velocity is None else velocity
    if ar_order < 1 or not _wet_enough(rain, ar_order + 2):
        return extrapolation(rain, n_leads, v)
    with _quiet_pysteps():
        try:
            out = nowcasts.get_method("anvil")(
                rain[-(ar_order + 2):], v, int(n_leads), ar_order=ar_order,
                n_cascade_levels=_cascade_levels(rain.shape), ar_window_radius=min(50, max(rain.shape[1:]) // 2),
                measure_time=False,
            )
        except (ValueError, np.linalg.LinAlgError):
            # an ARI fit without variance on some level (small grids, a few wet pixels): extrapolation
            return extrapolation(rain, n_leads, v)
    out = np.asarray(out, dtype=np.float64)
    if not np.isfinite(out).reshape(out.shape[0], -1).any(axis=1).all():
        # rain that only moves (no growth or decay in the Lagrangian frame) leaves the ARI fits
        # without variance and ANVIL returns NaN fields: the nowcast is then plain extrapolation
        return extrapolation(rain, n_leads, v)
    # NaN where the advected inputs did not reach (rain from outside the grid): unknown, 0 as in extrapolation
    return np.where(np.isfinite(out) & (out >= RAIN_THRESHOLD), out, 0.0)


STEPS_MEMBERS = 20
"""Default ensemble size of ``steps_mean`` (config ``nowcast.steps_members``)."""


@METHODS.register("steps_mean")
def steps_mean(frames: np.ndarray, n_leads: int, velocity: np.ndarray | None = None, *, members: int = STEPS_MEMBERS,
               pixel_km: float = 1.0, step_minutes: float = 5.0, seed: int = 0, **options) -> np.ndarray:
    """Mean of a ``members``-member pySTEPS STEPS ensemble from the last 3 frames: ``[n_leads, H, W]``.

    ``pixel_km`` (km per grid cell) and ``step_minutes`` (minutes per frame) scale the motion
    perturbations and the incremental mask; ``seed`` fixes the noise.
    """
    from pysteps import nowcasts
    from pysteps.utils import transformation

    rain = _finite(frames)
    if not (rain[-1] >= RAIN_THRESHOLD).any():
        return np.zeros((int(n_leads),) + rain.shape[1:])
    ar_order = min(2, rain.shape[0] - 1)
    v = motion_field(rain) if velocity is None else velocity
    if ar_order < 1 or not _wet_enough(rain, ar_order + 1):
        return extrapolation(rain, n_leads, v)
    db, _ = transformation.dB_transform(rain[-(ar_order + 1):], {"transform": None, "unit": "mm/h",
                                        "threshold": RAIN_THRESHOLD, "zerovalue": 0.0},
                                        threshold=RAIN_THRESHOLD, zerovalue=DB_ZERO)
    with _quiet_pysteps():
        try:
            ens = nowcasts.get_method("steps")(
                db, v, int(n_leads), n_ens_members=int(members), n_cascade_levels=_cascade_levels(rain.shape),
                precip_thr=10.0 * np.log10(RAIN_THRESHOLD), kmperpixel=float(pixel_km), timestep=float(step_minutes),
                ar_order=ar_order, noise_method="nonparametric", vel_pert_method="bps", mask_method="incremental",
                probmatching_method="cdf", seed=int(seed), num_workers=1, measure_time=False,
            )
        except (ValueError, np.linalg.LinAlgError):
            return extrapolation(rain, n_leads, v)
    ens = np.asarray(ens, dtype=np.float64)  # [members, n_leads, H, W] in dB
    rate = np.where(np.isfinite(ens) & (ens > 10.0 * np.log10(RAIN_THRESHOLD)), 10.0 ** (ens / 10.0), 0.0)
    return rate.mean(axis=0)


def get_method(name: str) -> Callable[..., np.ndarray]:
    """The baseline called ``name`` (one of :data:`METHODS`), as ``method(frames [T, H, W], n_leads)``."""
    return METHODS.get(name)


def nowcast_stack(rain: np.ndarray, issue: np.ndarray, steps: int, n_leads: int, methods,
                  options: dict | None = None) -> dict[str, np.ndarray]:
    """Every method's nowcasts issued at the frame indices ``issue`` from ``rain`` ``[time, H, W]``.

    Returns ``{name: [len(issue), n_leads, H, W]}`` (float32). The motion field is estimated once
    per issue time and shared by every method that advects, as pySTEPS users do. ``options`` go to
    every method (``pixel_km``, ``step_minutes``, ``members``, ``seed``); the seed of the sample
    issued at frame ``i`` is ``seed + i``, so a nowcast does not depend on which other samples are computed.
    """
    options = dict(options or {})
    base_seed = int(options.pop("seed", 0))
    out = {m: np.zeros((len(issue), n_leads) + rain.shape[1:], dtype=np.float32) for m in methods}
    moving = [m for m in methods if m != "persistence"]
    for k, i in enumerate(np.asarray(issue, dtype=np.int64)):
        frames = rain[i - steps + 1 : i + 1]
        v = motion_field(frames) if moving else None
        for m in methods:
            out[m][k] = get_method(m)(frames, n_leads, velocity=v, seed=base_seed + int(i), **options)
    return out


def grid_options(lat: np.ndarray, lon: np.ndarray, times) -> dict[str, float]:
    """``{"pixel_km", "step_minutes"}`` of a lat/lon grid (degrees, cell centres) and its frame times:
    the mean of the north-south and east-west cell sizes at the grid's middle latitude (km), and the
    median frame spacing (minutes). What STEPS needs to scale its motion perturbations and mask."""
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    km_per_deg = 111.195  # mean Earth radius 6371 km
    dlat = float(np.median(np.abs(np.diff(lat)))) if lat.size > 1 else 1.0
    dlon = float(np.median(np.abs(np.diff(lon)))) if lon.size > 1 else 1.0
    mid = float(np.deg2rad(np.mean(lat))) if lat.size else 0.0
    pixel_km = 0.5 * km_per_deg * (dlat + dlon * np.cos(mid))
    t = np.asarray(times).astype("datetime64[ns]")
    minutes = float(np.median(np.diff(t) / np.timedelta64(1, "s"))) / 60.0 if t.size > 1 else 5.0
    return {"pixel_km": float(pixel_km), "step_minutes": minutes}
