"""A generated 12-hourly weather world on pressure levels: the embedded default of the rain side.

The world is deterministic from its seed and physically plausible enough to carry real signal:

- temperature falls with height at a 6.5 K/km lapse rate (``T = T_sfc (p/p0)^(R Gamma / g)``, floored
  at a 210 K tropopause) and with latitude, with a seasonal cycle;
- geopotential height follows the hypsometric equation integrated layer by layer from the surface
  pressure, lowered under rain systems (troughs);
- relative humidity rises toward saturation in and around rain systems, and dew point comes from
  temperature and relative humidity through the Magnus formula, so dew point <= temperature;
- westerly winds grow with height (about 5 m/s at 1000 hPa to about 30 m/s at 200 hPa) and vary in time;
- rain systems (Gaussian cells that grow and decay) are carried west to east by the mid-level
  (600 hPa) wind, about 8 degrees of longitude per 12 h step, so rain over the upstream region at
  step t reaches the region east of it at step t+1.

Variables follow docs/design.md, 3. Data model: ``temperature``, ``dewpoint`` (K), ``u``, ``v`` (m s-1),
``height`` (m) on ``(time, level, lat, lon)`` and ``rain`` (mm per 12 h) on ``(time, lat, lon)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from core.data.errors import DataError

LEVELS_HPA = (1000, 925, 850, 700, 600, 500, 400, 300, 250, 200, 150)
ATMOSPHERE_VARIABLES = ("temperature", "dewpoint", "u", "v", "height")
STEP_HOURS = 12

GRAVITY = 9.80665  # m s-2
R_DRY = 287.05  # J kg-1 K-1
LAPSE_RATE = 0.0065  # K m-1
TROPOPAUSE_K = 210.0
SURFACE_PRESSURE_HPA = 1013.25
EARTH_M_PER_DEG = 111_320.0
STEERING_LEVEL_HPA = 600

_VARIABLE_ATTRS = {
    "temperature": {"units": "K", "standard_name": "air_temperature", "long_name": "air temperature"},
    "dewpoint": {"units": "K", "standard_name": "dew_point_temperature", "long_name": "dew point temperature"},
    "u": {"units": "m s-1", "standard_name": "eastward_wind", "long_name": "eastward wind"},
    "v": {"units": "m s-1", "standard_name": "northward_wind", "long_name": "northward wind"},
    "height": {"units": "m", "standard_name": "geopotential_height", "long_name": "geopotential height"},
    "rain": {
        "units": "mm",
        "standard_name": "precipitation_amount",
        "long_name": "precipitation accumulated over the 12 h ending at the time stamp",
        "cell_methods": "time: sum",
    },
}


def magnus_dewpoint(temperature_k: np.ndarray, relative_humidity: np.ndarray) -> np.ndarray:
    """Dew point (K) from temperature (K) and relative humidity (0..1), Magnus formula over water.

    ``gamma = ln(RH) + b T / (c + T)`` with T in degC, b = 17.625, c = 243.04 degC; ``Td = c gamma / (b - gamma)``.
    """
    b, c = 17.625, 243.04
    t_c = np.asarray(temperature_k, dtype=np.float64) - 273.15
    rh = np.clip(np.asarray(relative_humidity, dtype=np.float64), 1e-4, 1.0)
    gamma = np.log(rh) + b * t_c / (c + t_c)
    return c * gamma / (b - gamma) + 273.15


def _rain_cells(rng: np.random.Generator, n_steps: int, lon0: float, lon1: float, lat0: float, lat1: float,
                steering_u: np.ndarray, steering_v: np.ndarray, lat_mid: float, births_per_step: float) -> list[dict]:
    """Births, tracks and life cycles of rain systems, advected by the steering wind of each step."""
    width = lon1 - lon0
    cells = []
    for t0 in range(-8, n_steps):  # cells born before the start are already on the map at t = 0
        for _ in range(rng.poisson(births_per_step)):
            life = int(rng.integers(3, 9))
            # born anywhere from well upstream of the domain to its middle, so the western (upstream)
            # part of the domain sees systems before the east does
            lon = lon0 - 0.3 * width + rng.uniform(0, 0.8) * width
            lat = rng.uniform(lat0 + 2.0, lat1 - 2.0)
            cells.append({
                "t0": t0, "life": life, "lon": lon, "lat": lat,
                "peak_mm": float(rng.lognormal(np.log(22.0), 0.55)),
                "radius_deg": float(rng.uniform(1.5, 3.5)),
                "drift": float(rng.normal(1.0, 0.08)),
            })
    m_per_deg_lon = EARTH_M_PER_DEG * np.cos(np.deg2rad(lat_mid))
    seconds = STEP_HOURS * 3600.0
    for cell in cells:
        track = []
        lon, lat = cell["lon"], cell["lat"]
        for age in range(cell["life"]):
            t = cell["t0"] + age
            track.append((t, lon, lat, age))
            k = min(max(t, 0), n_steps - 1)
            lon += cell["drift"] * steering_u[k] * seconds / m_per_deg_lon
            lat += steering_v[k] * seconds / EARTH_M_PER_DEG
        cell["track"] = track
    return cells


def generate_weather_world(
    seed: int = 0,
    start: str = "2001-01-01T00:00",
    n_steps: int = 360,
    lat_range: tuple[float, float] = (20.0, 52.0),
    lon_range: tuple[float, float] = (70.0, 134.0),
    resolution_deg: float = 1.0,
    levels_hpa: tuple[int, ...] = LEVELS_HPA,
    births_per_step: float = 2.5,
) -> xr.Dataset:
    """Generate the demo weather world (see the module docstring).

    Parameters
    ----------
    seed : random seed; the same seed gives the same world, bit for bit.
    start : time stamp of the first step; steps are 12 h apart.
    n_steps : number of 12-hourly steps.
    lat_range, lon_range : grid box in degrees (cell centres from ``low + resolution/2``).
    resolution_deg : grid spacing in degrees.
    levels_hpa : pressure levels, hPa, surface first.
    births_per_step : mean number of new rain systems per step.

    Returns
    -------
    xarray.Dataset with ``temperature``, ``dewpoint``, ``u``, ``v``, ``height`` on (time, level, lat, lon)
    and ``rain`` (mm per 12 h) on (time, lat, lon), float32, latitudes ascending, CF attributes.
    """
    if n_steps < 1:
        raise DataError(f"demo weather world needs n_steps >= 1, got {n_steps}", variable="n_steps")
    if lat_range[1] <= lat_range[0] or lon_range[1] <= lon_range[0] or resolution_deg <= 0:
        raise DataError(
            f"demo weather world box lat {lat_range}, lon {lon_range}, resolution {resolution_deg} is empty",
            variable="grid",
        )
    rng = np.random.default_rng(seed)
    lat = np.arange(lat_range[0] + resolution_deg / 2, lat_range[1], resolution_deg)
    lon = np.arange(lon_range[0] + resolution_deg / 2, lon_range[1], resolution_deg)
    times = pd.date_range(pd.Timestamp(start), periods=n_steps, freq=f"{STEP_HOURS}h")
    levels = np.asarray(levels_hpa, dtype=np.float64)
    lat_mid = float(lat.mean())

    # Mid-level steering wind: westerly 12-22 m/s with slow swings and day-to-day noise.
    phase = 2 * np.pi * np.arange(n_steps) / 40.0
    steering_u = 17.0 + 4.0 * np.sin(phase + rng.uniform(0, 2 * np.pi)) + rng.normal(0, 1.5, n_steps)
    steering_v = 1.5 * np.sin(0.7 * phase) + rng.normal(0, 0.8, n_steps)

    cells = _rain_cells(rng, n_steps, lon[0], lon[-1], lat[0], lat[-1], steering_u, steering_v, lat_mid,
                        births_per_step)
    rain = np.zeros((n_steps, lat.size, lon.size))
    moisture = np.zeros_like(rain)  # 0..~1 envelope of rain systems, wider than the rain itself
    lon2, lat2 = np.meshgrid(lon, lat)
    for cell in cells:
        for t, c_lon, c_lat, age in cell["track"]:
            if not 0 <= t < n_steps:
                continue
            d2 = (lon2 - c_lon) ** 2 + (lat2 - c_lat) ** 2
            life_shape = np.sin(np.pi * (age + 0.5) / cell["life"])
            r = cell["radius_deg"]
            rain[t] += cell["peak_mm"] * life_shape * np.exp(-d2 / (2 * r**2))
            moisture[t] += life_shape * np.exp(-d2 / (2 * (2.0 * r) ** 2))
    rain[rain < 0.05] = 0.0
    moisture = np.tanh(moisture)

    # Temperature: surface field by latitude and season, lapse with height, floored at the tropopause.
    day_of_year = times.dayofyear.to_numpy()
    season = np.cos(2 * np.pi * (day_of_year - 200) / 365.25)  # +1 in mid July
    t_surface = (
        301.0
        - 0.55 * (lat2[None] - 20.0)
        + 9.0 * season[:, None, None]
        - 3.0 * moisture  # evaporative cooling under rain
        + rng.normal(0, 0.4, (n_steps, lat.size, lon.size))
    )
    exponent = R_DRY * LAPSE_RATE / GRAVITY
    temperature = t_surface[:, None] * (levels[None, :, None, None] / SURFACE_PRESSURE_HPA) ** exponent
    temperature = np.maximum(temperature, TROPOPAUSE_K)

    # Relative humidity: drier aloft, near saturation in rain systems.
    rh_base = 0.55 - 0.3 * (1.0 - levels / 1000.0)
    relative_humidity = np.clip(
        rh_base[None, :, None, None] + 0.45 * moisture[:, None] + rng.normal(0, 0.03, temperature.shape),
        0.05, 1.0,
    )
    dewpoint = magnus_dewpoint(temperature, relative_humidity)

    # Height: hypsometric integration from the surface pressure, layer-mean temperature; troughs under rain.
    height = np.empty_like(temperature)
    p_below = SURFACE_PRESSURE_HPA
    z_below = np.zeros((n_steps, lat.size, lon.size))
    t_below = t_surface
    for k, p in enumerate(levels):
        t_mean = 0.5 * (t_below + temperature[:, k])
        z_below = z_below + R_DRY * t_mean / GRAVITY * np.log(p_below / p)
        height[:, k] = z_below
        p_below, t_below = p, temperature[:, k]
    height -= 40.0 * moisture[:, None] * (1.0 - levels[None, :, None, None] / 2000.0)

    # Winds: westerlies growing with height, scaled to the steering wind at the steering level.
    growth = 0.3 + 0.7 * np.log(1000.0 / levels) / np.log(1000.0 / STEERING_LEVEL_HPA)
    growth = np.minimum(growth, 1.9)
    u = steering_u[:, None, None, None] * growth[None, :, None, None] * (
        1.0 + 0.1 * np.cos(np.deg2rad(lat2 - lat_mid) * 4.0)
    )[None, None]
    u = u + rng.normal(0, 0.8, u.shape)
    v = steering_v[:, None, None, None] * growth[None, :, None, None] + rng.normal(0, 0.8, u.shape)
    # a weak cyclonic inflow toward rain systems at low levels
    v_dir = np.gradient(moisture, axis=2)
    v = v + 6.0 * v_dir[:, None] * (levels[None, :, None, None] >= 700)

    coords = {
        "time": ("time", times, {"standard_name": "time", "long_name": "end of the 12 h step"}),
        "level": ("level", levels, {"units": "hPa", "standard_name": "air_pressure", "positive": "down",
                                     "long_name": "pressure level"}),
        "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
        "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
    }
    fields = {"temperature": temperature, "dewpoint": dewpoint, "u": u, "v": v, "height": height}
    data_vars = {
        name: (("time", "level", "lat", "lon"), values.astype(np.float32), _VARIABLE_ATTRS[name])
        for name, values in fields.items()
    }
    data_vars["rain"] = (("time", "lat", "lon"), rain.astype(np.float32), _VARIABLE_ATTRS["rain"])
    return xr.Dataset(
        data_vars,
        coords=coords,
        attrs={
            "title": "Hydrocast Studio demo weather world",
            "source": f"generated by core.data.weather_demo (seed {seed})",
            "Conventions": "CF-1.8",
            "time_step": f"{STEP_HOURS}h",
            "time_step_seconds": STEP_HOURS * 3600,
            "steering_level_hpa": STEERING_LEVEL_HPA,
            "seed": seed,
        },
    )


def write_weather_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write a gridded weather dataset to NetCDF (compressed, atomically)."""
    from core.atomic_io import atomic_write_with

    path = Path(path)
    encoding = {name: {"zlib": True, "complevel": 1} for name in ds.data_vars}
    atomic_write_with(path, lambda tmp: ds.to_netcdf(tmp, encoding=encoding, engine="netcdf4"))
    return path


