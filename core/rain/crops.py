"""Training samples cut at random from radar events of any grid: crops, canonical orientation, D4 augmentation.

Training across radars (issue 30, ``data.events``) cannot join regions fixed in lat/lon: every radar
has its own grid. Instead every training event gives, per issue frame, a few crops of the
experiment-2 footprint: region 1 (``crop x crop`` cells) with a region 2 of the same size on the
event's upstream side. Each crop is turned into the **canonical orientation** (region 2 west of
region 1: a footprint ``[crop, 2 crop]``, region 1 the right half) by one of the eight symmetries of
the square (:data:`D4`), applied alike to the input frames, the guide nowcast and the targets, so the
rain still moves from region 2 into region 1. Experiment 1 sees the region-1 half only.

Augmentation (``nowcast.augment: dihedral``) applies one random element of :data:`D4` to a whole
batch: inputs, targets and the region-1 mask together (:func:`transform`). Rotating the whole sample
rotates the motion with it, so region 2 stays upstream of region 1 wherever it ends up; one element
per batch keeps the batch's footprints the same shape.

Arrays are ``[..., rows, cols]`` with rows from south to north (latitude ascending) and columns
from west to east.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# the eight symmetries of the square as (quarter turns counter-clockwise in array space, transpose first)
D4: tuple[tuple[int, bool], ...] = tuple((k, t) for t in (False, True) for k in range(4))


def transform(a: torch.Tensor | np.ndarray, op: tuple[int, bool]):
    """``a`` (``[..., rows, cols]``) under the symmetry ``op = (quarter_turns, transpose)``: transpose
    the last two axes first when asked, then rotate by ``quarter_turns`` x 90 degrees."""
    turns, transpose = op
    if isinstance(a, np.ndarray):
        if transpose:
            a = np.swapaxes(a, -1, -2)
        return np.rot90(a, k=turns, axes=(-2, -1)) if turns % 4 else a
    if transpose:
        a = a.transpose(-1, -2)
    return torch.rot90(a, k=turns, dims=(-2, -1)) if turns % 4 else a


def to_canonical(side: str) -> tuple[int, bool]:
    """The symmetry that moves a region 2 lying on ``side`` of region 1 to the west of it.

    West: identity. East: a half turn. South (region 2 in the low rows): transpose (rows become
    columns, so the low rows become the west columns). North: transpose, then a half turn.
    """
    ops = {"west": (0, False), "east": (2, False), "south": (0, True), "north": (2, True)}
    if side not in ops:
        raise ValueError(f"upstream side must be one of {list(ops)}, got {side!r}")
    return ops[side]


def footprint(side: str, crop: int) -> tuple[int, int, slice, slice]:
    """``(rows, cols, r1_rows, r1_cols)`` of the experiment-2 footprint with region 2 on ``side``
    (in the event's own orientation)."""
    c = int(crop)
    if side in ("west", "east"):
        cols = slice(c, 2 * c) if side == "west" else slice(0, c)
        return c, 2 * c, slice(0, c), cols
    rows = slice(c, 2 * c) if side == "south" else slice(0, c)
    return 2 * c, c, rows, slice(0, c)


@dataclass
class EventFields:
    """One radar event on its own grid: ``rain`` ``[time, H, W]`` normalised (NaN = unobserved),
    ``guide`` ``[time, n_leads, H, W]`` normalised guide nowcast issued at each frame (None without a
    guide), ``ends`` the issue frames of its samples, ``side`` its upstream side, ``name`` for messages."""

    name: str
    rain: np.ndarray
    guide: np.ndarray | None
    ends: np.ndarray
    side: str


@dataclass
class Crop:
    """One training sample: event ``event``, issue frame ``end``, footprint corner ``(row, col)``."""

    event: int
    end: int
    row: int
    col: int


def choose_crops(event: EventFields, index: int, crop: int, per_issue: int, rng: np.random.Generator,
                 tries: int = 20) -> list[Crop]:
    """``per_issue`` footprint positions per issue frame of ``event``, drawn at random.

    A position is kept when at least half of region 1 is observed at the issue frame and region 1 or
    region 2 holds rain there; after ``tries`` draws without one the last draw is kept (a dry event
    still contributes dry samples: the network must learn to keep dry weather dry).
    """
    rows, cols, r1r, r1c = footprint(event.side, crop)
    h, w = event.rain.shape[-2:]
    if h < rows or w < cols:
        raise ValueError(f"event {event.name}: its grid {h} x {w} is smaller than the crop footprint {rows} x {cols} "
                         "(lower data.crop)")
    out = []
    for end in event.ends:
        frame = event.rain[int(end)]
        for _ in range(per_issue):
            for _ in range(tries):
                r, c = int(rng.integers(0, h - rows + 1)), int(rng.integers(0, w - cols + 1))
                box = frame[r : r + rows, c : c + cols]
                region1 = box[r1r, r1c]
                if np.isfinite(region1).mean() >= 0.5 and np.nanmax(box, initial=0.0) > 0:
                    break
            out.append(Crop(index, int(end), r, c))
    return out


class CropSet:
    """Canonical samples of one experiment cut from ``events`` at ``crops``.

    ``sample(k)`` gives ``(x [T, 1 + n_leads, h, w], y [n_leads, h, w])``: ``T = steps`` normalised rain
    frames (NaN -> 0) with the guide's maps appended to each, and the normalised targets (NaN kept),
    in the canonical orientation; ``h x w`` is ``crop x 2 crop`` (exp2) or ``crop x crop`` (exp1).
    ``mask`` is True on region 1 of that grid.
    """

    def __init__(self, events: list[EventFields], crops: list[Crop], steps: int, n_leads: int, crop: int,
                 experiment: str) -> None:
        self.events, self.crops, self.steps, self.n_leads, self.crop = events, crops, int(steps), int(n_leads), int(crop)
        self.experiment = experiment
        width = 2 * self.crop if experiment == "exp2" else self.crop
        self.mask = np.zeros((self.crop, width), dtype=bool)
        self.mask[:, width - self.crop :] = True

    def __len__(self) -> int:
        return len(self.crops)

    def sample(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.crops[k]
        ev = self.events[s.event]
        rows, cols, _, _ = footprint(ev.side, self.crop)
        box = (slice(s.row, s.row + rows), slice(s.col, s.col + cols))
        x = np.nan_to_num(ev.rain[s.end - self.steps + 1 : s.end + 1, None][..., box[0], box[1]], nan=0.0)
        if ev.guide is not None:
            g = np.nan_to_num(ev.guide[s.end][..., box[0], box[1]], nan=0.0)
            x = np.concatenate([x, np.broadcast_to(g[None], (self.steps,) + g.shape)], axis=1)
        y = ev.rain[s.end + 1 : s.end + 1 + self.n_leads][..., box[0], box[1]]
        op = to_canonical(ev.side)
        x, y = transform(x, op), transform(y, op)
        if self.experiment == "exp1":  # region 1 is the east half of the canonical footprint
            x, y = x[..., self.crop :], y[..., self.crop :]
        return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y, dtype=np.float32)

    def batch(self, indices, op: tuple[int, bool] = (0, False)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x [B, T, C, h', w'], y [B, n_leads, h', w'], mask [h', w'])`` of the samples ``indices``,
        all under the symmetry ``op`` (inputs, targets and mask alike)."""
        pairs = [self.sample(int(i)) for i in indices]
        x = torch.from_numpy(np.stack([p[0] for p in pairs]))
        y = torch.from_numpy(np.stack([p[1] for p in pairs]))
        mask = torch.from_numpy(self.mask)
        return transform(x, op).contiguous(), transform(y, op).contiguous(), transform(mask, op).contiguous()
