"""The run report: one self-contained HTML file per run, for people who never open the dashboard.

Interactive plotly figures (plotly.js inlined, so the file opens offline with no server), score
tables, the config, the data period, the machine and the times. Works for hydro and rain runs, and
for unfinished or damaged runs, which get a note saying what is missing instead of an error.

- :mod:`core.report.sections` what a run holds, as titled blocks of HTML (one concern: reading a run)
- :mod:`core.report.document` the blocks put into one page and written atomically
- :mod:`core.report.cli`      ``python -m core report --run-dir RUN --out FILE.html``
"""

from core.report.document import report_html, write_report

__all__ = ["report_html", "write_report"]
