"""Where a finished run's data came from, for pages that reopen its basins (the Parameters sandbox)."""

from __future__ import annotations

from dataclasses import dataclass

from core.data import DataError
from core.runs.folder import RunDir
from ui.data import basin_ids, source_options


@dataclass(frozen=True)
class RunSource:
    """A run's data source (a ``load_basins`` source argument), its label and the basins it trained
    that the source still lists (run order)."""

    source: str
    label: str
    basins: list[str]


def run_source(run: RunDir, run_basins: list[str]) -> tuple[RunSource | None, str]:
    """The data source and basins of ``run`` (its config.yaml's ``data.source``; ``run_basins`` the
    basins of its predictions), or None and the reason when this dashboard cannot open them."""
    data = run.safe_config().get("data")
    source = data.get("source") if isinstance(data, dict) else None
    if not isinstance(source, str) or not source:
        return None, f"run {run.name} names no data source in its config.yaml"
    options = source_options()
    if source not in options:
        return None, f"run {run.name}'s data source {source} is not available on this dashboard"
    try:
        ids = set(basin_ids(source))
    except (DataError, OSError) as exc:
        return None, f"run {run.name}'s data source {source} cannot be listed ({exc})"
    basins = [b for b in run_basins if b in ids]
    if not basins:
        return None, f"the basins of run {run.name} are no longer in {source}"
    return RunSource(source, options[source], basins), ""
