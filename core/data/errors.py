"""The one exception type of the basin data layer.

Every problem with user data (a missing column, a bad value, an unknown basin, a period outside the
record, an implausible unit) raises :class:`DataError`, whose message names the file, variable,
basin and date at fault so a hydrologist can open the file and fix the line.
"""

from __future__ import annotations

from typing import Any


class DataError(ValueError):
    """Invalid or unusable basin data.

    Subclasses ``ValueError`` so callers that only expect "bad input" still catch it. The context
    (``file``, ``variable``, ``basin``, ``date``) is kept as attributes for programmatic use and
    appended to the message as ``[file=..., variable=..., basin=..., date=...]``.
    """

    def __init__(
        self,
        message: str,
        *,
        file: Any = None,
        variable: str | None = None,
        basin: str | None = None,
        date: Any = None,
    ) -> None:
        self.file = None if file is None else str(file)
        self.variable = variable
        self.basin = None if basin is None else str(basin)
        self.date = None if date is None else _format_date(date)
        self.reason = message
        context = [
            f"{key}={value}"
            for key, value in (
                ("file", self.file),
                ("variable", self.variable),
                ("basin", self.basin),
                ("date", self.date),
            )
            if value is not None
        ]
        full = f"{message} [{', '.join(context)}]" if context else message
        super().__init__(full)


class DataWarning(UserWarning):
    """Real data with a quirk that is kept as given (e.g. Daymet's tmin a few degrees above tmax on
    cold days): the message names file, variable, basin and the first date, like :class:`DataError`."""


def _format_date(date: Any) -> str:
    """ISO text of a date-like value; midnight timestamps are shown as plain dates."""
    try:
        import pandas as pd

        stamp = pd.Timestamp(date)
    except (ValueError, TypeError):
        return str(date)
    if stamp is pd.NaT:
        return str(date)
    if stamp == stamp.normalize():
        return stamp.strftime("%Y-%m-%d")
    return stamp.isoformat()
