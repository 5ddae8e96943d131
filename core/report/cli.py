"""``python -m core report --run-dir RUN --out FILE.html``: one run's self-contained HTML report."""

from __future__ import annotations

import argparse
import sys

from core.report.document import write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core report",
                                     description="Write one run's figures, scores and settings into one HTML file "
                                                 "that opens offline (plotly.js inlined).")
    parser.add_argument("--run-dir", required=True, help="the run folder (runs/<kind>-<stamp>[-name])")
    parser.add_argument("--out", required=True, help="the HTML file to write (replaced atomically)")
    args = parser.parse_args(argv)
    try:
        path = write_report(args.run_dir, args.out)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the output folder is not writable, the disk is full
        print(f"error: cannot write {args.out}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
