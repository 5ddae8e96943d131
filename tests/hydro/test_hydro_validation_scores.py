"""Validation NSE and KGE from per-basin sums equal the direct formulas of core.metrics."""

from __future__ import annotations

import math

import numpy as np
import torch

from core.hydro.train import _nse_kge_from_sums
from core.metrics import kge, nse


def _sums(sim: np.ndarray, obs: np.ndarray) -> torch.Tensor:
    ok = np.isfinite(obs)
    s, o = np.where(ok, sim, 0.0), np.where(ok, obs, 0.0)
    return torch.tensor([ok.sum(), o.sum(), (o**2).sum(), ((s - o) ** 2).sum(), s.sum(), (s**2).sum(), (s * o).sum()],
                        dtype=torch.float64)


def test_scores_from_sums_match_direct_formulas():
    rng = np.random.default_rng(5)
    obs = rng.gamma(0.8, 2.0, size=(3, 400))
    obs[1, ::7] = np.nan
    sim = 0.7 * obs + rng.normal(0, 0.8, size=obs.shape) + 0.3
    sim[1] = np.where(np.isfinite(sim[1]), sim[1], 1.0)
    sums = torch.stack([_sums(sim[b], obs[b]) for b in range(3)])
    got_nse, got_kge = _nse_kge_from_sums(sums)
    for b in range(3):
        assert math.isclose(float(got_nse[b]), nse(sim[b], obs[b]), rel_tol=1e-9)
        assert math.isclose(float(got_kge[b]), kge(sim[b], obs[b])["kge"], rel_tol=1e-9)


def test_scores_undefined_without_variance():
    flat = np.full(50, 2.0)
    sums = torch.stack([_sums(flat + 0.1, flat), _sums(flat, np.full(50, np.nan))])
    got_nse, got_kge = _nse_kge_from_sums(sums)
    assert torch.isnan(got_nse).all() and torch.isnan(got_kge).all()
