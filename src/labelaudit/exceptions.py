"""Exceptions and warnings raised by labelaudit."""

from __future__ import annotations

__all__ = ["InputError", "LabelAuditError", "LabelAuditWarning", "OutputError", "PolicyError",
           "SlowRunWarning"]


class LabelAuditError(ValueError):
    """Base error for every problem labelaudit reports about its inputs or options.

    It subclasses :class:`ValueError` so code written for cleanlab's
    ``ValueError`` keeps working. Messages name the parameter (or file, column,
    row), the rule that was broken, and the offending value.
    """


class InputError(LabelAuditError):
    """A data file, column or row cannot be used as given."""


class OutputError(LabelAuditError):
    """An output cannot be published where asked: the folder is busy (another run holds
    its lock), holds files labelaudit did not write, or a file cannot be written (full
    disk, no permission); the message names the path, and the previous outputs are kept."""


class PolicyError(LabelAuditError):
    """A gate policy is malformed (unknown key, wrong type, bad level)."""


class LabelAuditWarning(UserWarning):
    """Warning category for recoverable issues (for instance a class with too few rows)."""


class SlowRunWarning(LabelAuditWarning):
    """A step is about to take long (the command line prints it at once, not at the end)."""
