"""Lead times on synthetic advected rain with a known answer, and the pySTEPS baselines.

A blob moves one cell east per 5-minute step and its peak grows by one unit per step, so the map of
frame ``t`` is known exactly: a one-step shift of inputs, targets, truth or persistence changes the
numbers these tests check.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from core.rain import evaluate as E
from core.rain import pipeline
from core.rain.baselines import extrapolation, get_method, motion_field, persistence
from core.rain.experiments import WindowDataset, lead_sample_ends, split_samples

H, W = 12, 24
LEADS = [1, 2, 3, 4]


def blob(t: int) -> np.ndarray:
    """Rain (mm/h) of frame ``t``: a Gaussian blob centred at x = 3 + t, peak 2 + t."""
    yy, xx = np.mgrid[:H, :W]
    return (2.0 + t) * np.exp(-((xx - 3.0 - t) ** 2 + (yy - 6.0) ** 2) / 4.0)


def world(n: int = 16, gap_after: int | None = None) -> xr.Dataset:
    times = pd.date_range("2020-06-01 12:00", periods=n, freq="5min")
    if gap_after is not None:
        times = times.append(pd.date_range(times[-1] + pd.Timedelta("3h"), periods=n, freq="5min"))
    rain = np.stack([blob(t % n) for t in range(len(times))]).astype(np.float32)
    return xr.Dataset(
        {"rain": (("time", "lat", "lon"), rain, {"units": "mm/h"})},
        coords={"time": times, "lat": 60 + 0.1 * np.arange(H), "lon": 20 + 0.1 * np.arange(W)},
    )


def config(**nowcast) -> dict:
    return pipeline.complete_config({
        "data": {"steps": 3},
        "regions": {"region1": {"lat": [60.0, 61.1], "lon": [20.0, 22.3]}},
        "split": {"train_fraction": 0.5, "val_fraction": 0.1},
        "experiments": ["exp1"],
        "model": {"hidden_channels": [4, 4]},
        "nowcast": {"leads": LEADS, "baselines": ["persistence"], **nowcast},
    })


def test_lead_windows_never_straddle_a_gap():
    ds = world(10, gap_after=10)
    ends = lead_sample_ends(ds["time"].values, 3, 4)
    # per event of 10 frames: issue frames 2 .. 5 (inputs from i-2, targets up to i+4 <= 9)
    assert list(ends) == [2, 3, 4, 5, 12, 13, 14, 15]


def test_sample_for_lead_k_has_inputs_up_to_t_and_target_t_plus_k():
    cfg = config()
    prepared = pipeline.prepare(cfg, ds=world())
    data = prepared.experiments["exp1"]
    norm = data.normalizer
    for i in prepared.split.train:
        x, y = WindowDataset(data, np.asarray([i]), 3)[0]
        for j in range(3):  # inputs: frames i-2, i-1, i
            np.testing.assert_allclose(x[j, 0].numpy(), norm.rain_forward(blob(i - 2 + j)), rtol=1e-5, atol=1e-6)
        for k in LEADS:  # target channel k-1 is frame i+k
            np.testing.assert_allclose(y[k - 1].numpy(), norm.rain_forward(blob(i + k)), rtol=1e-5, atol=1e-6)


class LastFrame(torch.nn.Module):
    """A 'model' that returns its last input frame at every lead."""

    out_channels = LEADS[-1]

    def forward(self, x):
        return x[:, -1, :1].repeat(1, self.out_channels, 1, 1)


def test_last_frame_model_scores_like_persistence_and_persistence_degrades(tmp_path):
    cfg = config()
    prepared = pipeline.prepare(cfg, ds=world())
    metrics = E.evaluate_leads(prepared, {"exp1": LastFrame()}, [0.5, 2.0], [1, 3], 50, 0,
                               torch.device("cpu"), None, 4, tmp_path / "predictions.nc")
    assert metrics["leads_minutes"] == ["5", "10", "15", "20"]
    rmse = []
    for key in metrics["leads_minutes"]:
        m = metrics["test_leads"][key]
        assert m["exp1"]["rmse"] == pytest.approx(m["persistence"]["rmse"], rel=1e-5)
        assert m["exp1"]["csi"] == pytest.approx(m["persistence"]["csi"], rel=1e-5)
        rmse.append(m["persistence"]["rmse"])
    assert all(b > a for a, b in zip(rmse, rmse[1:])), rmse
    assert metrics["test"] == metrics["test_leads"]["5"]


def test_predictions_truth_is_the_source_frame_at_each_valid_time(tmp_path):
    source = world()
    prepared = pipeline.prepare(config(main_lead=3), ds=source)
    path = tmp_path / "predictions.nc"
    E.evaluate_leads(prepared, {"exp1": LastFrame()}, [0.5], [1], 20, 0, torch.device("cpu"), None, 4, path)
    with xr.open_dataset(path) as pred:
        assert list(pred["lead"].values) == [5.0, 10.0, 15.0, 20.0]
        for li in range(pred.sizes["lead"]):
            for ii in range(pred.sizes["issue_time"]):
                valid = pred["valid_time"].values[li, ii]
                src = source["rain"].sel(time=valid).values
                np.testing.assert_allclose(pred["truth_by_lead"].values[li, ii], src, rtol=1e-5, atol=1e-6)
                issue = pred["issue_time"].values[ii]
                np.testing.assert_allclose(pred["persistence_by_lead"].values[li, ii],
                                           source["rain"].sel(time=issue).values, rtol=1e-5, atol=1e-6)
        for ti, t in enumerate(pred["time"].values):  # the main lead (15 min)
            np.testing.assert_allclose(pred["truth"].values[ti], source["rain"].sel(time=t).values, rtol=1e-5, atol=1e-6)
        assert (pred["time"].values == pred["valid_time"].values[2]).all()


def test_split_drops_training_samples_whose_targets_are_scored():
    times = pd.date_range("2020-06-01", periods=30, freq="5min").values
    s = split_samples(times, 3, {"train_fraction": 0.6, "val_fraction": 0.0}, n_leads=4)
    scored = {int(i) + k for i in s.test for k in range(1, 5)}
    assert all(not scored.intersection(range(i + 1, i + 5)) for i in s.train)


# --- baselines ---------------------------------------------------------------------------------


def test_extrapolation_recovers_a_translation():
    frames = np.stack([blob(t) / (2.0 + t) * 5.0 for t in range(6)])  # constant peak: pure advection
    v = motion_field(frames)
    wet = frames[-1] > 1.0
    assert np.median(v[0][wet]) == pytest.approx(1.0, abs=0.05)  # one cell east per step
    assert np.median(v[1][wet]) == pytest.approx(0.0, abs=0.05)
    truth = np.stack([blob(6 + k) / (8.0 + k) * 5.0 for k in range(3)])
    ext = extrapolation(frames, 3)
    per = persistence(frames, 3)
    for k in range(3):
        assert np.sqrt(np.mean((ext[k] - truth[k]) ** 2)) < 0.1 * np.sqrt(np.mean((per[k] - truth[k]) ** 2))
    assert get_method("sprog")(frames, 2).shape == (2, H, W)
    with pytest.raises(ValueError, match="unknown rain baseline"):
        get_method("optical")


def test_sprog_on_small_sparse_grids_gives_finite_nowcasts():
    """Small grids with scattered rain leave some cascade levels without variance (pySTEPS raises
    'x contains non-finite values' there); S-PROG must still give a nowcast, as tiny test configs need."""
    rng = np.random.default_rng(0)
    for _ in range(12):
        n = int(rng.integers(6, 16))
        frames = rng.gamma(0.5, 2.0, (4, n, n)) * (rng.random((4, n, n)) < 0.5)
        out = get_method("sprog")(frames, 3)
        assert out.shape == (3, n, n) and np.isfinite(out).all() and (out >= 0).all()


# --- guide (residual on a baseline nowcast) ------------------------------------------------------


def test_sprog_guide_is_the_sprog_nowcast_issued_at_the_last_input_frame():
    source = world()
    prepared = pipeline.prepare(config(guide="sprog", baselines=["persistence", "sprog"]), ds=source)
    data = prepared.experiments["exp1"]
    rain = source["rain"].values
    assert data.model_channels == 1 + LEADS[-1]
    for i in list(prepared.split.train[:2]) + list(prepared.split.test[:2]):
        expected = get_method("sprog")(rain[i - 2 : i + 1], LEADS[-1])  # frames i-2 .. i: issued at i, not i+1
        np.testing.assert_allclose(data.normalizer.rain_inverse(data.guide[i]), expected, rtol=1e-4, atol=1e-4)
    # the test samples' guide is the very S-PROG nowcast scored as the baseline
    k = list(prepared.split.test).index(prepared.split.test[0])
    np.testing.assert_allclose(data.normalizer.rain_inverse(data.guide[prepared.split.test[0]]),
                               prepared.baselines["sprog"][k], rtol=1e-4, atol=1e-4)


def test_residual_model_keeps_its_guide_when_training_does_not_improve_validation(tmp_path):
    from core.rain.train import load_best_model, train_experiment
    from core.runs.folder import RunDir

    cfg = config(guide="extrapolation", baselines=["persistence", "extrapolation"])
    prepared = pipeline.prepare(cfg, ds=world())
    run = RunDir(tmp_path / "run")
    # a learning rate far too large: every trained epoch is worse than the untrained (guide) model
    train = {**cfg["train"], "epochs": 2, "lr": 50.0, "batch_size": 4, "amp": False, "patience": 0}
    result = train_experiment(prepared.experiments["exp1"], prepared.split, prepared.steps,
                              pipeline.model_config(cfg, prepared), train, torch.device("cpu"), run=run)
    assert result.best_epoch == 0
    model, ckpt = load_best_model(run, "exp1", torch.device("cpu"))
    assert ckpt["epoch"] == 0
    pred = E.predict(model, prepared.experiments["exp1"], prepared.split.test, prepared.steps, torch.device("cpu"))
    np.testing.assert_allclose(pred, prepared.baselines["extrapolation"], rtol=1e-4, atol=1e-4)
