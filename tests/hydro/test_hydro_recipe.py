"""Training recipe of issue 12 (item 5): range presets, log precipitation, seed ensembles, config keys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from core.hydro.baselines import LSTMBaseline
from core.hydro.config import load_config
from core.hydro.ensemble import Ensemble, member_loss_inputs
from core.hydro.inputs import derived_inputs
from core.hydro.params import LITERATURE_RANGES, PRESETS, ParamRanges, literature_warnings


def test_presets_are_valid_inside_the_literature_and_the_editor_warns_beyond_it():
    for name in PRESETS:
        ranges = ParamRanges.from_preset(name)
        assert literature_warnings(ranges) == [], name
    camels = ParamRanges.from_preset("camels_us")
    assert sum(camels[n][1] for n in ("UM", "LM", "DM")) == pytest.approx(1000.0)  # δHBV's field capacity
    wide = camels.with_range("DM", 10.0, 1500.0)  # valid physics, beyond the literature: a warning
    (message,) = literature_warnings(wide)
    assert "DM" in message and f"{LITERATURE_RANGES['DM'][1]:g}" in message
    # config ranges edit single parameters on top of the preset
    edited = ParamRanges.from_dict({"K": [0.3, 1.2]}, preset="camels_us")
    assert edited["K"] == (0.3, 1.2) and edited["LM"] == camels["LM"]
    with pytest.raises(ValueError, match="unknown range preset"):
        ParamRanges.from_preset("alpine")


def test_config_keys_are_checked():
    base = {"data": {"train_period": ["2000-01-01", "2000-12-31"], "test_period": ["2001-01-01", "2001-12-31"]}}
    config = load_config(None, {**base, "range_preset": "camels_us", "model_args": {"dynamic_params": ["K", "B"]}})
    assert config["model_args"]["n_components"] == 1 and config["xaj"]["warmup_routing"] is False
    with pytest.raises(ValueError, match="range_preset"):
        load_config(None, {**base, "range_preset": "nope"})
    with pytest.raises(ValueError, match="dynamic_params"):
        load_config(None, {**base, "model_args": {"dynamic_params": ["KX"]}})
    with pytest.raises(ValueError, match="n_components"):
        load_config(None, {**base, "model_args": {"n_components": 0}})


def test_log_precipitation_feeds_the_lstm_and_leaves_the_physics_input_alone():
    time = pd.date_range("2000-01-01", periods=5)
    ds = xr.Dataset({"prcp": (("basin", "time"), np.array([[0.0, 1.0, 10.0, 100.0, 0.0]])),
                     "pet": (("basin", "time"), np.ones((1, 5)))}, coords={"basin": ["a"], "time": time})
    out, dynamic = derived_inputs(ds, ["prcp", "pet"], log_prcp=True)
    assert dynamic == ["prcp_log", "pet"]
    assert np.allclose(out["prcp_log"].values, np.log1p(ds["prcp"].values))
    assert np.array_equal(out["prcp"].values, ds["prcp"].values)
    same, names = derived_inputs(ds, ["prcp", "pet"], log_prcp=False)
    assert names == ["prcp", "pet"] and "prcp_log" not in same


def test_ensemble_averages_members_and_trains_each_on_its_own_loss():
    torch.manual_seed(0)
    members = [LSTMBaseline(3, hidden=4), LSTMBaseline(3, hidden=4)]
    model = Ensemble(members)
    z = torch.randn(12, 5, 3)
    x = torch.zeros(12, 5, 2)
    out = model(x, z, warmup=2)
    singles = [m(x, z, 2)["q"] for m in members]
    assert torch.allclose(out["q"], (singles[0] + singles[1]) / 2)
    y = torch.rand(10, 5)
    q, y2, std = member_loss_inputs(out, y, torch.ones(5))
    assert q.shape == (10, 10) and torch.equal(y2[:, 5:], y) and std.shape == (10,)
    # the mean of the members' squared errors: each member's gradient is that of its own loss
    member_grads = []
    for member in members:
        loss = ((member(x, z, 2)["q"] - y) ** 2).mean() / 2
        grads = torch.autograd.grad(loss, list(member.parameters()))
        member_grads.append(grads)
    model.zero_grad()
    q, y2, _ = member_loss_inputs(model(x, z, 2), y, torch.ones(5))
    ((q - y2) ** 2).mean().backward()
    for member, grads in zip(members, member_grads):
        for p, g in zip(member.parameters(), grads):
            assert torch.allclose(p.grad, g, atol=1e-7)
