"""The snow routine inside the models (issue 31, item 1): dXAJ and the static XAJ train with it,
``model_args.snow`` resolves as documented, and a run without snow is the model it always was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from core.hydro.baselines import StaticXAJ
from core.hydro.config import load_config
from core.hydro.dpl import DPLModel
from core.hydro.params import ParamRanges
from core.hydro.snow_params import N_SNOW_PARAMS, snowfall_ceiling
from core.hydro.snow_setup import resolve_snow

REPO = Path(__file__).resolve().parents[2]
CAMELS = ParamRanges.from_preset("camels_us")


def _batch(steps: int = 60, basins: int = 3, n_inputs: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    prcp = 10 * torch.rand(steps, basins, generator=g) * (torch.rand(steps, basins, generator=g) > 0.5)
    pet = 1 + torch.rand(steps, basins, generator=g)
    # cold first half (a pack builds), warm second half (it melts into the scored steps)
    temp = torch.where(torch.arange(steps)[:, None] < steps // 2, -6.0, 8.0) + torch.randn(steps, basins, generator=g)
    x = torch.stack([prcp, pet, temp], dim=-1)
    z = torch.randn(steps, basins, n_inputs, generator=g)
    y = 1 + torch.rand(steps - 20, basins, generator=g)
    return x, z, y


@pytest.mark.parametrize("margs", [{}, {"dynamic_params": ["K", "B"], "n_components": 2}])
def test_dxaj_with_snow_trains_one_step(margs):
    torch.manual_seed(0)
    model = DPLModel(4, CAMELS, hidden=8, snow=True, **margs)
    assert model.param_lstm.net.linear_out.out_features == 15 * model.n_components + N_SNOW_PARAMS
    x, z, y = _batch()
    out = model(x, z, 20, torch.arange(3))
    assert out["snow_params"].shape == (3, N_SNOW_PARAMS) and out["snow_pack"].shape == (40, 3)
    assert float(out["snow_melt"].detach().sum()) > 0.0  # the pack built in the warmup melts
    loss = ((out["q"] - y) ** 2).mean()
    loss.backward()
    head = model.param_lstm.net.linear_out.weight.grad
    assert torch.isfinite(head).all()
    assert float(head[-N_SNOW_PARAMS:].abs().sum()) > 0.0  # the gradient reaches the snow outputs of the head
    before = [p.detach().clone() for p in model.parameters()]
    torch.optim.Adam(model.parameters(), lr=0.01).step()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_static_xaj_with_snow_learns_its_snow_parameters():
    model = StaticXAJ(3, CAMELS, snow=True)
    x, _, y = _batch()
    out = model(x, None, 20, torch.arange(3))
    ((out["q"] - y) ** 2).mean().backward()
    assert torch.isfinite(model.snow_logits.grad).all() and float(model.snow_logits.grad.abs().sum()) > 0.0


def test_without_snow_the_models_are_unchanged():
    torch.manual_seed(0)
    plain = DPLModel(4, CAMELS, hidden=8)
    assert plain.param_lstm.net.linear_out.out_features == 15
    assert "snow_logits" not in StaticXAJ(3, CAMELS).state_dict()
    x, z, _ = _batch()
    out = plain(x[..., :2], z, 20)
    assert set(out) == {"q", "et", "params"}


def _dataset(temps: np.ndarray) -> xr.Dataset:
    time = pd.date_range("2000-01-01", periods=temps.shape[1], freq="D")
    return xr.Dataset({"tmean": (("basin", "time"), temps)}, coords={"basin": ["a", "b"], "time": time})


def test_snow_auto_turns_on_below_the_partition_range_within_the_periods():
    warm = np.full((2, 20), 10.0)
    ceiling = snowfall_ceiling()
    assert ceiling == pytest.approx(3.5)
    periods = {"train": ("2000-01-01", "2000-01-10"), "valid": None, "test": ("2000-01-11", "2000-01-15")}
    assert not resolve_snow("auto", _dataset(warm), periods)
    cold_inside = warm.copy()
    cold_inside[1, 12] = ceiling - 0.1
    assert resolve_snow("auto", _dataset(cold_inside), periods)
    cold_outside = warm.copy()
    cold_outside[0, 18] = -20.0  # after the test period: not a day the run uses
    assert not resolve_snow("auto", _dataset(cold_outside), periods)
    assert resolve_snow(True, _dataset(warm), periods) and not resolve_snow(False, _dataset(cold_inside), periods)
    no_temperature = _dataset(warm).drop_vars("tmean")
    assert not resolve_snow("auto", no_temperature, periods)
    with pytest.raises(ValueError, match="no temperature"):
        resolve_snow(True, no_temperature, periods)


def test_classic_presets_stay_without_snow_and_the_camels_config_asks_auto():
    assert load_config(REPO / "configs" / "hydro_quick.yaml")["model_args"]["snow"] is False
    assert load_config(REPO / "configs" / "hydro_camels.yaml")["model_args"]["snow"] == "auto"
