"""The section registry: a new section is one registration plus its own code."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from labelaudit.audit import audit
from labelaudit.cli import run
from labelaudit.report import SECTIONS, Section, register_section, render_html
from labelaudit.report.sections import section_lines, section_sidecars
from labelaudit.summary import to_summary_dict

TOY_TEMPLATE = (
    '<section id="toy" aria-labelledby="toy-title">\n'
    '<h2 id="toy-title">Toy</h2>\n<p class="toy">{{ toy.words }}</p>\n</section>\n'
)


class Toy:
    """An analysis a user attaches to a result."""

    def __init__(self, n: int) -> None:
        self.n = n


def _toy_section(*, attached: bool) -> Section:
    def counted(obj):
        return obj.n if attached else obj.n_issues

    return Section(
        "toy",
        "_toy.html.j2",
        lambda obj, result, options: {"toy": {"words": f"{counted(obj)} toys & counting"}},
        absent={"toy": None},
        attached=attached,
        accepts=(lambda obj: isinstance(obj, Toy)) if attached else None,
        nav="Toy",
        summary=lambda obj: {"n": counted(obj)},
        figures=lambda obj: {"n_toys": counted(obj)},
        sidecars=lambda obj, options: {
            "toy.parquet": pl.DataFrame({"n": [counted(obj)]}),
            "toy.json": {"n": counted(obj)},
        },
        lines=lambda obj: [f"Toy: {counted(obj)} toys."],
        template_source=TOY_TEMPLATE,
    )


@pytest.fixture
def toy_registered():
    before = list(SECTIONS)
    yield lambda attached: register_section(_toy_section(attached=attached))
    SECTIONS[:] = before


def _result(n=400, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    probs = rng.dirichlet(np.ones(3), n)
    probs[np.arange(n), labels] += 1.0
    probs /= probs.sum(axis=1, keepdims=True)
    return audit(labels, probs, n_bootstrap=20, seed=seed)


def test_an_attached_toy_section_reaches_every_output(toy_registered):
    toy_registered(True)
    names = [s.name for s in SECTIONS]
    assert names.index("toy") == names.index("others") - 1  # before the catch-all
    result = _result().with_section("toy", Toy(7))
    html = render_html(result)
    assert '<p class="toy">7 toys &amp; counting</p>' in html
    assert '<li><a href="#toy">Toy</a></li>' in html
    assert html.index('id="toy"') < html.index('id="methodology"')
    assert "Other analyses" not in html  # claimed by its section, not the catch-all
    summary = to_summary_dict(result)
    assert summary["extras"]["toy"] == {"n": 7}
    assert summary["figures"]["toy"] == {"n_toys": 7}
    files = section_sidecars(result)
    assert list(files) == ["issues.parquet", "toy.parquet", "toy.json"]
    assert section_lines(result)[-1] == "Toy: 7 toys."


def test_without_its_object_an_attached_section_is_absent(toy_registered):
    toy_registered(True)
    result = _result()
    html = render_html(result)
    assert 'id="toy"' not in html and "#toy" not in html
    assert "toy" not in to_summary_dict(result)["extras"]
    assert "toy.json" not in section_sidecars(result)
    # An object the section does not accept goes to "Other analyses" instead.
    other = result.with_section("toy", {"n": 3})
    assert "Other analyses" in render_html(other)
    assert to_summary_dict(other)["extras"]["toy"] == {"n": 3}


def test_a_core_toy_section_shows_in_the_cli_outputs(toy_registered, tmp_path, capsys):
    toy_registered(False)
    rng = np.random.default_rng(1)
    n = 300
    labels = rng.integers(0, 3, n)
    probs = rng.dirichlet(np.ones(3), n)
    probs[np.arange(n), labels] += 1.0
    probs /= probs.sum(axis=1, keepdims=True)
    data = tmp_path / "data.csv"
    pl.DataFrame({"id": np.arange(n), "label": labels}).write_csv(data)
    np.save(tmp_path / "p.npy", probs)
    out = tmp_path / "out"
    code = run(["audit", str(data), "--label-col", "label", "--id-col", "id",
                "--pred-probs", str(tmp_path / "p.npy"), "--out", str(out),
                "--n-bootstrap", "20"])
    stdout = capsys.readouterr().out
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    n_issues = summary["figures"]["n_issues"]
    assert summary["figures"]["toy"] == {"n_toys": n_issues}
    assert summary["extras"]["toy"] == {"n": n_issues}
    assert summary["outputs"]["files"] == [
        "summary.json", "report.html", "issues.parquet", "toy.parquet", "toy.json"
    ]
    assert pl.read_parquet(out / "toy.parquet").get_column("n").to_list() == [n_issues]
    assert json.loads((out / "toy.json").read_text()) == {"n": n_issues}
    assert f"Toy: {n_issues} toys." in stdout
    assert f'<p class="toy">{n_issues} toys &amp; counting</p>' in (out / "report.html").read_text()


def test_registering_again_replaces_and_before_places():
    before = list(SECTIONS)
    try:
        first = _toy_section(attached=True)
        register_section(first, before="noise")
        names = [s.name for s in SECTIONS]
        assert names.index("toy") == names.index("noise") - 1
        register_section(_toy_section(attached=True))
        assert [s.name for s in SECTIONS].count("toy") == 1
    finally:
        SECTIONS[:] = before
