"""Rain samples and targets against the source grid: which frames a sample sees and which frame it predicts.

Every rain value of the coded world encodes its time step and cell, so a target taken one frame early
(``t`` instead of ``t + 1``), an input window off by one frame, region 2 on the wrong side or a cell
shifted by one show as wrong numbers. Written against the public pieces (``split_samples``,
``build_experiment``, ``WindowDataset``, ``core.rain.evaluate``) for one-step-ahead samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from core.rain import evaluate as E
from core.rain.experiments import WindowDataset, build_experiment, plan_regions, split_samples
from core.rain.stacking import sample_end_indices, stack_channels

STEPS = 3
NT, NY, NX = 30, 12, 12
REGION1 = {"lat": [52, 53.5], "lon": [2, 3.5]}  # rows 4..7, columns 4..7 of the 12 x 12 grid


def _coded_world() -> xr.Dataset:
    """rain = 1000 t + 10 row + col + 1 (mm per 12 h), temperature = 250 + t + 0.5 level index + row."""
    time = pd.date_range("2020-01-01", periods=NT, freq="12h")
    t = np.arange(NT)[:, None, None]
    row = np.arange(NY)[None, :, None]
    col = np.arange(NX)[None, None, :]
    rain = (1000.0 * t + 10 * row + col + 1).astype(np.float64)
    temp = 250.0 + t[:, None] + 0.5 * np.arange(2)[None, :, None, None] + row[:, None] + 0 * col[:, None]
    return xr.Dataset(
        {"temperature": (("time", "level", "lat", "lon"), temp), "rain": (("time", "lat", "lon"), rain)},
        coords={"time": time, "level": [850.0, 500.0], "lat": 50 + 0.5 * np.arange(NY), "lon": 0.5 * np.arange(NX)},
    )


def _experiment(name: str, side: str = "west"):
    ds = _coded_world()
    ends = sample_end_indices(ds["time"].values, STEPS)
    layout = plan_regions(ds, {"region1": REGION1, "upstream_side": side}, need_region2=name == "exp2")
    fit = np.arange(0, 16)
    data = build_experiment(name, stack_channels(ds, ["temperature"], [850.0, 500.0]), ds, layout, fit,
                            ["temperature"], [850.0, 500.0])
    return ds, ends, layout, data


def _code(t, rows, cols) -> np.ndarray:
    return 1000.0 * t + 10 * np.asarray(rows)[:, None] + np.asarray(cols)[None, :] + 1


def test_sample_ends_need_evenly_spaced_frames_through_the_target():
    times = pd.date_range("2020-01-01", periods=10, freq="12h")
    assert list(sample_end_indices(times.values, 3)) == list(range(2, 9))  # last input 2..8, target 3..9
    assert list(sample_end_indices(times.values, 1)) == list(range(0, 9))
    gap = times.delete(5)  # frames 0-4, then 6-9 re-indexed 5-8
    assert list(sample_end_indices(gap.values, 2)) == [1, 2, 3, 6, 7]
    assert list(sample_end_indices(times.values[:4], 3)) == [2]
    assert sample_end_indices(times.values[:3], 3).size == 0


@pytest.mark.parametrize("name", ["exp1", "exp2"])
def test_a_sample_sees_frames_up_to_i_and_predicts_frame_i_plus_1(name):
    ds, ends, layout, data = _experiment(name)
    samples = WindowDataset(data, ends, STEPS)
    assert len(samples) == len(ends) == NT - STEPS
    rows, cols = data.r1
    r1_rows, r1_cols = layout.r1_rows, layout.r1_cols
    for k in (0, 5, len(ends) - 1):
        i = int(ends[k])
        x, y = samples[k]
        assert x.shape == (STEPS, 3) + data.mask.shape and y.shape == (1,) + data.mask.shape
        # target: the observed rain of frame i + 1 over region 1, as in the source file
        target_mm = data.normalizer.rain_inverse(y[0].numpy())[rows, cols]
        assert np.allclose(target_mm, _code(i + 1, r1_rows, r1_cols), rtol=1e-4)
        # inputs: rain of frames i - 2, i - 1, i (last input = frame i), in order
        for j, frame in enumerate(range(i - STEPS + 1, i + 1)):
            rain_mm = data.normalizer.rain_inverse(x[j, -1].numpy())[rows, cols]
            assert np.allclose(rain_mm, _code(frame, r1_rows, r1_cols), rtol=1e-4)
            temp = data.normalizer.invert(x[j, 1].numpy()[rows, cols].astype(np.float64), data.channels[1])  # T@500
            assert np.allclose(temp, 250.0 + frame + 0.5 + np.asarray(r1_rows)[:, None], atol=1e-3)


def test_experiment_2_puts_region_2_upstream_and_masks_region_1():
    for side, along_x, first in (("west", True, True), ("east", True, False), ("south", False, True), ("north", False, False)):
        ds, ends, layout, data = _experiment("exp2", side)
        i = int(ends[4])
        rain = data.rain_mm[i + 1]
        r1 = data.r1
        assert np.array_equal(rain[r1], _code(i + 1, layout.r1_rows, layout.r1_cols))
        assert data.mask[r1].all() and data.mask.sum() == 16
        if along_x:
            assert data.mask.shape == (4, 8)
            other = np.s_[:, :4] if first else np.s_[:, 4:]
            assert (r1[1].start == 4) == first
        else:
            assert data.mask.shape == (8, 4)
            other = np.s_[:4, :] if first else np.s_[4:, :]
            assert (r1[0].start == 4) == first
        assert not data.mask[other].any()
        assert np.array_equal(rain[other], _code(i + 1, layout.r2_rows, layout.r2_cols)), side
        expected_cols = {"west": [0, 1, 2, 3], "east": [8, 9, 10, 11]}.get(side, [4, 5, 6, 7])
        expected_rows = {"south": [0, 1, 2, 3], "north": [8, 9, 10, 11]}.get(side, [4, 5, 6, 7])
        assert list(layout.r2_cols) == expected_cols and list(layout.r2_rows) == expected_rows
        # coordinates follow the joined grid
        lat = ds["lat"].values
        if along_x:
            assert np.allclose(data.lat, lat[layout.r1_rows]), side
        else:
            joined = [layout.r2_rows, layout.r1_rows] if first else [layout.r1_rows, layout.r2_rows]
            assert np.allclose(data.lat, lat[np.concatenate(joined)]), side
        assert np.allclose(data.lon, ds["lon"].values[np.concatenate([layout.r2_cols, layout.r1_cols]) if side == "west"
                                                       else np.concatenate([layout.r1_cols, layout.r2_cols]) if side == "east"
                                                       else layout.r1_cols])


def test_split_by_the_time_of_the_predicted_frame():
    times = pd.date_range("2020-01-01", periods=40, freq="12h")
    cfg = {"train": ["2020-01-01", "2020-01-10T12"], "test": ["2020-01-13", "2020-01-20"], "val_fraction": 0.25}
    s = split_samples(times.values, STEPS, cfg)
    target = lambda ends: pd.DatetimeIndex(times.values[ends + 1])  # noqa: E731
    assert target(s.test).min() >= pd.Timestamp("2020-01-13") and target(s.test).max() <= pd.Timestamp("2020-01-20")
    # every sample whose predicted frame lies in the test period is a test sample
    in_test = [i for i in sample_end_indices(times.values, STEPS)
               if pd.Timestamp("2020-01-13") <= times[i + 1] <= pd.Timestamp("2020-01-20")]
    assert list(s.test) == in_test
    both = np.concatenate([s.train, s.val])
    assert target(both).max() <= pd.Timestamp("2020-01-10T12") and target(both).min() >= pd.Timestamp("2020-01-01")
    assert len(both) == 17  # predicted frames 3 .. 19 (2020-01-02T12 .. 2020-01-10T12)
    assert len(s.val) == round(0.25 * len(both)) and s.val.min() > s.train.max()
    # normalisation may see the frames of training samples (inputs and targets) and nothing later
    fit = s.fit_frames(STEPS)
    assert fit.min() == s.train.min() - STEPS + 1 and fit.max() == s.train.max() + 1
    # fractions: chronological thirds of the samples
    f = split_samples(times.values, STEPS, {"train_fraction": 0.5, "val_fraction": 0.25})
    n = NT_SAMPLES = len(sample_end_indices(times.values, STEPS))
    assert len(f.train) == round(0.5 * n) and len(f.val) == round(0.25 * n)
    assert len(f.train) + len(f.val) + len(f.test) == NT_SAMPLES
    assert f.train.max() < f.val.min() <= f.val.max() < f.test.min()
    # explicit validation period
    v = split_samples(times.values, STEPS, {**cfg, "val": ["2020-01-11", "2020-01-12T12"]})
    assert target(v.val).min() == pd.Timestamp("2020-01-11") and target(v.val).max() == pd.Timestamp("2020-01-12T12")
    assert target(s.test).min() == pd.Timestamp("2020-01-13") and target(s.test).max() == pd.Timestamp("2020-01-20")
    assert target(v.train).max() <= pd.Timestamp("2020-01-10T12")


def test_truth_and_persistence_come_from_frames_i_plus_1_and_i():
    ds, ends, layout, data = _experiment("exp2")
    chosen = ends[[2, 7, 11]]
    truth, persistence = E.truth_and_persistence(data, chosen)
    for n, i in enumerate(chosen):
        assert np.array_equal(truth[n], _code(i + 1, layout.r1_rows, layout.r1_cols))
        assert np.array_equal(persistence[n], _code(i, layout.r1_rows, layout.r1_cols))


class _LastRainMap(torch.nn.Module):
    """A stand-in model that forecasts persistence: the last input rain channel, ``[B, 1, H, W]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1, -1:].clone()


