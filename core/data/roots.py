"""The folders the dashboard may open data from (its data roots).

The dashboard runs on a server for people who do not own it, so a path typed into a page is opened
only when it lies under one of these roots; anything else is refused with the same message whether
it exists or not, so the page reveals nothing about the rest of the server. The command line keeps
accepting any path: there the user is on their own machine.

Roots, in order: every folder of ``$HYDROCAST_DATA``, the runs folder (``$HYDROCAST_RUNS`` or
``./runs``, which holds the uploads), the data shipped with the project and with the demo, and the
``../shared/data`` folder beside the checkout that the example configs (``configs/rain_mch.yaml``,
``configs/rain_radar.yaml``) name with relative paths.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Iterable

from .errors import DataError
from .sources import configured_paths

# relative data folders of the example configs, taken from the working directory like their paths
EXAMPLE_DATA_ROOTS = ("../shared/data",)
PROJECT_DATA = Path(__file__).resolve().parents[2] / "data"


def data_roots(runs_folder: str | os.PathLike | None = None) -> list[Path]:
    """The dashboard's data roots (see the module docstring), absolute, without duplicates.

    ``runs_folder`` is the runs folder the caller uses (core.data does not depend on core.runs).
    """
    candidates: list[Path] = [path for path, origin in configured_paths() if origin == "env"]
    if runs_folder is not None:
        candidates.append(Path(runs_folder))
    candidates.append(PROJECT_DATA)
    spec = importlib.util.find_spec("spotpy")
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(list(spec.submodule_search_locations)[0]) / "examples")
    candidates += [Path(p) for p in EXAMPLE_DATA_ROOTS]
    roots: list[Path] = []
    for path in candidates:
        resolved = Path(os.path.abspath(path.expanduser())).resolve()
        if resolved not in roots:
            roots.append(resolved)
    return roots


def check_under_roots(path: str | os.PathLike, roots: Iterable[str | os.PathLike] | None = None) -> Path:
    """``path`` resolved (symbolic links and ``..`` followed), when it lies under one of ``roots``.

    ``roots`` defaults to :func:`data_roots`; relative paths are taken from the working directory.
    Raises :class:`DataError` listing the allowed roots otherwise. The check looks at names only,
    never at the disk outside the roots, so its answer is the same for a path that exists and one
    that does not.
    """
    allowed = [Path(os.path.abspath(Path(r).expanduser())).resolve() for r in (data_roots() if roots is None else roots)]
    text = os.fspath(path).strip()
    if not text:
        raise DataError("no data path given", file=text)
    # resolve() follows links, so a link under a root that points elsewhere is refused too
    resolved = Path(os.path.abspath(Path(text).expanduser())).resolve()
    if any(resolved == root or resolved.is_relative_to(root) for root in allowed):
        return resolved
    listing = "; ".join(str(r) for r in allowed) or "none configured"
    raise DataError(f"the dashboard opens data only under its data roots ({listing}); put the data in one of "
                    f"them or add its folder to HYDROCAST_DATA", file=text)
