"""Probability matching of the nets' forecasts (pySTEPS ``postprocessing.probmatching``).

A net trained on a pointwise loss spreads rain: too many light pixels, too few heavy ones. Matching
its forecast map to a reference rain distribution keeps where the net puts the rain (the rank order
of its pixels) and takes how much rain from the reference: the k-th wettest forecast pixel gets the
k-th wettest reference value (``nonparam_match_empirical_cdf``). References, per sample and lead,
over region 1:

- ``last_frame``: the last observed map (what pySTEPS does with its nowcasts: the rain
  distribution persists, the positions move);
- ``guide``: the guide nowcast of the same lead (advection moves rain in and out of region 1, so
  its distribution follows the inflow; needs ``nowcast.guide``).

Unobserved (NaN) reference pixels are left out of the reference distribution.
"""

from __future__ import annotations

import numpy as np

REFERENCES = ("last_frame", "guide")


def match_map(forecast: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``forecast`` ``[H, W]`` with its values replaced by the quantiles of ``reference`` (any shape) at
    the same ranks: the result has ``reference``'s distribution and ``forecast``'s order."""
    from pysteps.postprocessing.probmatching import nonparam_match_empirical_cdf

    forecast = np.asarray(forecast, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    ref = ref[np.isfinite(ref)]
    if ref.size == 0 or not np.isfinite(forecast).all():
        return forecast
    if ref.size != forecast.size:  # the empirical CDF match needs equal sizes: resample the reference's quantiles
        ref = np.quantile(ref, (np.arange(forecast.size) + 0.5) / forecast.size)
    return np.asarray(nonparam_match_empirical_cdf(forecast, ref.reshape(forecast.shape)), dtype=np.float64)


def match_forecasts(forecasts: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Every map of ``forecasts`` ``[N, L, H, W]`` matched to the same map of ``reference``
    (``[N, L, H, W]``, or ``[N, H, W]`` for one reference per sample at every lead)."""
    forecasts = np.asarray(forecasts, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if reference.ndim == forecasts.ndim - 1:
        reference = np.broadcast_to(reference[:, None], forecasts.shape)
    if reference.shape[:2] != forecasts.shape[:2]:
        raise ValueError(f"probability matching: reference shape {reference.shape} does not fit forecasts "
                         f"{forecasts.shape}")
    out = np.empty_like(forecasts)
    for n in range(forecasts.shape[0]):
        for k in range(forecasts.shape[1]):
            out[n, k] = match_map(forecasts[n, k], reference[n, k])
    return out
