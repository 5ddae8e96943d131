"""Parameter table: order, default ranges, validation, serialisation, denormalisation."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from core.hydro.params import DEFAULT_RANGES, PARAM_SPECS, XAJ_PARAMS, ParamRanges, denormalise

DESIGN_RANGES = {
    "K": (0.1, 1.0), "B": (0.1, 0.4), "IM": (0.01, 0.1), "UM": (0.0, 20.0), "LM": (60.0, 90.0),
    "DM": (60.0, 120.0), "C": (0.0, 0.2), "SM": (1.0, 100.0), "EX": (1.0, 1.5), "KI": (0.0, 0.7),
    "KG": (0.0, 0.7), "A": (0.0, 2.9), "THETA": (0.0, 6.5), "CI": (0.0, 0.9), "CG": (0.98, 0.998),
}


def test_names_in_design_order():
    assert XAJ_PARAMS == ("K", "B", "IM", "UM", "LM", "DM", "C", "SM", "EX", "KI", "KG", "A", "THETA", "CI", "CG")


def test_default_ranges_match_design():
    assert DEFAULT_RANGES == DESIGN_RANGES
    ranges = ParamRanges.defaults()
    assert ranges.lower == tuple(DESIGN_RANGES[n][0] for n in XAJ_PARAMS)
    assert ranges.upper == tuple(DESIGN_RANGES[n][1] for n in XAJ_PARAMS)


def test_every_spec_has_unit_meaning_and_default_inside_limits():
    for spec in PARAM_SPECS:
        assert spec.unit and len(spec.meaning) > 10
        assert spec.inside_limits(spec.default_lower) and spec.inside_limits(spec.default_upper), spec.name


@pytest.mark.parametrize("name, lower, upper, message", [
    ("KI", 0.5, 0.5, "lower < upper"),
    ("SM", 50.0, 10.0, "lower < upper"),
    ("IM", 0.0, 1.2, "IM"),
    ("CG", 0.98, 1.0, "CG"),
    ("CI", -0.1, 0.5, "CI"),
    ("UM", -1.0, 20.0, "UM"),
    ("LM", 0.0, 90.0, "LM"),
    ("C", 0.0, float("nan"), "finite"),
])
def test_invalid_ranges_are_rejected_naming_the_parameter(name, lower, upper, message):
    with pytest.raises(ValueError) as err:
        ParamRanges.defaults().with_range(name, lower, upper)
    assert message in str(err.value) and name in str(err.value)


def test_edges_of_physical_limits_are_accepted():
    ranges = ParamRanges({"UM": (0.0, 1.0), "IM": (0.0, 1.0), "CG": (0.0, 0.9999), "KI": (0.0, 1.0)})
    assert ranges["UM"] == (0.0, 1.0) and ranges["CG"] == (0.0, 0.9999)


def test_unknown_parameter_and_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="unknown XAJ parameter 'KX'"):
        ParamRanges.from_dict({"KX": [0, 1]}, source="cfg.yaml")
    with pytest.raises(ValueError, match="cfg.yaml: range of K must be two numbers"):
        ParamRanges.from_dict({"K": [0.1]}, source="cfg.yaml")
    with pytest.raises(ValueError, match="needs 'lower' and 'upper'"):
        ParamRanges.from_dict({"K": {"lower": 0.1}})


def test_dict_round_trip_through_yaml_and_json():
    ranges = ParamRanges.defaults().with_range("SM", 5.0, 60.0).with_range("CG", 0.95, 0.99)
    data = ranges.to_dict()
    assert list(data) == list(XAJ_PARAMS)
    assert data["SM"] == [5.0, 60.0]
    assert ParamRanges.from_dict(yaml.safe_load(yaml.safe_dump(data))) == ranges
    assert ParamRanges.from_dict(json.loads(json.dumps(data))) == ranges
    partial = ParamRanges.from_dict({"SM": {"lower": 5, "upper": 60}, "CG": (0.95, 0.99)})
    assert partial == ranges
    assert ParamRanges.from_dict(None) == ParamRanges.defaults()


def test_frame_view_and_edit_round_trip():
    frame = ParamRanges.defaults().to_frame()
    assert list(frame.columns[:7]) == ["name", "unit", "meaning", "lower", "upper", "default lower",
                                       "default upper"]
    assert frame["name"].tolist() == list(XAJ_PARAMS)
    assert frame.loc[frame.name == "SM", "unit"].item() == "mm"
    frame.loc[frame.name == "LM", "upper"] = 120.0
    edited = ParamRanges.from_frame(frame)
    assert edited["LM"] == (60.0, 120.0)
    assert edited.to_frame().loc[frame.name == "LM", "default upper"].item() == 90.0
    frame.loc[frame.name == "CG", "upper"] = 1.5
    with pytest.raises(ValueError, match="CG"):
        ParamRanges.from_frame(frame)


def test_denormalise_maps_unit_interval_linearly_and_keeps_gradient():
    ranges = ParamRanges.defaults()
    p01 = torch.tensor([[0.0] * 15, [1.0] * 15, [0.5] * 15], dtype=torch.float64, requires_grad=True)
    phys = ranges.denormalise(p01)
    assert phys.shape == (3, 15) and phys.dtype == torch.float64
    assert phys[0].tolist() == pytest.approx(list(ranges.lower))
    assert phys[1].tolist() == pytest.approx(list(ranges.upper))
    assert phys[2, XAJ_PARAMS.index("LM")].item() == pytest.approx(75.0)
    phys.sum().backward()
    widths = torch.tensor(ranges.upper, dtype=torch.float64) - torch.tensor(ranges.lower, dtype=torch.float64)
    assert torch.allclose(p01.grad, widths.expand(3, 15))
    assert torch.allclose(ranges.normalise(phys.detach()), p01.detach())
    # time-major [T, B, 15] works too, and the module-level helper uses the defaults
    assert denormalise(torch.rand(4, 2, 15)).shape == (4, 2, 15)
    with pytest.raises(ValueError, match="last dimension"):
        ranges.denormalise(torch.rand(3, 14))
    # a subset of the columns, named by index: the same values as those columns of the full map
    cols = torch.tensor([XAJ_PARAMS.index("K"), XAJ_PARAMS.index("LM")])
    assert torch.equal(ranges.denormalise(p01.detach()[:, cols], columns=cols), phys.detach()[:, cols])
    with pytest.raises(ValueError, match="must be 2"):
        ranges.denormalise(torch.rand(3, 15), columns=cols)
