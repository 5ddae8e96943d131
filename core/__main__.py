"""Command line: ``python -m core hydro ...``, ``python -m core rain ...`` and ``python -m core report ...``.

The subcommands live with their models (``core.hydro.cli``, ``core.rain.cli``); this module only
dispatches, so ``python -m core hydro`` never imports the rain side and vice versa.
"""

from __future__ import annotations

import faulthandler
import importlib
import sys

COMMANDS = {"hydro": "core.hydro.cli", "rain": "core.rain.cli", "report": "core.report.cli"}

USAGE = """usage: python -m core {hydro,rain} {train,evaluate} [options]
       python -m core report --run-dir RUN --out FILE.html

  hydro   differentiable Xinanjiang (dXAJ) and its baselines
  rain    ST-RainNet experiments 1 and 2
  report  one run's figures, scores and settings in one HTML file that opens offline

Run 'python -m core hydro --help' or 'python -m core rain --help' for the options."""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if argv[0] not in COMMANDS:
        print(f"unknown command {argv[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    from core.runs.folder import NotARunFolder
    from core.runs.lock import RunDirBusy, guard_worker_entry, release_all

    try:
        # before the subcommand touches anything: a second worker on a run directory leaves it alone
        guard_worker_entry(argv)
    except RunDirBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except NotARunFolder as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(COMMANDS[argv[0]])
        return int(module.main(argv[1:]) or 0)
    finally:
        release_all()  # for callers in the same process; a worker's exit releases it anyway


if __name__ == "__main__":
    # a worker killed by a fatal signal (a native abort or segfault) leaves its Python stack in its log
    faulthandler.enable()
    sys.exit(main())
