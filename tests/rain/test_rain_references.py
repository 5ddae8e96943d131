"""The stronger pySTEPS references of the rain baselines registry: ANVIL and the STEPS ensemble mean.

Tiny grids and all-dry inputs must give finite, non-negative nowcasts of the right shape (pySTEPS
itself raises on both); on rain advected at one cell per step both must beat persistence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.rain.baselines import METHODS, get_method, grid_options, nowcast_stack
from core.rain.config import GUIDES
from core.rain.experiments import NowcastConfig

REFERENCES = ("anvil", "steps_mean")


def moving_blob(t: int, h: int = 24, w: int = 32) -> np.ndarray:
    """Rain (mm/h) of frame ``t``: two blobs moving one cell east per step, one growing, one decaying."""
    yy, xx = np.mgrid[:h, :w]
    return ((4.0 + 0.4 * t) * np.exp(-((xx - 6.0 - t) ** 2 + (yy - 9.0) ** 2) / 10.0)
            + (5.0 - 0.3 * t) * np.exp(-((xx - 10.0 - t) ** 2 + (yy - 16.0) ** 2) / 6.0))


def test_registered_and_configurable():
    assert set(REFERENCES) <= set(METHODS.names())
    nc = NowcastConfig.from_config({"baselines": ["anvil"], "steps_members": 7})
    assert nc.baselines == ["persistence", "anvil"] and nc.steps_members == 7
    assert NowcastConfig.from_config({}).steps_members == 20
    assert {"anvil", "steps_mean"} <= set(NowcastConfig.from_config({}).baselines)  # null = every baseline
    assert "anvil" in GUIDES


@pytest.mark.parametrize("name", REFERENCES)
def test_all_dry_input_gives_a_dry_nowcast(name):
    for frames in (np.zeros((6, 20, 20)), np.full((6, 20, 20), np.nan)):
        out = get_method(name)(frames, 4, members=3)
        assert out.shape == (4, 20, 20) and np.isfinite(out).all() and not out.any()


@pytest.mark.parametrize("name", REFERENCES)
def test_tiny_sparse_grids_give_finite_nowcasts(name):
    rng = np.random.default_rng(0)
    for n in (3, 5, 8, 13):
        frames = rng.gamma(0.5, 2.0, (4, n, n + 2)) * (rng.random((4, n, n + 2)) < 0.5)
        out = get_method(name)(frames, 3, members=3)
        assert out.shape == (3, n, n + 2) and np.isfinite(out).all() and (out >= 0).all()
    # fewer frames than the AR order needs: still a nowcast
    out = get_method(name)(np.stack([moving_blob(t) for t in range(2)]), 2, members=3)
    assert out.shape == (2, 24, 32) and np.isfinite(out).all()


@pytest.mark.parametrize("name", REFERENCES)
def test_advected_rain_beats_persistence(name):
    frames = np.stack([moving_blob(t) for t in range(6)])
    truth = np.stack([moving_blob(6 + k) for k in range(3)])
    out = get_method(name)(frames, 3, members=6, pixel_km=1.0, step_minutes=5.0)
    per = get_method("persistence")(frames, 3)
    rmse = lambda f: float(np.sqrt(np.mean((f - truth) ** 2)))  # noqa: E731
    assert rmse(out) < 0.7 * rmse(per), (rmse(out), rmse(per))
    if name == "anvil":  # growth and decay: closer than extrapolation, which keeps the last frame's peaks
        assert rmse(out) < rmse(get_method("extrapolation")(frames, 3))
    # the nowcast sits where the rain went: its centre of mass follows the truth's east, 1 cell a step
    _, xx = np.mgrid[:24, :32]
    centre = lambda f: float((f * xx).sum() / f.sum())  # noqa: E731
    assert [centre(out[k]) for k in range(3)] == pytest.approx([centre(truth[k]) for k in range(3)], abs=0.75)


def test_steps_mean_is_seeded_and_averages_its_members():
    frames = np.stack([moving_blob(t) for t in range(6)])
    a = get_method("steps_mean")(frames, 2, members=4, seed=1)
    assert np.array_equal(a, get_method("steps_mean")(frames, 2, members=4, seed=1))
    assert not np.array_equal(a, get_method("steps_mean")(frames, 2, members=4, seed=2))
    # one member is a sharp probability-matched field; the mean of several is smoother (lower peak)
    one = get_method("steps_mean")(frames, 2, members=1, seed=1)
    assert a[-1].max() < one[-1].max()


def test_stack_passes_grid_options_and_a_seed_per_issue_time():
    rain = np.stack([moving_blob(t) for t in range(10)]).astype(np.float32)
    opts = {**grid_options(60 + 0.05 * np.arange(24), 20 + 0.1 * np.arange(32),
                           pd.date_range("2020-06-01 12:00", periods=10, freq="5min").values), "members": 3}
    assert opts["step_minutes"] == 5.0 and 5.5 < opts["pixel_km"] < 6.0  # 5.56 km N-S, 5.56 km E-W at 60 N
    both = nowcast_stack(rain, np.array([6, 7]), 6, 2, ["steps_mean"], opts)["steps_mean"]
    alone = nowcast_stack(rain, np.array([7]), 6, 2, ["steps_mean"], opts)["steps_mean"]
    assert np.array_equal(both[1], alone[0])  # a sample's nowcast does not depend on the others computed
