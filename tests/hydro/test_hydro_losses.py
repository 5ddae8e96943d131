"""NaN-masked losses: missing observations change neither the value nor the gradient."""

from __future__ import annotations

import math

import pytest
import torch

import numpy as np

from core.hydro.losses import (get_loss, masked_kge_distance, masked_mse, masked_nse_kge_loss, masked_nse_loss,
                               masked_nse_volume_loss, masked_rmse, masked_volume_error, training_loss)
from core.metrics import kge, pbias


def _pair():
    torch.manual_seed(0)
    obs = torch.rand(20, 3) * 5
    sim = (obs + torch.randn(20, 3)).requires_grad_(True)
    return sim, obs


@pytest.mark.parametrize("loss_fn", [masked_rmse, masked_mse, masked_nse_loss, masked_nse_kge_loss,
                                     masked_nse_volume_loss])
def test_nan_observations_are_ignored(loss_fn):
    sim, obs = _pair()
    holed = obs.clone()
    holed[5:9, 1] = float("nan")
    holed[0, 0] = float("nan")
    value = loss_fn(sim, holed)
    assert torch.isfinite(value)
    value.backward()
    grad = sim.grad
    assert torch.all(torch.isfinite(grad))
    assert torch.all(grad[5:9, 1] == 0) and grad[0, 0] == 0
    # changing the simulation where obs is missing changes nothing
    sim2 = sim.detach().clone()
    sim2[5:9, 1] += 100.0
    sim2[0, 0] = -50.0
    assert torch.allclose(loss_fn(sim2, holed), value.detach())


def test_rmse_matches_observed_subset():
    sim, obs = _pair()
    holed = obs.clone()
    holed[::2, 0] = float("nan")
    keep = torch.isfinite(holed)
    expected = torch.sqrt(((sim[keep] - obs[keep]) ** 2).mean())
    assert math.isclose(float(masked_rmse(sim.detach(), holed)), float(expected.detach()), rel_tol=1e-5)


def test_nse_loss_is_one_minus_nse_per_sample():
    sim, obs = _pair()
    err = ((sim - obs) ** 2).sum(0)
    var = ((obs - obs.mean(0)) ** 2).sum(0)
    expected = (err / (var + 0.1)).mean()
    assert math.isclose(float(masked_nse_loss(sim.detach(), obs)), float(expected.detach()), rel_tol=1e-5)
    # with basin standard deviations: squared errors scaled by (std + eps)^-2
    std = torch.tensor([1.0, 2.0, 0.5])
    expected = (((sim - obs) ** 2) / (std + 0.1) ** 2).mean()
    assert math.isclose(float(masked_nse_loss(sim.detach(), obs, obs_std=std)), float(expected.detach()), rel_tol=1e-5)


def test_all_missing_gives_zero_not_nan():
    sim = torch.ones(4, 2, requires_grad=True)
    obs = torch.full((4, 2), float("nan"))
    for fn in (masked_mse, masked_nse_loss, masked_nse_kge_loss, masked_nse_volume_loss):
        value = fn(sim, obs)
        assert float(value.detach()) == 0.0
        value.backward()
        assert torch.all(torch.isfinite(sim.grad))


def test_unknown_loss_name():
    with pytest.raises(ValueError, match="loss"):
        get_loss("mae")


def test_kge_distance_is_one_minus_kge_per_sample():
    sim, obs = _pair()
    holed = obs.clone()
    holed[::3, 2] = float("nan")
    distance, defined = masked_kge_distance(sim.detach().double(), holed.double())
    assert bool(defined.all())
    for j in range(3):
        expected = 1 - kge(sim.detach()[:, j].numpy(), holed[:, j].numpy())["kge"]
        assert math.isclose(float(distance[j]), expected, rel_tol=1e-6)


def test_kge_distance_undefined_on_dry_windows_with_finite_gradient():
    obs = torch.rand(30, 3, dtype=torch.float64) + 0.5
    obs[:, 1] = 0.0  # a dry window: KGE's ratios have no meaning
    obs[:, 2] = float("nan")
    obs[0, 2] = 1.0  # one observed step
    sim = torch.full((30, 3), 0.7, dtype=torch.float64, requires_grad=True)  # flat: std(sim) = 0
    loss = masked_nse_kge_loss(sim, obs)
    distance, defined = masked_kge_distance(sim.detach(), obs)
    assert defined.tolist() == [True, False, False]
    assert float(distance[1]) == 0.0 and float(distance[2]) == 0.0
    loss.backward()
    assert torch.all(torch.isfinite(sim.grad))


