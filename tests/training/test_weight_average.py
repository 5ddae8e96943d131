"""The moving average of the weights: its update rule, swapping it in and out, integer buffers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.training.weight_average import WeightAverage


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))


def test_average_follows_the_update_rule_and_swaps_in_and_out():
    net = _Net()
    start = net.linear.weight.detach().clone()
    average = WeightAverage(net, decay=0.75)
    with torch.no_grad():
        net.linear.weight.add_(4.0)
        net.steps.fill_(7)
    average.update()
    expected = 0.75 * start + 0.25 * (start + 4.0)
    torch.testing.assert_close(average.averaged_state_dict()["linear.weight"], expected)
    assert int(average.averaged_state_dict()["steps"]) == 7  # counters are copied, not averaged
    with average.applied() as model:
        torch.testing.assert_close(model.linear.weight, expected)
    torch.testing.assert_close(net.linear.weight, start + 4.0)  # raw weights back after the block


def test_state_round_trip_and_bad_decay():
    net = _Net()
    average = WeightAverage(net, decay=0.5)
    with torch.no_grad():
        net.linear.bias.fill_(2.0)
    average.update()
    other = WeightAverage(_Net(), decay=0.5)
    other.load_state_dict(average.averaged_state_dict())
    torch.testing.assert_close(other.average["linear.bias"], average.average["linear.bias"])
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(net, decay=1.0)
    with pytest.raises(ValueError, match="does not match"):
        other.load_state_dict({"linear.weight": torch.zeros(1, 2)})
