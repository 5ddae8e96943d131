"""Parameter LSTM, plain LSTM, dPL and static-XAJ models: shapes, strategies, ranges, gradients."""

from __future__ import annotations

import pytest
import torch

from core.hydro.baselines import LSTMBaseline, StaticXAJ
from core.hydro.dpl import DPLModel
from core.hydro.lstm import ParameterLSTM, StreamflowLSTM
from core.hydro.params import ParamRanges


def test_parameter_lstm_shapes_and_strategies():
    torch.manual_seed(0)
    z = torch.randn(12, 5, 4)
    net = ParameterLSTM(4, 15, hidden=8)
    traj = net.trajectory(z)
    assert traj.shape == (12, 5, 15)
    assert torch.all((traj > 0) & (traj < 1))
    # forward projects the last step alone (a GEMV rather than a GEMM row): equal to float32 rounding
    torch.testing.assert_close(net(z), traj[-1], rtol=1e-6, atol=1e-7)
    net.strategy = "mean_time"
    assert torch.allclose(net(z), traj.mean(0))
    net.strategy = "mean_basin"
    basin = torch.tensor([0, 1, 0, 2, 1])
    out = net(z, basin)
    assert out.shape == (5, 15)
    assert torch.allclose(out[0], (traj[-1, 0] + traj[-1, 2]) / 2) and torch.allclose(out[0], out[2])
    assert torch.allclose(out[3], traj[-1, 3])
    assert torch.allclose(net(z), traj[-1].mean(0).expand(5, 15))


def test_parameter_lstm_rejects_bad_input():
    with pytest.raises(ValueError, match="strategy"):
        ParameterLSTM(3, strategy="median")
    with pytest.raises(ValueError, match="time, batch, feature"):
        ParameterLSTM(3)(torch.zeros(4, 3))


def test_dropout_is_active_only_in_training():
    torch.manual_seed(1)
    net = ParameterLSTM(3, hidden=16, dropout=0.5)
    z = torch.randn(6, 4, 3)
    net.train()
    assert not torch.allclose(net(z), net(z))
    net.eval()
    assert torch.allclose(net(z), net(z))


def test_streamflow_lstm_is_non_negative_in_mm():
    net = StreamflowLSTM(3, hidden=8, q_scale=2.5)
    q = net(torch.randn(10, 4, 3))
    assert q.shape == (10, 4) and torch.all(q >= 0)
    baseline = LSTMBaseline(3, hidden=8)
    assert baseline(torch.zeros(10, 4, 2), torch.randn(10, 4, 3), warmup=6)["q"].shape == (4, 4)


def test_dpl_forward_gives_physical_params_and_gradients():
    torch.manual_seed(0)
    ranges = ParamRanges()
    model = DPLModel(3, ranges, hidden=8, backend="reference")
    T, B, warmup = 40, 3, 10
    x = torch.rand(T, B, 2) * torch.tensor([10.0, 3.0])
    z = torch.randn(T, B, 3)
    out = model(x, z, warmup)
    assert out["q"].shape == (T - warmup, B) and out["et"].shape == (T - warmup, B)
    lower, upper = ranges.bounds_tensors()
    assert out["params"].shape == (B, 15)
    assert torch.all(out["params"] >= lower) and torch.all(out["params"] <= upper)
    out["q"].sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.all(torch.isfinite(g)) for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)
    # lstm_steps: the LSTM reads only the window's tail
    short = DPLModel(3, ranges, hidden=8, backend="reference", lstm_steps=5)
    short.load_state_dict(model.state_dict())
    assert torch.allclose(short.physical_params(z), model.physical_params(z[-5:]))


def test_static_xaj_one_parameter_set_per_basin():
    model = StaticXAJ(4, ParamRanges(), backend="reference")
    middle = torch.tensor([(lo + hi) / 2 for lo, hi in zip(ParamRanges().lower, ParamRanges().upper)])
    assert torch.allclose(model.physical_params(), middle.expand(4, 15))
    basin = torch.tensor([3, 3, 0])
    out = model(torch.rand(20, 3, 2), torch.zeros(20, 3, 0), 5, basin)
    assert out["q"].shape == (15, 3)
    out["q"].sum().backward()
    assert torch.all(model.logits.grad[[1, 2]] == 0) and model.logits.grad[3].abs().sum() > 0


def test_truncated_bptt_keeps_outputs_and_cuts_long_gradients():
    torch.manual_seed(2)
    full = ParameterLSTM(3, hidden=8)
    cut = ParameterLSTM(3, hidden=8, bptt_steps=4)
    cut.load_state_dict(full.state_dict())
    z = torch.randn(20, 2, 3, requires_grad=True)
    out_full, out_cut = full(z), cut(z)
    assert torch.allclose(out_full, out_cut, atol=1e-6)
    (grad_cut,) = torch.autograd.grad(out_cut.sum(), z)
    (grad_full,) = torch.autograd.grad(out_full.sum(), z)
    assert torch.all(grad_cut[:16] == 0) and grad_cut[16:].abs().sum() > 0
    assert grad_full[:16].abs().sum() > 0
    with torch.no_grad():  # evaluation runs the whole window in one pass
        assert torch.allclose(cut(z), out_full, atol=1e-6)
