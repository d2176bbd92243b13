"""Heavy dependencies load on demand: not at ``import labelaudit`` nor for ``--help``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import labelaudit

HEAVY = ("sklearn", "scipy", "matplotlib", "dask", "distributed", "jinja2")


def _loaded_after(code: str) -> list[str]:
    """Top-level heavy packages in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_labelaudit_loads_no_heavy_dependency():
    assert _loaded_after("import labelaudit") == []


@pytest.mark.parametrize(
    "module",
    ["labelaudit.io", "labelaudit.report", "labelaudit.report.sections", "labelaudit.gate",
     "labelaudit.cli", "labelaudit.audit", "labelaudit.summary", "labelaudit.result"],
)
def test_modules_import_their_machinery_on_demand(module):
    assert _loaded_after(f"import {module}") == []


def test_help_loads_no_heavy_dependency():
    code = (
        "import contextlib, io\nfrom labelaudit.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()) as buf:\n"
        "    assert run(['--help']) == 0\n"
        "assert 'audit' in buf.getvalue()"
    )
    assert _loaded_after(code) == []


def test_rendering_a_report_does_load_the_report_stack(demo_audit):
    # The lazy imports are on demand, not missing: rendering pulls in Jinja2 and matplotlib.
    from labelaudit.report import render_html

    result, _ = demo_audit
    html = render_html(result)
    assert html.startswith("<!DOCTYPE html>")
    assert "jinja2" in sys.modules and "matplotlib" in sys.modules


def test_every_public_name_resolves():
    for name in labelaudit.__all__:
        assert getattr(labelaudit, name) is not None, name
    assert set(labelaudit.__all__) <= set(dir(labelaudit))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        labelaudit.nope  # noqa: B018


def test_audit_stays_the_function_after_its_submodule_is_imported():
    import importlib

    module = importlib.import_module("labelaudit.audit")
    assert callable(labelaudit.audit) and labelaudit.audit is module.audit
    from labelaudit import audit

    assert audit is module.audit


def test_the_namespace_holds_only_the_public_api():
    public = {n for n in dir(labelaudit) if not n.startswith("_")}
    assert public == {n for n in labelaudit.__all__ if not n.startswith("_")}
    assert len(labelaudit.__all__) == len(set(labelaudit.__all__))
    # Nothing of the package's own machinery leaks: every other attribute is a submodule.
    import types

    leaked = [n for n, v in vars(labelaudit).items()
              if not n.startswith("_") and n not in labelaudit.__all__
              and not isinstance(v, types.ModuleType)]
    assert leaked == []
    assert not hasattr(labelaudit, "annotations")  # `from __future__ import annotations`


@pytest.mark.parametrize(
    ("name", "module"),
    [("review_annotators", "labelaudit.annotators"), ("analyze_slices", "labelaudit.slices"),
     ("evaluate_gate", "labelaudit.gate"), ("load_policy", "labelaudit.gate")],
)
def test_analyses_are_at_the_top_level(name, module):
    import importlib

    assert name in labelaudit.__all__
    assert getattr(labelaudit, name) is getattr(importlib.import_module(module), name)
