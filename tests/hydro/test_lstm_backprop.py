"""core.hydro.lstm_backprop: same values and gradients as full back-propagation, and it stops early."""

from __future__ import annotations

import pytest
import torch

from core.hydro.lstm import ParameterLSTM
from core.hydro.lstm_backprop import BackpropDepth, lstm_vanishing_backprop


def _lstm(long_memory: bool, dtype=torch.float64) -> torch.nn.LSTM:
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(6, 10).to(dtype)
    if long_memory:
        with torch.no_grad():  # forget gates near 1: the gradient survives the whole window
            lstm.bias_ih_l0[10:20] += 8.0
    return lstm


def _grads(lstm, x0, run, dense: bool):
    lstm.zero_grad()
    x = x0.clone().requires_grad_()
    out = run(x)
    weights = torch.linspace(0.5, 1.5, out.shape[0], dtype=out.dtype)[:, None, None]
    loss = (weights * out.square()).sum() if dense else out[-1].square().sum()
    loss.backward()
    return out.detach(), [x.grad] + [p.grad.clone() for p in lstm.parameters()]


@pytest.mark.parametrize("long_memory", [False, True])
@pytest.mark.parametrize("dense", [False, True])
def test_same_outputs_and_gradients_as_full_backprop_in_float64(long_memory, dense):
    lstm = _lstm(long_memory)
    x0 = torch.randn(203, 4, 6, dtype=torch.float64)  # 203 steps: the last chunk is short
    ref_out, ref = _grads(lstm, x0, lambda x: lstm(x)[0], dense)
    out, got = _grads(lstm, x0, lambda x: lstm_vanishing_backprop(lstm, x, chunk=16), dense)
    torch.testing.assert_close(out, ref_out, rtol=1e-13, atol=0)
    for a, b in zip(got, ref):
        assert float((a - b).abs().max()) <= 1e-12 * float(b.abs().max())


def test_float32_gradients_within_rounding_of_full_backprop():
    lstm = _lstm(False, torch.float32)
    x0 = torch.randn(365, 16, 6)
    _, ref = _grads(lstm, x0, lambda x: lstm(x)[0], dense=False)
    _, got = _grads(lstm, x0, lambda x: lstm_vanishing_backprop(lstm, x), dense=False)
    for a, b in zip(got, ref):
        assert float((a - b).abs().max()) <= 1e-5 * float(b.abs().max())


@pytest.mark.slow
def test_gradcheck_float64():
    lstm = _lstm(False)
    x = torch.randn(9, 2, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, *w: lstm_vanishing_backprop(lstm, x, chunk=4), (x, *lstm.parameters()))


@pytest.mark.parametrize("long_memory", [False, True])
def test_backward_stops_where_the_gradient_has_vanished(long_memory):
    lstm = _lstm(long_memory)
    calls = []
    lstm.register_forward_hook(lambda *_: calls.append(1))
    x = torch.randn(730, 4, 6, dtype=torch.float64, requires_grad=True)
    out = lstm_vanishing_backprop(lstm, x, chunk=64)
    assert len(calls) == 12  # the forward pass: 730 steps in chunks of 64
    out[-1].sum().backward()
    rerun = len(calls) - 12
    if long_memory:
        # forget gates near 1 carry the gradient to step 0: every chunk is re-run
        assert rerun == 12 and (x.grad[:100] != 0).any()
    else:
        # a fresh network forgets within a few dozen steps: the early steps are never visited
        assert rerun <= 3 and (x.grad[:100] == 0).all()


def test_parameter_lstm_training_path_matches_the_trajectory():
    torch.manual_seed(1)
    net = ParameterLSTM(5, 15, hidden=8).double()
    z = torch.randn(100, 3, 5, dtype=torch.float64)
    with torch.no_grad():
        expected = net.trajectory(z)[-1]
    torch.testing.assert_close(net(z), expected, rtol=1e-14, atol=0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="chunk"):
        lstm_vanishing_backprop(torch.nn.LSTM(2, 3), torch.zeros(4, 1, 2), chunk=0)
    with pytest.raises(ValueError, match="dropout"):
        lstm_vanishing_backprop(torch.nn.LSTM(2, 3, num_layers=2, dropout=0.5), torch.zeros(4, 1, 2))
    with pytest.raises(ValueError, match="sequence-first"):
        lstm_vanishing_backprop(torch.nn.LSTM(2, 3, batch_first=True), torch.zeros(1, 4, 2))


def test_depth_policy_switches_to_full_backprop_while_the_walk_does_not_pay():
    depth = BackpropDepth(threshold=0.6, probe_every=4)
    assert depth.use_walk()  # nothing measured yet
    depth.record(5, 12)
    assert depth.use_walk()  # 42 % of the chunks: the walk is cheaper
    depth.record(12, 12)
    assert [depth.use_walk() for _ in range(8)] == [False, False, False, True, False, False, False, True]
    depth.record(2, 12)
    assert depth.use_walk()
    with pytest.raises(ValueError):
        BackpropDepth(threshold=0.0)


def test_parameter_lstm_with_long_memory_falls_back_to_full_backprop():
    torch.manual_seed(2)
    net = ParameterLSTM(5, 15, hidden=8).double()
    with torch.no_grad():
        net.net.lstm.bias_ih_l0[8:16] += 8.0
    z = torch.randn(256, 3, 5, dtype=torch.float64)
    calls = []
    net.net.lstm.register_forward_hook(lambda *_: calls.append(1))
    grads = []
    for _ in range(2):
        net.zero_grad()
        calls.clear()
        net(z).square().sum().backward()
        grads.append([p.grad.clone() for p in net.parameters()])
        if len(grads) == 1:
            assert len(calls) == 4 + 4  # walk: 4 chunks forward, all 4 re-run
            assert float(net.backprop_depth.fraction) == 1.0
        else:
            assert len(calls) == 1  # one plain nn.LSTM call, autograd's own backward
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=0)


def test_depth_state_is_saved_with_the_model_and_old_checkpoints_still_load():
    net = ParameterLSTM(5, 15, hidden=8)
    net.backprop_depth.record(3, 4)
    net.backprop_depth.use_walk()
    state = net.state_dict()
    restored = ParameterLSTM(5, 15, hidden=8)
    restored.load_state_dict(state)
    assert float(restored.backprop_depth.fraction) == 0.75
    assert int(restored.backprop_depth.steps_since_walk) == 1
    old = {k: v for k, v in state.items() if not k.startswith("backprop_depth.")}
    fresh = ParameterLSTM(5, 15, hidden=8)
    fresh.load_state_dict(old)  # strict: a checkpoint from before the policy has no depth buffers
    assert float(fresh.backprop_depth.fraction) == 0.0
