"""ST-RainNet and ConvLSTM shapes, state placement, and the masked losses."""

from __future__ import annotations

import pytest
import torch

from core.rain.convlstm import ConvLSTMCell
from core.rain.losses import get_loss, log_cosh, weighted_mse
from core.rain.model import STRainNet, build_model


@pytest.mark.parametrize("hidden", [[4, 6], [4, 6, 8]])
@pytest.mark.parametrize("size", [(7, 9), (8, 8), (5, 13), (1, 3)])
def test_shapes_for_odd_and_even_grids(hidden, size):
    torch.manual_seed(0)
    model = STRainNet(5, hidden, kernel_size=3)
    x = torch.randn(2, 4, 5, *size)
    y = model(x)
    assert y.shape == (2, 1, *size)
    assert (y >= 0).all()
    raw = model(x, clip=False)
    assert torch.equal(torch.relu(raw), y)


def test_kernel_size_and_channels_last_give_same_result():
    torch.manual_seed(0)
    model = STRainNet(3, [4, 4], kernel_size=5)
    x = torch.randn(1, 3, 3, 9, 11)
    ref = model(x, clip=False)
    model.use_channels_last(True)
    out = model(x, clip=False)
    assert torch.allclose(ref, out, atol=1e-5)


def test_state_follows_input_device_and_dtype():
    cell = ConvLSTMCell(3, 4, 3)
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64)
    cell.double()
    h, c = cell.init_state(x)
    assert h.shape == (2, 4, 6, 5) and h.dtype == torch.float64 and h.device == x.device
    h2, c2 = cell(x)
    assert h2.dtype == torch.float64 and h2.shape == (2, 4, 6, 5)
    xb = torch.randn(1, 3, 4, 4, dtype=torch.bfloat16)
    assert cell.init_state(xb)[0].dtype == torch.bfloat16
    xcl = torch.randn(1, 3, 4, 4).contiguous(memory_format=torch.channels_last)
    assert cell.init_state(xcl)[0].is_contiguous(memory_format=torch.channels_last)


def test_bf16_autocast_forward_runs_on_cpu():
    model = STRainNet(3, [4, 4])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(torch.randn(1, 2, 3, 7, 7))
    assert y.shape == (1, 1, 7, 7) and torch.isfinite(y.float()).all()


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="hidden_channels"):
        STRainNet(3, [4])
    with pytest.raises(ValueError, match="odd"):
        ConvLSTMCell(3, 4, 4)
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        STRainNet(3, [4, 4])(torch.randn(1, 2, 5, 4, 4))
    with pytest.raises(ValueError, match="unknown key"):
        build_model(3, {"hidden": [4, 4]})


@pytest.mark.parametrize("loss_fn", [weighted_mse, log_cosh])
def test_masked_loss_ignores_region2(loss_fn):
    torch.manual_seed(0)
    obs = torch.rand(2, 1, 4, 10)
    mask = torch.zeros(4, 10, dtype=torch.bool)
    mask[:, 6:] = True  # region 1 on the east side
    pred = torch.rand(2, 1, 4, 10, requires_grad=True)
    loss = loss_fn(pred, obs, mask)
    loss.backward()
    grad = pred.grad.clone()
    assert (grad[..., :6] == 0).all() and (grad[..., 6:] != 0).any()
    # changing region-2 predictions (even to NaN) changes neither the loss nor the gradient
    other = pred.detach().clone()
    other[..., :6] = torch.randn(2, 1, 4, 6) * 100
    other[0, 0, 0, 0] = float("nan")
    other.requires_grad_(True)
    loss2 = loss_fn(other, obs, mask)
    loss2.backward()
    assert torch.allclose(loss, loss2)
    assert torch.allclose(grad, other.grad)


def test_loss_values_and_nan_observations():
    pred = torch.tensor([[[[1.0, 2.0, 5.0]]]])
    obs = torch.tensor([[[[0.0, 4.0, float("nan")]]]])
    # (1-0)^2 (1 + 0) and (2-4)^2 (1 + 0.5*4) over the 2 observed pixels
    assert weighted_mse(pred, obs, alpha=0.5).item() == pytest.approx((1.0 + 4.0 * 3.0) / 2)
    lc = log_cosh(pred, obs).item()
    expected = (torch.log(torch.cosh(torch.tensor(1.0))) + torch.log(torch.cosh(torch.tensor(2.0)))).item() / 2
    assert lc == pytest.approx(expected, rel=1e-5)
    pred.requires_grad_(True)
    weighted_mse(pred, obs).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad[..., 2] == 0
    assert log_cosh(torch.tensor([1000.0]), torch.tensor([0.0])).item() == pytest.approx(1000 - 0.693147, rel=1e-6)
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss("mse")


def test_amp_auto_takes_bf16_only_where_it_is_fast(monkeypatch):
    from core.training import precision as train

    cpu = torch.device("cpu")
    assert train.amp_settings(cpu, "false")[0] is False
    assert train.amp_settings(cpu, "true")[:2] == (True, torch.bfloat16)
    for has_amx in (False, True):
        monkeypatch.setattr(train, "_cpu_has_amx_bf16", lambda: has_amx)
        train.cpu_bf16_fast.cache_clear()
        try:
            enabled, dtype, scaler = train.amp_settings(cpu, "auto")
        finally:
            train.cpu_bf16_fast.cache_clear()
        # without AMX, bf16 ran slower than float32 (bench/rain_speed.py), so auto stays in float32
        assert enabled is has_amx and dtype == torch.bfloat16 and scaler is False


def test_untrained_residual_model_returns_its_guide_in_full_precision_under_autocast():
    # the zero-initialised head adds nothing; the guide must come back as given, not rounded to bf16
    torch.manual_seed(0)
    leads = 3
    net = STRainNet(2 + leads, hidden_channels=(4, 8), out_channels=leads, residual=True).eval()
    x = torch.rand(2, 3, 2 + leads, 9, 10) * 3.0 + 0.1
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, x[:, -1, -leads:], rtol=1e-6, atol=1e-6)
