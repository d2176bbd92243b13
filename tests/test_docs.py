"""The documentation's examples run, and its generated reference covers the code.

Every ``python`` block of a page runs, in order, in one namespace; every
line of a ``shell`` block is a ``labelaudit`` command run through the CLI
(``bash`` blocks are shown, not run); a ``toml`` block whose first line is
``# NAME.toml`` is written to that file first. Each page runs in a fresh
directory after the example-files snippet of ``docs/index.md``. A command
expected to fail the gate ends with ``# exits 1``.
"""

from __future__ import annotations

import doctest
import re
import shlex
import sys
from pathlib import Path

import pytest

from labelaudit.cli import run

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.M | re.S)
SETUP_MARK = "# example files"


def _blocks(page: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(page.read_text())]


def _setup_code() -> str:
    code = [body for lang, body in _blocks(DOCS / "index.md")
            if lang == "python" and body.startswith(SETUP_MARK)]
    assert len(code) == 1, "docs/index.md needs one python block starting with '# example files'"
    return code[0]


def _commands(body: str) -> list[tuple[list[str], int]]:
    """The commands of a shell block (backslash continuations joined) with their exit codes."""
    text = body.replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        expect = 1 if line.endswith("# exits 1") else 0
        args = shlex.split(line, comments=True)
        assert args[0] == "labelaudit", f"shell blocks run labelaudit commands only: {line!r}"
        out.append((args[1:], expect))
    return out


def test_pages_exist_for_every_nav_entry():
    nav = re.findall(r":\s*([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M)
    assert nav and all((DOCS / p).is_file() for p in nav)
    assert {p.relative_to(DOCS).as_posix() for p in PAGES} == set(nav)


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(DOCS).as_posix() for p in PAGES])
def test_page_examples_run(page, tmp_path, monkeypatch, capsys):
    blocks = [(lang, body) for lang, body in _blocks(page) if lang in ("python", "shell", "toml")]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    exec(compile(_setup_code(), "docs/index.md (example files)", "exec"), namespace)
    for k, (lang, body) in enumerate(blocks):
        if lang == "toml":
            first = body.splitlines()[0]
            if re.fullmatch(r"# [\w.-]+\.toml", first):
                Path(first[2:]).write_text(body)
        elif lang == "python":
            if body.startswith(SETUP_MARK):
                continue
            exec(compile(body, f"{page.name} block {k}", "exec"), namespace)
        else:
            for args, expect in _commands(body):
                code = run(args)
                err = capsys.readouterr().err
                assert code == expect, f"{page.name}: labelaudit {shlex.join(args)} -> {code}: {err}"


def test_label_studio_docstring_examples():
    from labelaudit.io import label_studio, tables

    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    for obj in (label_studio.label_studio_tasks, label_studio.label_studio_config,
                tables.read_annotation_table):
        for test in finder.find(obj):
            runner.run(test)
    failures, tried = runner.summarize(verbose=False)
    assert tried >= 8 and failures == 0


@pytest.fixture(scope="module")
def hooks():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import docs_hooks
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return docs_hooks


def test_cli_reference_lists_every_option(hooks):
    import typer

    from labelaudit.cli import app

    text = hooks.cli_reference()
    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        assert f"## `labelaudit {name}`" in text
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--"):
                    assert f"`{opt}" in text, (name, opt)


def test_policy_reference_describes_every_key(hooks):
    from labelaudit.gate import CHECKS, OPTIONS
    from labelaudit.verify.plans import ACCEPTANCE_KEYS

    text = hooks.policy_reference()
    for key in [*CHECKS, *OPTIONS, *ACCEPTANCE_KEYS]:
        assert f"| `{key}` |" in text


def test_undocumented_names_stop_the_build(hooks, monkeypatch):
    monkeypatch.delitem(hooks.CHECK_DOCS, "max_issues")
    with pytest.raises(hooks.DocsError, match="gate check 'max_issues' has no description"):
        hooks.policy_reference()
    monkeypatch.delitem(hooks.COLUMN_DOCS, "issue_rank")
    with pytest.raises(hooks.DocsError, match="'issue_rank' of issues.parquet"):
        hooks.outputs_reference()
    with pytest.raises(hooks.DocsError, match="unknown docs marker 'nope'"):
        hooks.render_markers("<!-- labelaudit:nope -->")


def test_outputs_and_summary_reference_cover_a_real_run(hooks):
    import json

    import polars as pl

    outputs = hooks.outputs_reference()
    root = hooks.example_run()
    for path in root.glob("*/*.parquet"):
        assert f"## `{path.name}`" in outputs
        for col in pl.read_parquet_schema(path):
            assert f"| `{col}` |" in outputs, (path.name, col)
    summary = hooks.summary_reference()
    for key in json.loads((root / "audit" / "summary.json").read_text()):
        assert f"| `{key}` |" in summary
