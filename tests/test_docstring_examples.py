"""Every example in the package's docstrings runs and prints what it says (doctest).

The examples are collected from the installed package, so CI checks the code
users get. A module without examples contributes nothing.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import labelaudit

SKIP = {"labelaudit.__main__"}  # running it would start the command line


def _modules() -> list[str]:
    names = ["labelaudit"]
    for info in pkgutil.walk_packages(labelaudit.__path__, prefix="labelaudit."):
        if info.name not in SKIP:
            names.append(info.name)
    return sorted(names)


def _examples(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [t for t in finder.find(module, name) if t.examples]


MODULES = [m for m in _modules() if _examples(m)]


def test_the_public_entry_points_have_examples():
    documented = {t.name.rsplit(".", 1)[-1] for m in MODULES for t in _examples(m)}
    for name in ("audit", "review_annotators", "analyze_slices", "evaluate_gate", "review_sample",
                 "verify", "summary"):
        assert name in documented, name


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    for test in _examples(name):
        runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert attempted > 0
    assert failed == 0, f"{failed} of {attempted} examples in {name} failed (see the output)"
