"""What every result object shares in a notebook: named tables and a rich display.

:class:`ResultTables` gives a result class ``to_polars()``, ``to_pandas()``
and ``_repr_html_()``. A class lists its tables in ``_TABLES`` (the first is
the default) and says how to build each one in :meth:`ResultTables._table`;
the HTML card is drawn by :mod:`labelaudit.report` (the only place HTML is
written), imported when a notebook first displays a result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .exceptions import LabelAuditError

__all__ = ["ResultTables", "short_repr"]


class ResultTables:
    """Mixin of the result classes: named tables as polars or pandas, and a notebook card."""

    #: Names of the tables :meth:`to_polars` returns; the first one is the default.
    _TABLES: ClassVar[tuple[str, ...]] = ()

    def _table(self, name: str) -> Any:
        """The table ``name`` (a polars DataFrame, or rows as a list of dicts)."""
        return getattr(self, name)

    def to_polars(self, table: str | None = None) -> Any:
        """One of the result's tables as a polars DataFrame.

        Parameters
        ----------
        table : str, optional
            Which table (see the class's ``tables`` attribute); default the first.

        Returns
        -------
        polars.DataFrame

        Raises
        ------
        LabelAuditError
            When ``table`` is not one of the result's tables.
        """
        import polars as pl

        name = self._TABLES[0] if table is None else table
        if name not in self._TABLES:
            raise LabelAuditError(
                f"table must be one of {list(self._TABLES)} for {type(self).__name__}, "
                f"got {table!r}"
            )
        value = self._table(name)
        if value is None:
            return pl.DataFrame()
        if isinstance(value, pl.DataFrame):
            return value
        return pl.DataFrame(list(value)) if len(value) else pl.DataFrame()

    def to_pandas(self, table: str | None = None) -> Any:
        """One of the result's tables as a pandas DataFrame (``pip install 'labelaudit[pandas]'``).

        Parameters
        ----------
        table : str, optional
            Which table, as in :meth:`to_polars`.

        Returns
        -------
        pandas.DataFrame

        Raises
        ------
        LabelAuditError
            When ``table`` is unknown, or pandas or pyarrow is not installed.
        """
        frame = self.to_polars(table)
        try:
            return frame.to_pandas()
        except ModuleNotFoundError as exc:
            raise LabelAuditError(
                f"to_pandas() needs {exc.name}: pip install 'labelaudit[pandas]'"
            ) from None

    @property
    def tables(self) -> tuple[str, ...]:
        """Names of the tables :meth:`to_polars` and :meth:`to_pandas` return."""
        return self._TABLES

    def _repr_html_(self) -> str:
        """A summary card and the top rows, for Jupyter (drawn by :mod:`labelaudit.report`)."""
        from .report.notebook import notebook_html

        return notebook_html(self)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Sequence):
        items = [_value(v) for v in list(value)[:5]]
        more = ", ..." if len(value) > 5 else ""
        return f"[{', '.join(items)}{more}]"
    if isinstance(value, Mapping):
        return f"{{{len(value)} entries}}"
    return repr(value)


def short_repr(obj: Any, fields: Mapping[str, Any]) -> str:
    """``Name(key=value, ...)`` on one line: floats to 4 digits, long lists cut after 5.

    Parameters
    ----------
    obj : object
        The object whose class name leads.
    fields : Mapping
        What to show, in order.

    Returns
    -------
    str

    Examples
    --------
    >>> class Thing:
    ...     pass
    >>> short_repr(Thing(), {"rate": 0.123456, "names": list("abcdefg"), "k": 3})
    "Thing(rate=0.1235, names=['a', 'b', 'c', 'd', 'e', ...], k=3)"
    """
    body = ", ".join(f"{k}={_value(v)}" for k, v in fields.items())
    return f"{type(obj).__name__}({body})"
