"""One palette for every figure and export: a colour per system (model or rain forecast) and the rain
colour scale, shared by the plotly charts and the cartopy PNG so a system looks the same everywhere."""

from __future__ import annotations

OBSERVED = "#222222"
"""Observations and the rain truth."""
RAINFALL = "#6baed6"

MODEL_LABELS = {"dpl": "dXAJ (dPL)", "static_xaj": "XAJ, static parameters", "lstm": "LSTM"}
"""Streamflow models by the names the pages, the demo and the run report show."""

SYSTEM_COLORS = {
    # streamflow models, by key and by the label the pages show
    "dpl": "#1f77b4", "dXAJ (dPL)": "#1f77b4",
    "static_xaj": "#ff7f0e", "XAJ, static parameters": "#ff7f0e",
    "lstm": "#2ca02c", "LSTM": "#2ca02c",
    "XAJ (sliders)": "#9467bd",
    # rain forecasts
    "exp1": "#e377c2", "exp2": "#d62728", "persistence": "#7f7f7f",
    "truth": OBSERVED, "observed": OBSERVED,
}
FALLBACK_COLORS = ("#8c564b", "#bcbd22", "#17becf", "#393b79", "#637939")

RAIN_SCALE = [[0.0, "#ffffff"], [0.02, "#e0f3f8"], [0.15, "#91bfdb"], [0.35, "#4575b4"],
              [0.6, "#313695"], [0.8, "#a50026"], [1.0, "#fdae61"]]
"""Rain colour scale from 0 to the panel maximum (plotly ``colorscale`` form: [position, colour])."""


def system_color(name: str, index: int = 0) -> str:
    """The colour of system ``name`` (a key or its label, a leading "exp2 " style prefix ignored),
    else a fallback picked by ``index``."""
    if name in SYSTEM_COLORS:
        return SYSTEM_COLORS[name]
    head = str(name).split(" ")[0]
    return SYSTEM_COLORS.get(head, FALLBACK_COLORS[index % len(FALLBACK_COLORS)])


def rain_colormap():
    """:data:`RAIN_SCALE` as a matplotlib colormap (for the cartopy PNG export)."""
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("hydrocast_rain", [(pos, color) for pos, color in RAIN_SCALE])