def test_predict_returns_region_1_in_rain_units_for_each_sample():
    ds, ends, layout, data = _experiment("exp2")
    chosen = ends[[0, 3, 9, 20]]
    pred = E.predict(_LastRainMap(), data, chosen, STEPS, torch.device("cpu"), batch_size=3)
    pred = pred[:, 0] if pred.ndim == 4 else pred  # [N, lead, H, W]: the first lead
    _, persistence = E.truth_and_persistence(data, chosen)
    assert pred.shape == persistence.shape == (4, 4, 4)
    assert np.allclose(pred, persistence, rtol=1e-4)


def test_experiment_1_grid_coordinates_are_region_1():
    ds, ends, layout, data = _experiment("exp1")
    assert np.array_equal(data.lat, ds["lat"].values[layout.r1_rows])
    assert np.array_equal(data.lon, ds["lon"].values[layout.r1_cols])
    assert list(layout.r1_rows) == [4, 5, 6, 7] and list(layout.r1_cols) == [4, 5, 6, 7]


def test_split_periods_include_their_bounds_and_refuse_overlaps():
    times = pd.date_range("2020-01-01", periods=40, freq="12h")
    target = lambda ends: pd.DatetimeIndex(times.values[ends + 1])  # noqa: E731
    s = split_samples(times.values, STEPS, {"train": ["2020-01-02T12", "2020-01-10"], "test": ["2020-01-13", "2020-01-20"],
                                            "val_fraction": 0.0})
    assert target(s.train).min() == pd.Timestamp("2020-01-02T12") and len(s.val) == 0
    # one shared predicted frame is already an overlap
    with pytest.raises(ValueError, match="overlaps"):
        split_samples(times.values, STEPS, {"train": ["2020-01-02", "2020-01-10"], "test": ["2020-01-10", "2020-01-20"],
                                            "val_fraction": 0.0})
    with pytest.raises(ValueError, match="overlaps"):
        split_samples(times.values, STEPS, {"train": ["2020-01-02", "2020-01-10"], "test": ["2020-01-13", "2020-01-20"],
                                            "val": ["2020-01-10", "2020-01-12"]})
    with pytest.raises(ValueError, match="needs both"):
        split_samples(times.values, STEPS, {"train": ["2020-01-02", "2020-01-10"]})
    with pytest.raises(ValueError, match="needs both"):
        split_samples(times.values, STEPS, {"test": ["2020-01-02", "2020-01-10"]})
    for bad in ({"val_fraction": 1.0}, {"train_fraction": 1.0, "val_fraction": 0.0},
                {"train_fraction": 0.5, "val_fraction": 0.5}):
        with pytest.raises(ValueError, match="val_fraction|must leave a test part"):
            split_samples(times.values, STEPS, bad)