def open_weather(path: str | os.PathLike) -> xr.Dataset:
    """Read a gridded weather NetCDF written by :func:`write_weather_netcdf` (or any file of that layout)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"gridded weather file {path} does not exist", file=path)
    try:
        ds = xr.open_dataset(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read gridded weather file {path}: {exc}", file=path) from exc
    if "rain" not in ds.data_vars:
        raise DataError(f"gridded weather file {path} has no 'rain' variable (has {sorted(ds.data_vars)})",
                        file=path, variable="rain")
    return ds


def load_demo_weather(cache_dir: str | os.PathLike | None = None, **kwargs) -> xr.Dataset:
    """The demo world, generated on first use; with ``cache_dir``, kept there as NetCDF for the next call.

    ``kwargs`` go to :func:`generate_weather_world` (seed, n_steps, grid box, resolution, ...).
    """
    if cache_dir is None:
        return generate_weather_world(**kwargs)
    key = "_".join(f"{k}-{kwargs[k]}" for k in sorted(kwargs)).replace(" ", "").replace("/", "")
    path = Path(cache_dir) / f"demo_weather_{key or 'default'}.nc"
    if path.exists():
        return open_weather(path).load()
    ds = generate_weather_world(**kwargs)
    write_weather_netcdf(ds, path)
    return ds
