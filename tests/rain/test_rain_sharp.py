"""Issue 30: the structure losses against hand-computed values, probability matching, and the
steering-wind guide (a Lagrangian first guess from each experiment's own grid)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.rain.guide import steering_displacement, steering_wind_guide
from core.rain.losses import (
    get_loss,
    mse_fss,
    mse_soft_csi,
    soft_csi,
    soft_fss,
    weighted_mae,
    weighted_mse,
)
from core.rain.probmatch import match_forecasts, match_map


def _map(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)[None, None]


def test_soft_csi_by_hand():
    # forecast events at pixels 1 and 2, observed at 1 and 3: 1 hit, 1 false alarm, 1 miss
    pred, obs = _map([[0.0, 2.0, 2.0, 0.0]]), _map([[0.0, 2.0, 0.0, 2.0]])
    # width 0.5: s(2) = sigmoid(2) = 0.8808, s(0) = sigmoid(-2) = 0.1192; hits = s(2) + s(0) = 1,
    # sum s = 2, sum o = 2, CSI = 1 / (2 + 2 - 1)
    assert soft_csi(pred, obs, 1.0, width=0.5).item() == pytest.approx(1 / 3, abs=1e-5)
    # a sharp sigmoid gives the hard CSI
    assert soft_csi(pred, obs, 1.0, width=1e-3).item() == pytest.approx(1 / 3, abs=1e-5)
    assert soft_csi(obs, obs, 1.0, width=1e-3).item() == pytest.approx(1.0, abs=1e-5)
    # no event in either field: perfect, not undefined
    assert soft_csi(pred * 0, obs * 0, 1.0).item() == pytest.approx(1.0, abs=0.01)


def test_soft_fss_by_hand():
    # 3 x 3, observed event in the centre, forecast event in a corner; window 3, zeros outside:
    # Fo = 1/9 everywhere, Fp = 1/9 on the 4 cells whose window holds the corner, 0 on 5
    # FSS = 1 - (5/81) / (4/81 + 9/81) = 8/13
    obs = torch.zeros(1, 1, 3, 3)
    obs[..., 1, 1] = 2.0
    pred = torch.zeros(1, 1, 3, 3)
    pred[..., 0, 0] = 2.0
    assert soft_fss(pred, obs, 1.0, scale=3, width=1e-3).item() == pytest.approx(8 / 13, abs=1e-4)
    assert soft_fss(pred, obs, 1.0, scale=1, width=1e-3).item() == pytest.approx(0.0, abs=1e-5)
    assert soft_fss(obs, obs, 1.0, scale=3, width=1e-3).item() == pytest.approx(1.0, abs=1e-5)


def test_fss_is_scored_on_region_1_only():
    obs = torch.zeros(1, 1, 3, 6)
    obs[..., 1, 4] = 2.0
    pred = obs.clone()
    mask = torch.zeros(3, 6, dtype=torch.bool)
    mask[:, 3:] = True
    pred[..., 1, 1] = 5.0  # a wild event in region 2 counts for nothing
    assert soft_fss(pred, obs, 1.0, mask, scale=3, width=1e-3).item() == pytest.approx(1.0, abs=1e-5)


def test_weighted_mae_and_the_combined_losses_by_hand():
    pred, obs = _map([[1.0, 2.0]]), _map([[0.0, 4.0]])
    # |1 - 0| (1 + 0) and |2 - 4| (1 + 0.5 * 4), mean over 2 pixels
    assert weighted_mae(pred, obs, alpha=0.5).item() == pytest.approx((1.0 + 2.0 * 3.0) / 2)
    t = [3.0]
    # forecast: no event; observed: one; soft CSI ~ 0 -> the term adds the whole weight
    expected = weighted_mse(pred, obs, alpha=0.5).item() + 2.0 * (1 - soft_csi(pred, obs, 3.0).item())
    assert mse_soft_csi(pred, obs, alpha=0.5, thresholds=t, weight=2.0).item() == pytest.approx(expected, rel=1e-6)
    expected = weighted_mse(pred, obs).item() + 1.0 * (1 - soft_fss(pred, obs, 3.0).item())
    assert mse_fss(pred, obs, thresholds=t).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="loss_thresholds"):
        get_loss("mse_soft_csi")(pred, obs)


@pytest.mark.parametrize("name", ["weighted_mae", "mse_soft_csi", "mse_fss"])
def test_new_losses_ignore_region2_and_nan(name):
    loss_fn = get_loss(name)
    torch.manual_seed(0)
    obs = torch.rand(2, 1, 4, 10) * 2
    obs[0, 0, 0, 8] = float("nan")
    mask = torch.zeros(4, 10, dtype=torch.bool)
    mask[:, 6:] = True
    pred = (torch.rand(2, 1, 4, 10) * 2).requires_grad_(True)
    loss = loss_fn(pred, obs, mask, thresholds=[0.5, 1.0])
    loss.backward()
    assert torch.isfinite(loss) and (pred.grad[..., :6] == 0).all() and (pred.grad[..., 6:] != 0).any()
    assert pred.grad[0, 0, 0, 8] == 0
    other = pred.detach().clone()
    other[..., :6] = 99.0
    assert loss_fn(other, obs, mask, thresholds=[0.5, 1.0]).item() == pytest.approx(loss.item(), rel=1e-6)


def test_structure_loss_rewards_heavy_rain_that_mse_blurs():
    # a blurred forecast that never reaches the 3 mm event, and a sharp one displaced by one pixel
    obs = _map([[0.0, 0.0, 4.0, 0.0]])
    blur, sharp = _map([[0.5, 1.0, 1.5, 1.0]]), _map([[0.0, 0.0, 3.5, 0.0]])
    assert soft_csi(sharp, obs, 3.0).item() > 0.9 > 0.1 > soft_csi(blur, obs, 3.0).item()


def test_probability_matching_keeps_the_reference_distribution_and_the_forecast_order():
    rng = np.random.default_rng(0)
    forecast = rng.random((5, 6)) + 0.1  # all wet, distinct values
    reference = rng.gamma(0.8, 6.0, size=(5, 6))
    out = match_map(forecast, reference)
    np.testing.assert_allclose(np.sort(out.ravel()), np.sort(reference.ravel()))
    assert (np.argsort(out.ravel()) == np.argsort(forecast.ravel())).all()
    # dry forecast pixels stay dry; the wet ones take the heaviest reference values
    forecast[0, :3] = 0.0
    out = match_map(forecast, reference)
    assert (out[0, :3] == reference.min()).all()
    np.testing.assert_allclose(np.sort(out[forecast > 0]), np.sort(reference.ravel())[3:])
    # a reference of another size (with NaN) is resampled to its quantiles
    ref = np.concatenate([reference.ravel(), [np.nan] * 4])
    assert np.nanmax(match_map(forecast, ref)) == pytest.approx(np.nanmax(reference))
    stacked = match_forecasts(forecast[None, None], reference[None])
    np.testing.assert_allclose(stacked[0, 0], match_map(forecast, reference))


def test_steering_wind_moves_rain_by_the_wind_and_brings_nothing_in_from_outside():
    lat = np.array([0.0, 2.0, 4.0, 6.0])
    lon = np.arange(0.0, 16.0, 2.0)
    step = 12 * 3600.0
    u_two_cells = 2 * 2.0 * 111_320.0 / step  # m/s moving rain 2 cells east per step at the equator
    d = steering_displacement(np.full((4, 8), u_two_cells), np.zeros((4, 8)), lat, lon, step)
    assert d[0, 0, 0] == pytest.approx(2.0) and np.allclose(d[1], 0)
    assert d[0, 3, 0] == pytest.approx(2.0 / math.cos(math.radians(6.0)))
    channels = ["u@600", "v@600", "rain"]
    grid = np.zeros((1, 3, 4, 8), dtype=np.float32)
    grid[0, 0] = u_two_cells / np.cos(np.deg2rad(lat))[:, None]  # 2 cells at every latitude
    grid[0, 2, 1, 2] = 10.0
    guide = steering_wind_guide(grid, channels, lat, lon, step, n_leads=2, level=600)
    assert guide.shape == (1, 2, 4, 8)
    assert guide[0, 0, 1, 4] == pytest.approx(10.0, rel=0.01) and guide[0, 0, 1, 2] == pytest.approx(0.0, abs=0.05)
    assert guide[0, 1, 1, 6] == pytest.approx(10.0, rel=0.01)
    # rain at the western edge of the grid is not replaced by anything from further west
    assert guide[0, 0, :, :2].max() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(Exception, match="u@500"):
        steering_wind_guide(grid, channels, lat, lon, step, 1, level=500)


def _windy_world(nt=20, ny=6, nx=16, lat0=50.0) -> "xr.Dataset":
    """Rain moving exactly 2 cells (1 degree) east per 12 h step, carried by a 600 hPa wind that says so."""
    import pandas as pd
    import xarray as xr

    rng = np.random.default_rng(0)
    lat = lat0 + 0.5 * np.arange(ny)
    field = (rng.random((ny, nx + 2 * nt)) > 0.7) * rng.gamma(2.0, 6.0, (ny, nx + 2 * nt))
    rain = np.stack([np.roll(field, 2 * t, axis=1)[:, :nx] for t in range(nt)])
    u = 1.0 * 111_320.0 * np.cos(np.deg2rad(lat))[None, None, :, None] / 43_200.0 * np.ones((nt, 2, ny, nx))
    return xr.Dataset(
        {"u": (("time", "level", "lat", "lon"), u, {"units": "m s-1"}),
         "v": (("time", "level", "lat", "lon"), np.zeros_like(u), {"units": "m s-1"}),
         "rain": (("time", "lat", "lon"), rain, {"units": "mm"})},
        coords={"time": pd.date_range("2020-01-01", periods=nt, freq="12h"), "level": [850.0, 600.0], "lat": lat,
                "lon": 0.5 * np.arange(nx)},
    )


@pytest.mark.slow
def test_each_experiment_gets_the_steering_wind_guide_of_its_own_grid():
    from core.rain import pipeline

    ds = _windy_world()
    cfg = pipeline.complete_config({
        "data": {"steps": 3},
        "regions": {"region1": {"lat": [50, 52.5], "lon": [4, 7.5]}, "upstream_side": "west"},
        "split": {"train_fraction": 0.6, "val_fraction": 0.1},
        "model": {"hidden_channels": [4, 4]},
        "nowcast": {"guide": "steering_wind", "baselines": ["persistence"]},
    })
    prep = pipeline.prepare(cfg, ds=ds)
    e1, e2 = prep.experiments["exp1"], prep.experiments["exp2"]
    assert e1.model_channels == e1.inputs.shape[1] + 1  # one guide channel (one lead)
    rain = ds["rain"].values
    for i in prep.split.test:
        g1 = e1.normalizer.rain_inverse(e1.guide[i, 0])
        g2 = e2.normalizer.rain_inverse(e2.guide[i, 0])
        # experiment 2 sees region 2, so its guide of region 1 is the next frame exactly (issued at i, valid at i + 1)
        np.testing.assert_allclose(g2[:, 8:], rain[i + 1][:, 8:], atol=1e-3)
        # experiment 1 sees region 1 alone: the 2 columns coming in from the west are unknown (0), the rest moved
        # (the column traced back exactly onto the grid's edge may fall out by rounding: not compared)
        assert np.abs(g1[:, :2]).max() < 1e-3
        np.testing.assert_allclose(g1[:, 3:], rain[i + 1][:, 11:], atol=1e-3)
