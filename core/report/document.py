"""The run report as one HTML page: plotly.js inlined once, every figure a div drawn by it, written atomically.

No ``<script src=...>`` and no stylesheet link: the file opens from a disk, a mail attachment or a
USB stick with no network and no server.
"""

from __future__ import annotations

import datetime as _dt
import html
import os
from pathlib import Path

import plotly.graph_objects as go

from core.atomic_io import atomic_write_bytes
from core.report.sections import Content, run_content
from core.runs.folder import RunDir

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
table.scores td { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.8em; overflow: auto; max-height: 32em; font-size: 0.85em; }
.notes { background: #fff4e5; border-left: 4px solid #f0a030; padding: 0.6em 1em; }
.figure { margin: 0.8em 0; }
"""


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _figure_html(fig: go.Figure, index: int) -> str:
    body = fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False, div_id=f"figure-{index}",
                       config={"displaylogo": False, "responsive": True})
    return f'<div class="figure">{body}</div>'


def render(content: Content, title: str, generated: str) -> str:
    """The page of ``content``."""
    out = [f"<h1>{html.escape(title)}</h1>", f"<p>Report written {html.escape(generated)} by Hydrocast Studio "
           "(python -m core report). Figures are interactive: zoom, pan, hover.</p>"]
    if content.notes:
        items = "".join(f"<li>{html.escape(note)}</li>" for note in content.notes)
        out.append(f'<div class="notes"><strong>This run is incomplete or damaged:</strong><ul>{items}</ul></div>')
    figures = 0
    for block in content.blocks:
        out.append(f"<h2>{html.escape(block.title)}</h2>")
        for part in block.parts:
            if isinstance(part, go.Figure):
                out.append(_figure_html(part, figures))
                figures += 1
            else:
                out.append(part)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
            f"<script type=\"text/javascript\">{_plotly_js()}</script></head>\n<body>\n"
            + "\n".join(out) + "\n</body></html>\n")


def report_html(run: RunDir | str | os.PathLike) -> str:
    """The report of ``run`` as one HTML document (a damaged or unfinished run gets notes, not an error)."""
    run = run if isinstance(run, RunDir) else RunDir(run)
    if not run.path.is_dir():
        raise FileNotFoundError(f"run folder {run.path} does not exist")
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return render(run_content(run), f"Run report: {run.name}", generated)


def write_report(run: RunDir | str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write :func:`report_html` of ``run`` to ``out`` atomically (a reader never sees half a file)."""
    out = Path(out)
    atomic_write_bytes(out, report_html(run).encode("utf-8"))
    return out
