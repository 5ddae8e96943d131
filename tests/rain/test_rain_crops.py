"""Training across radars (issue 30): crops, the canonical orientation and D4 augmentation keep inputs,
guide, targets and the region-1 mask aligned; the events config is checked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.rain.crops import D4, CropSet, Crop, EventFields, choose_crops, footprint, to_canonical, transform

STEPS, LEADS, CROP = 3, 2, 4


def _event(side: str, moving: bool = False) -> EventFields:
    """An event whose every frame is one asymmetric field (distinct values), so any shift shows;
    ``moving``: the rain moves one cell per step from region 2 towards region 1."""
    rng = np.random.default_rng(1)
    base = rng.random((16, 18)).astype(np.float32) + 1.0
    frames = []
    for t in range(8):
        shift = {"west": (0, 1), "east": (0, -1), "south": (1, 0), "north": (-1, 0)}[side]
        frames.append(np.roll(base, (shift[0] * t, shift[1] * t), axis=(0, 1)) if moving else base)
    rain = np.stack(frames)
    guide = np.repeat(rain[:, None], LEADS, axis=1) * 10.0  # guide maps: the same fields, another scale
    return EventFields(f"test {side}", rain, guide, np.arange(STEPS - 1, 8 - LEADS), side)


@pytest.mark.parametrize("op", D4)
@pytest.mark.parametrize("experiment", ["exp1", "exp2"])
def test_every_symmetry_keeps_inputs_guide_targets_and_mask_aligned(op, experiment):
    ev = _event("west")
    crops = [Crop(0, 3, 2, 5), Crop(0, 4, 7, 1)]
    x, y, mask = CropSet([ev], crops, STEPS, LEADS, CROP, experiment).batch([0, 1], op)
    last = x[:, -1, 0]
    for k in range(LEADS):  # a stationary field: every target equals the last input, pixel for pixel
        assert torch.equal(y[:, k], last)
        assert torch.allclose(x[:, -1, 1 + k], last * 10.0)
    assert x.shape[-2:] == y.shape[-2:] == mask.shape
    # the mask follows region 1: the same cells as the untransformed region 1 carried to their new places
    plain_x, _, plain_mask = CropSet([ev], crops, STEPS, LEADS, CROP, experiment).batch([0, 1])
    region1_values = torch.sort(plain_x[0, -1, 0][plain_mask]).values
    assert torch.equal(torch.sort(last[0][mask]).values, region1_values)
    assert torch.equal(transform(plain_x, op), x)


def test_a_one_pixel_shift_between_inputs_and_targets_is_caught():
    ev = _event("west")
    x, y, _ = CropSet([ev], [Crop(0, 3, 2, 5)], STEPS, LEADS, CROP, "exp2").batch([0], (1, True))
    shifted = torch.roll(y, 1, dims=-1)
    assert torch.equal(y[:, 0], x[:, -1, 0]) and not torch.equal(shifted[:, 0], x[:, -1, 0])


@pytest.mark.parametrize("side", ["west", "east", "south", "north"])
def test_canonical_orientation_puts_region2_west_and_keeps_the_motion(side):
    ev = _event(side, moving=True)
    rows, cols, r1r, r1c = footprint(side, CROP)
    crop = Crop(0, 4, 3, 3)
    x, y = CropSet([ev], [crop], STEPS, LEADS, CROP, "exp2").sample(0)
    assert x.shape[-2:] == (CROP, 2 * CROP) and y.shape[-2:] == (CROP, 2 * CROP)
    raw = ev.rain[4, 3 : 3 + rows, 3 : 3 + cols]
    canon = transform(raw, to_canonical(side))
    np.testing.assert_array_equal(x[-1, 0], canon)
    np.testing.assert_array_equal(canon[:, CROP:], transform(raw[r1r, r1c], to_canonical(side)))  # region 1 east
    # rain moves one cell east per step in the canonical frame (from region 2 into region 1)
    np.testing.assert_array_equal(x[-1, 0][:, 1:], x[-2, 0][:, :-1])
    exp1_x, _ = CropSet([ev], [crop], STEPS, LEADS, CROP, "exp1").sample(0)
    np.testing.assert_array_equal(exp1_x, x[..., CROP:])


def test_crops_prefer_observed_rain_and_refuse_small_grids():
    ev = _event("west")
    ev.rain[:, :, :9] = np.nan  # the west half unobserved
    crops = choose_crops(ev, 0, CROP, 3, np.random.default_rng(0))
    assert len(crops) == 3 * len(ev.ends)
    for c in crops:
        region1 = ev.rain[c.end, c.row : c.row + CROP, c.col + CROP : c.col + 2 * CROP]
        assert np.isfinite(region1).mean() >= 0.5
    with pytest.raises(ValueError, match="smaller than the crop"):
        choose_crops(ev, 0, 10, 1, np.random.default_rng(0))


def _events_cfg(**over):
    events = [{"folder": "a"}, {"folder": "b", "role": "val"}, {"folder": "c", "role": "test"}]
    return {"data": {"source": "demo", "events": events, **over.get("data", {})},
            "regions": {"region1": {"lat": [0, 1], "lon": [0, 1]}}, "nowcast": {"augment": "dihedral"}}


def test_events_config_roles_are_checked():
    from core.rain.pipeline import complete_config
    from core.training.config import ConfigError

    cfg = complete_config(_events_cfg())
    assert cfg["data"]["crop"] == 24 and len(cfg["data"]["events"]) == 3
    with pytest.raises(ConfigError, match="role: test"):
        complete_config(_events_cfg(data={"events": [{"folder": "a"}]}))
    with pytest.raises(ConfigError, match=r"data.events\[0\]"):
        complete_config(_events_cfg(data={"events": [{"folder": "a", "role": "exam"}, {"folder": "c", "role": "test"}]}))
    with pytest.raises(ConfigError, match="dihedral"):
        complete_config({**_events_cfg(data={"events": []})})


def test_flips_mirror_across_the_join_and_keep_region2_west():
    """``augment: flips`` on crops (CropTask) uses (1, True): rows reversed, columns (and the mask) kept."""
    from core.rain.train import FLIP_ACROSS_JOIN

    ev = _event("west")
    plain_x, plain_y, plain_mask = CropSet([ev], [Crop(0, 3, 2, 5)], STEPS, LEADS, CROP, "exp2").batch([0])
    x, y, mask = CropSet([ev], [Crop(0, 3, 2, 5)], STEPS, LEADS, CROP, "exp2").batch([0], FLIP_ACROSS_JOIN)
    assert torch.equal(x, plain_x.flip(-2)) and torch.equal(y, plain_y.flip(-2)) and torch.equal(mask, plain_mask)