def test_nse_kge_loss_prefers_full_variability():
    """Squared errors reward damping an imperfect simulation (alpha = r); the KGE term does not."""
    gen = torch.Generator().manual_seed(3)
    obs = torch.rand(365, 8, generator=gen, dtype=torch.float64) ** 3 * 10
    noisy = obs + torch.randn(365, 8, generator=gen, dtype=torch.float64) * obs.std(0) * 0.8
    mean = obs.mean(0)

    def scaled(alpha: float) -> torch.Tensor:
        return mean + alpha * (noisy - noisy.mean(0))

    mse_best = min(np.linspace(0.3, 1.2, 19), key=lambda a: float(masked_nse_loss(scaled(a), obs)))
    both_best = min(np.linspace(0.3, 1.2, 19), key=lambda a: float(masked_nse_kge_loss(scaled(a), obs)))
    assert mse_best < 0.85 and both_best > mse_best + 0.1


def test_training_loss_follows_the_config():
    sim, obs = _pair()
    std = torch.tensor([1.0, 2.0, 0.5])
    nse_only = masked_nse_loss(sim.detach(), obs, obs_std=std)
    kge_term = masked_nse_kge_loss(sim.detach(), obs, obs_std=std) - nse_only
    half = training_loss({"loss": "nse_kge", "kge_weight": 0.5})(sim.detach(), obs, std)
    assert math.isclose(float(half), float(nse_only + 0.5 * kge_term), rel_tol=1e-6)
    assert math.isclose(float(training_loss({"loss": "nse"})(sim.detach(), obs, std)), float(nse_only), rel_tol=1e-6)
    volume_term = masked_nse_volume_loss(sim.detach(), obs, obs_std=std, volume_weight=1.0) - nse_only
    quarter = training_loss({"loss": "nse_volume", "volume_weight": 0.25})(sim.detach(), obs, std)
    assert math.isclose(float(quarter), float(nse_only + 0.25 * volume_term), rel_tol=1e-6)
    assert math.isclose(float(training_loss({"loss": "mse"})(sim.detach(), obs, std)),
                        float(masked_mse(sim.detach(), obs)), rel_tol=1e-6)


def test_volume_error_is_abs_pbias_per_sample():
    sim, obs = _pair()
    holed = obs.clone()
    holed[::3, 2] = float("nan")
    holed[4:9, 0] = float("nan")
    error, defined = masked_volume_error(sim.detach().double(), holed.double())
    assert bool(defined.all())
    for j in range(3):
        expected = abs(pbias(sim.detach()[:, j].numpy(), holed[:, j].numpy())) / 100
        assert math.isclose(float(error[j]), expected, rel_tol=1e-6, abs_tol=1e-6)


def test_volume_error_undefined_on_dry_windows_with_finite_gradient():
    obs = torch.rand(30, 3, dtype=torch.float64) + 0.5
    obs[:, 1] = 0.0  # a dry window: no volume to compare with
    obs[:, 2] = float("nan")
    sim = obs.nan_to_num(0.0).clone().requires_grad_(True)  # column 0 exact: beta = 1
    loss = masked_nse_volume_loss(sim, obs)
    error, defined = masked_volume_error(sim.detach(), obs)
    assert defined.tolist() == [True, False, False]
    assert float(error[0]) < 1e-5 and float(error[1]) == 0.0 and float(error[2]) == 0.0
    loss.backward()
    assert torch.all(torch.isfinite(sim.grad)) and torch.all(sim.grad == 0)


def test_nse_volume_loss_keeps_the_volume_that_squared_errors_give_up():
    """On a noisy simulation squared errors prefer scaling it down (less error on the days it is wrong,
    at the cost of a dry bias); the volume term pulls the preferred scale back towards beta = 1."""
    gen = torch.Generator().manual_seed(5)
    obs = torch.rand(365, 8, generator=gen, dtype=torch.float64) ** 3 * 10
    noisy = (obs + torch.randn(365, 8, generator=gen, dtype=torch.float64) * obs.std(0)).clamp(min=0)
    scales = np.linspace(0.3, 1.5, 121)
    volume = [float(masked_volume_error(s * noisy, obs)[0].mean()) for s in scales]
    nse_best = min(scales, key=lambda s: float(masked_nse_loss(s * noisy, obs)))
    both_best = min(scales, key=lambda s: float(masked_nse_volume_loss(s * noisy, obs, volume_weight=2.0)))
    volume_best = scales[int(np.argmin(volume))]
    assert nse_best < volume_best - 0.05
    assert abs(both_best - volume_best) < 0.5 * abs(nse_best - volume_best)