def test_split_refuses_test_frames_among_the_validation_samples():
    """A test period reaching into the tail of the train period that val_fraction carves off (or into an
    explicit val period) is refused like a train/test overlap, naming both periods and the shared frames."""
    times = pd.date_range("2020-01-01", periods=40, freq="12h")
    cfg = {"train": ["2020-01-02", "2020-01-10"], "test": ["2020-01-13", "2020-01-20"], "val_fraction": 0.25}
    s = split_samples(times.values, STEPS, cfg)
    val_frames = pd.DatetimeIndex(times.values[s.val + 1])
    assert val_frames.min() == pd.Timestamp("2020-01-08T12") and val_frames.max() == pd.Timestamp("2020-01-10")
    # the test period starts on the last validation frame: train/test share nothing, val/test one frame
    clash = {**cfg, "test": ["2020-01-10", "2020-01-20"]}
    with pytest.raises(ValueError) as err:
        split_samples(times.values, STEPS, clash)
    message = str(err.value)
    assert "validation samples (the last val_fraction = 0.25 of the train period's samples, predicted frames " \
           "2020-01-08 12:00 .. 2020-01-10)" in message, message
    assert "overlaps the test period 2020-01-10 .. 2020-01-20" in message
    assert "frames 2020-01-10 .. 2020-01-10" in message
    with pytest.raises(ValueError, match=r"the val period 2020-01-11 .. 2020-01-14 overlaps the test period "
                                         r"2020-01-13 .. 2020-01-20 \(both predict the frames 2020-01-13 .. 2020-01-14\)"):
        split_samples(times.values, STEPS, {**cfg, "val": ["2020-01-11", "2020-01-14"]})
    # the train/test refusal names the periods the same way
    with pytest.raises(ValueError, match=r"the train period 2020-01-02 .. 2020-01-10 overlaps the test period"):
        split_samples(times.values, STEPS, {**clash, "val_fraction": 0.0})


def test_predict_without_samples_gives_an_empty_region_1_stack():
    ds, ends, layout, data = _experiment("exp2")
    pred = E.predict(_LastRainMap(), data, np.zeros(0, dtype=np.int64), STEPS, torch.device("cpu"))
    assert pred.shape[0] == 0 and pred.shape[-2:] == (4, 4)
