"""Gamma unit hydrograph (docs/design.md, 4.5 Routing) and the causal convolution."""

from __future__ import annotations

import math

import pytest
import torch

from core.hydro.unit_hydrograph import causal_convolve, gamma_unit_hydrograph, pending_volume


def test_known_values_from_design():
    w = gamma_unit_hydrograph(torch.tensor([2.5], dtype=torch.float64), torch.tensor([3.5], dtype=torch.float64), 15)
    assert w.shape == (1, 15)
    assert w[0, :5].tolist() == pytest.approx([0.0069, 0.0314, 0.0553, 0.0738, 0.0860], abs=5e-5)
    assert w[0, -3:].tolist() == pytest.approx([0.0597, 0.0525, 0.0459], abs=5e-5)
    assert w.sum().item() == pytest.approx(1.0, abs=1e-12)


def test_matches_plain_gamma_density_with_offsets():
    for a_param, theta_param, length in [(0.0, 0.0, 15), (2.9, 6.5, 15), (1.2, 0.7, 5), (-1.0, 2.0, 8)]:
        a, theta = max(a_param, 0.0) + 0.1, max(theta_param, 0.0) + 0.5
        dens = [(k + 0.5) ** (a - 1) * math.exp(-(k + 0.5) / theta) / (math.gamma(a) * theta ** a)
                for k in range(length)]
        expected = [x / sum(dens) for x in dens]
        got = gamma_unit_hydrograph(torch.tensor([a_param], dtype=torch.float64),
                                    torch.tensor([theta_param], dtype=torch.float64), length)
        assert got[0].tolist() == pytest.approx(expected, rel=1e-10)


def test_weights_are_finite_and_differentiable_at_range_edges():
    a = torch.tensor([0.0, 0.0, 2.9, 2.9, 1.0], requires_grad=True)
    theta = torch.tensor([0.0, 6.5, 0.0, 6.5, 3.0], requires_grad=True)
    w = gamma_unit_hydrograph(a, theta, 15)
    assert torch.isfinite(w).all() and torch.allclose(w.sum(-1), torch.ones(5))
    (w * torch.arange(15.0)).sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(theta.grad).all()


def test_convolution_of_a_pulse_returns_the_kernel_and_conserves_volume():
    weights = gamma_unit_hydrograph(torch.tensor([1.0, 2.5], dtype=torch.float64),
                                    torch.tensor([1.0, 3.5], dtype=torch.float64), 6)
    inflow = torch.zeros(10, 2, dtype=torch.float64)
    inflow[2] = torch.tensor([10.0, 4.0], dtype=torch.float64)
    out = causal_convolve(inflow, weights)
    assert torch.allclose(out[:2], torch.zeros(2, 2, dtype=torch.float64))
    assert torch.allclose(out[2:8], (weights * torch.tensor([[10.0], [4.0]], dtype=torch.float64)).T)
    assert torch.allclose(out[8:], torch.zeros(2, 2, dtype=torch.float64))


def test_pending_volume_closes_routing_balance():
    torch.manual_seed(1)
    weights = gamma_unit_hydrograph(torch.rand(3, dtype=torch.float64) * 3, torch.rand(3, dtype=torch.float64) * 6, 15)
    inflow = torch.rand(40, 3, dtype=torch.float64) * 5
    out = causal_convolve(inflow, weights)
    pending = pending_volume(inflow, weights)
    assert torch.allclose(inflow.cumsum(0) - out.cumsum(0), pending, atol=1e-12)
