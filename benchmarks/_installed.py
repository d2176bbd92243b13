"""Measure commands as an installed package runs them: with its bytecode compiled.

``pip install`` compiles every module of a package when it installs it. A
checkout run with ``PYTHONPATH=src`` has no bytecode until an import writes
it, and none at all when ``PYTHONDONTWRITEBYTECODE`` is set, so each fresh
interpreter would compile labelaudit's sources again (about 0.1 s a command)
and time work that no installed copy does.
"""

from __future__ import annotations

import compileall
from pathlib import Path

import labelaudit


def compile_package() -> Path:
    """Write the bytecode of the labelaudit package being measured; return its folder."""
    root = Path(labelaudit.__file__).resolve().parent
    compileall.compile_dir(str(root), quiet=1)
    return root
