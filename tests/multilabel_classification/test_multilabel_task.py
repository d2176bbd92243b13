"""``labelaudit audit --task multilabel``: readers, the audit against cleanlab, the command line."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from cleanlab.multilabel_classification import dataset as cl_dataset
from cleanlab.multilabel_classification import filter as cl_filter
from cleanlab.multilabel_classification import rank as cl_rank
from statsmodels.stats.proportion import proportion_confint

from labelaudit.cli import run
from labelaudit.datasets import example_dir
from labelaudit.exceptions import InputError
from labelaudit.io.multilabel import (
    multilabel_classes,
    read_label_studio_multilabel,
    read_multilabel_probs,
    read_multilabel_table,
)
from labelaudit.tasks.multilabel import audit_multilabel, suggestion_thresholds


def _run(capsys, *args):
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def example():
    return example_dir("multilabel")


def _classes(example):
    return (example / "classes.txt").read_text().strip()


def _example_args(example, out, *extra):
    return ["audit", example / "data.csv", "--task", "multilabel", "--id-col", "id",
            "--label-col", "labels", "--pred-probs", example / "pred_probs.npy",
            "--classes", _classes(example), "--out", out, *extra]


# --------------------------------------------------------------------------- readers


def test_delimited_column_with_empty_cells_and_a_custom_separator(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_text('id,tags\n7,"cat; dog"\n8,\n9,dog\n')
    df = read_multilabel_table(path, label_col="tags", id_col="id", sep=";")
    assert df.get_column("labels").to_list() == [["cat", "dog"], [], ["dog"]]
    assert df.get_column("id").to_list() == ["7", "8", "9"] or df["id"].to_list() == [7, 8, 9]
    # With the default separator the same cell is one class named 'cat; dog'.
    assert read_multilabel_table(path, label_col="tags").get_column("labels")[0].to_list() == [
        "cat; dog"]


def test_list_columns_from_parquet_and_json_lines(tmp_path):
    frame = pl.DataFrame({"labels": [["b", "a"], [], None, ["c"]]})
    frame.write_parquet(tmp_path / "t.parquet")
    frame.write_ndjson(tmp_path / "t.jsonl")
    for name in ("t.parquet", "t.jsonl"):
        sets = read_multilabel_table(tmp_path / name).get_column("labels")
        assert sets.to_list() == [["b", "a"], [], [], ["c"]]
        assert multilabel_classes(sets, None, source="x") == ["a", "b", "c"]


@pytest.mark.parametrize(("text", "message"), [
    ('labels\n"a,,b"\nb\n', r"t.csv', column 'labels', row 0: 'a,,b' has an empty class"),
    ('labels\nb\n"a, a"\n', r"t.csv', column 'labels', row 1: class 'a' is given twice"),
])
def test_bad_cells_name_file_column_and_row(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_multilabel_table(path)


def _write_json_lines(path, cells):
    with open(path, "w", encoding="utf-8") as fh:
        for row, cell in enumerate(cells):
            fh.write(json.dumps({"id": f"i{row}", "labels": cell}) + "\n")
    return path


def _alternating(odd, at=10, n=60):
    return [odd if i == at else (["a"] if i % 2 else ["b"]) for i in range(n)]


@pytest.mark.parametrize(("cells", "message"), [
    (_alternating("c"),
     'row 10: holds a string "c" instead of a list of class names (row 0 holds a list); '
     "write every cell of the column as a list"),
    (_alternating([["a"]]),
     'row 10: holds [["a"]], whose element ["a"] is a list, not a class name (a string or '
     "an integer)"),
    ([[0], [1], [1.5], [2], [0, 1], [2]],
     "row 2: holds [1.5], whose element 1.5 is not a class name; class codes are integers "
     "written without a decimal point"),
    ([[0], [1], [2, True], [2]],
     "row 2: holds [2, true], whose element true is a boolean, not a class name (a string or "
     "an integer)"),
    ([["a"], ["b", 1]],
     'row 1: holds ["b", 1], whose element 1 is a number where row 0 has the string "a"; the '
     "lists of a JSON Lines column must not mix numbers and strings, write every class the "
     "same way, e.g. all as strings"),
    (["a", ["b"], ["c"]],
     'row 0: holds a string "a" instead of a list of class names (row 1 holds a list); write '
     "every cell of the column as a list"),
    ([1, "a,b"],
     'row 1: holds a string "a,b" where row 0 holds a number 1; a JSON Lines column must not '
     "mix numbers and strings, write every cell the same way, e.g. all as strings"),
    (["a", 2.5],
     "row 1: holds a number 2.5; expected a list of class names, text with classes separated "
     "by ',' or an integer class code"),
])
def test_json_lines_cells_not_written_like_the_others_name_file_column_row_and_value(
        tmp_path, cells, message):
    path = _write_json_lines(tmp_path / "t.jsonl", cells)
    with pytest.raises(InputError) as caught:
        read_multilabel_table(path, id_col="id")
    assert str(caught.value) == f"data file '{path}', column 'labels', {message}"


def test_json_lines_rows_are_counted_without_blank_lines(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"labels": ["a"]}\n\n   \n{"labels": ["b"]}\n{"labels": "c"}\n')
    with pytest.raises(InputError, match=r"column 'labels', row 2: holds a string \"c\""):
        read_multilabel_table(path)


@pytest.mark.parametrize(("cells", "sets"), [
    ([["b", "a"], [], None, [" c "]], [["b", "a"], [], [], ["c"]]),
    ([[0], [1, 2], [], None, [10]], [["0"], ["1", "2"], [], [], ["10"]]),
    (["a, b", "", None, "01,1"], [["a", "b"], [], [], ["01", "1"]]),
    ([1, None, 7], [["1"], [], ["7"]]),
])
def test_json_lines_label_sets_written_one_way_are_read_as_written(tmp_path, cells, sets):
    path = _write_json_lines(tmp_path / "t.jsonl", cells)
    df = read_multilabel_table(path, id_col="id")
    assert df.get_column("labels").to_list() == sets
    assert df.get_column("id").to_list() == [f"i{row}" for row in range(len(cells))]


def test_bad_list_element_and_unknown_class(tmp_path):
    pl.DataFrame({"labels": [[1.5], [2.0]]}).write_parquet(tmp_path / "f.parquet")
    with pytest.raises(InputError, match=r"column 'labels', row 0: element 1.5"):
        read_multilabel_table(tmp_path / "f.parquet")
    sets = pl.Series([["a"], ["b", "z"]])
    with pytest.raises(InputError, match=r"row 1 has class 'z', not one of --classes"):
        multilabel_classes(sets, ["a", "b"], source="data")
    assert multilabel_classes(sets, ["z", "b", "a", "absent"], source="data") == [
        "z", "b", "a", "absent"]
    with pytest.raises(InputError, match="at least 2 classes"):
        multilabel_classes(pl.Series([["a"], []]), None, source="data")


def test_probabilities_table_aligned_by_id_and_range_checked(tmp_path):
    ids = pl.Series("id", ["x", "y"])
    path = tmp_path / "p.csv"
    path.write_text("id,a,b\ny,0.2,0.9\nx,0.7,0.7\n")
    probs = read_multilabel_probs(path, class_names=["a", "b"], ids=ids)
    assert probs.tolist() == [[0.7, 0.7], [0.2, 0.9]]  # rows need not sum to 1
    np.save(tmp_path / "p.npy", np.array([[0.1, 0.2], [1.3, 0.0]]))
    with pytest.raises(InputError, match=r"row 1, class 'a' is 1.3; expected a probability"):
        read_multilabel_probs(tmp_path / "p.npy", class_names=["a", "b"], ids=ids)


def _label_studio_export(example, *, with_predictions=True):
    data = pl.read_csv(example / "data.csv", schema_overrides={"labels": pl.String})
    probs = np.load(example / "pred_probs.npy")
    classes = _classes(example).split(",")
    tasks = []
    for i, (item, cell) in enumerate(data.iter_rows()):
        chosen = [] if cell is None else cell.split(",")
        result = [{"from_name": "tags", "to_name": "image", "type": "choices",
                   "value": {"choices": chosen}}] if chosen else []
        annotations = [{"id": 1, "completed_by": 1, "result": result}]
        if i % 50 == 1:  # a cancelled annotation first, and a second annotator after
            annotations.insert(0, {"id": 0, "was_cancelled": True, "result": []})
            annotations.append({"id": 2, "completed_by": 2, "result": [
                {"type": "choices", "value": {"choices": ["dog"]}}]})
        task = {"id": i, "data": {"image": f"{item}.jpg", "labelaudit_id": item},
                "annotations": annotations}
        if with_predictions:
            task["predictions"] = [{"result": [
                {"type": "choices", "value": {"choices": [c]}, "score": float(probs[i, k])}
                for k, c in enumerate(classes)]}]
        tasks.append(task)
    tasks.append({"id": 999, "data": {"image": "x.jpg"}, "annotations": []})
    return tasks


def test_label_studio_reader(tmp_path, example):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_label_studio_export(example)))
    with pytest.warns(UserWarning, match="skipped 1 task"):
        rows, predictions = read_label_studio_multilabel(path)
    assert rows.height == 320 + 7  # second annotations of every 50th task
    assert rows.get_column("id")[0] == "photo-000" and rows.get_column("labels")[0].to_list() == []
    assert len(predictions) == 320 and predictions[0]["beach"] == pytest.approx(
        float(np.load(example / "pred_probs.npy")[0, 0]))
    bad = _label_studio_export(example)[:2]
    bad[1]["annotations"][1]["result"][0]["value"]["choices"] = ["dog", "dog"]
    path.write_text(json.dumps(bad))
    with pytest.raises(InputError, match=r"task at position 1, annotation 1: class 'dog' is "
                                         r"given twice"):
        read_label_studio_multilabel(path)


# --------------------------------------------------------------------------- the audit vs cleanlab


def _random_problem(seed=3, n=400, k=5):
    rng = np.random.default_rng(seed)
    truth = rng.random((n, k)) < np.array([0.3, 0.2, 0.4, 0.1, 0.25])
    probs = np.where(truth, rng.beta(5, 2, (n, k)), rng.beta(2, 5, (n, k)))
    given = truth.copy()
    flip = rng.random((n, k)) < 0.04
    given[flip] = ~given[flip]
    return [list(np.flatnonzero(row)) for row in given], probs


def test_audit_matches_cleanlab():
    labels, probs = _random_problem()
    audit = audit_multilabel(labels, probs, list("abcde"))
    issues = audit.issues.sort("id")
    expected_mask = cl_filter.find_label_issues(labels, probs)
    assert issues.get_column("is_issue").to_numpy().tolist() == expected_mask.tolist()
    ranked = cl_filter.find_label_issues(labels, probs, return_indices_ranked_by="self_confidence")
    assert audit.issues.filter("is_issue").get_column("id").to_list() == ranked.tolist()
    np.testing.assert_allclose(issues.get_column("label_quality").to_numpy(),
                               cl_rank.get_label_quality_scores(labels, probs), rtol=1e-12)
    per_pair = cl_filter.find_multilabel_issues_per_class(labels, probs)
    common = cl_dataset.common_multilabel_issues(labels, probs)
    for row in audit.per_class.iter_rows(named=True):
        c = "abcde".index(row["class"])
        side = common[common["Class Index"] == c].set_index("In Given Label")["Num Examples"]
        assert row["n_wrongly_given"] == side[True] and row["n_overlooked"] == side[False]
        assert row["n_issues"] == int(per_pair[:, c].sum())
        lo, hi = proportion_confint(row["n_issues"], 400, alpha=0.05, method="wilson")
        assert row["ci_low"] == pytest.approx(lo) and row["ci_high"] == pytest.approx(hi)
    lo, hi = proportion_confint(int(expected_mask.sum()), 400, alpha=0.05, method="wilson")
    assert (audit.ci_low, audit.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert audit.issue_rate == expected_mask.mean()
    # Which classes look wrong, per item, is cleanlab's per-class mask split by the given side.
    for row in issues.head(60).iter_rows(named=True):
        i = row["id"]
        flagged = {"abcde"[c] for c in np.flatnonzero(per_pair[i])}
        assert set(row["wrongly_given"]) | set(row["overlooked"]) == flagged
        assert set(row["wrongly_given"]) <= set(row["given_labels"])
        assert not set(row["overlooked"]) & set(row["given_labels"])


def test_suggested_sets_follow_the_threshold():
    labels, probs = _random_problem(seed=5)
    at_half = audit_multilabel(labels, probs, list("abcde")).issues.sort("id")
    per_class = audit_multilabel(labels, probs, list("abcde"), threshold="per-class")
    onehot = np.zeros(probs.shape, dtype=bool)
    for i, row in enumerate(labels):
        onehot[i, row] = True
    t = suggestion_thresholds(onehot, probs, "per-class")
    np.testing.assert_allclose(t, [probs[onehot[:, c], c].mean() for c in range(5)])
    assert per_class.per_class.get_column("threshold").to_list() == pytest.approx(t.tolist())
    expected = [[c for c in "abcde" if probs[i, "abcde".index(c)] >= 0.5] for i in range(400)]
    assert at_half.get_column("suggested_labels").to_list() == expected
    assert per_class.issues.sort("id").get_column("suggested_labels").to_list() != expected


# --------------------------------------------------------------------------- command line


def test_example_end_to_end_finds_planted_errors(capsys, tmp_path, example):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, *_example_args(example, out, "--csv"))
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "issues.csv", "issues.parquet", "report.html", "summary.json"]
    assert "Multi-label: " in stdout and "items have a label issue" in stdout
    assert "classes 'cat'" in err  # the class no item carries cannot be pruned
    summary = json.loads((out / "summary.json").read_text())
    fig = summary["figures"]
    issues = pl.read_parquet(out / "issues.parquet")
    assert issues.height == fig["n_multilabel_items"] == 320
    flagged = issues.filter("is_issue")
    assert flagged.height == fig["n_multilabel_issues"]
    assert fig["multilabel_issue_rate_ci_low"] <= fig["multilabel_issue_rate"] <= fig[
        "multilabel_issue_rate_ci_high"]
    planted = pl.read_csv(example / "planted.csv")
    hits = set(flagged.get_column("id")) & set(planted.get_column("id"))
    base_rate = planted.height / issues.height
    # Better than chance: flagged items are planted far more often than items at random,
    # and most planted items are flagged.
    assert len(hits) / flagged.height > 3 * base_rate
    assert len(hits) / planted.height > 0.6
    pairs = {(r["id"], c, kind) for r in flagged.iter_rows(named=True)
             for kind in ("wrongly_given", "overlooked") for c in r[kind]}
    assert len(pairs & set(planted.rows())) / planted.height > 0.6
    empty = issues.filter(pl.col("id") == "photo-000")
    assert empty.get_column("given_labels").to_list() == [[]]
    per_class = {r["class"]: r for r in summary["extras"]["multilabel"]["per_class"]}
    assert per_class["cat"]["count"] == 0 and set(per_class) == set(_classes(example).split(","))
    n_empty = pl.read_csv(example / "data.csv").get_column("labels").null_count()
    assert summary["extras"]["multilabel"]["n_empty_label_sets"] == n_empty >= 1
    csv = pl.read_csv(out / "issues.csv")
    assert csv.height == 320 and "wrongly_given" in csv.columns
    html = (out / "report.html").read_text()
    assert 'id="multilabel"' in html and html.count('class="tag tag-wrong"') >= 5


def test_threshold_and_separator_options_change_outputs(capsys, tmp_path, example):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert _run(capsys, *_example_args(example, a))[0] == 0
    code, _, err = _run(capsys, *_example_args(example, b, "--multilabel-threshold", "per-class"))
    assert code == 0, err
    ia, ib = pl.read_parquet(a / "issues.parquet"), pl.read_parquet(b / "issues.parquet")
    assert ia.get_column("is_issue").equals(ib.get_column("is_issue"))
    assert not ia.get_column("suggested_labels").equals(ib.get_column("suggested_labels"))
    data = pl.read_csv(example / "data.csv", schema_overrides={"labels": pl.String})
    semi = tmp_path / "semi.csv"
    data.with_columns(pl.col("labels").str.replace_all(",", ";")).write_csv(semi)
    args = _example_args(example, c, "--label-sep", ";")
    args[1] = semi
    code, _, err = _run(capsys, *args)
    assert code == 0, err
    assert pl.read_parquet(c / "issues.parquet").equals(ia)


def test_gate_pass_and_fail(capsys, tmp_path, example):
    policy = tmp_path / "gate.toml"
    policy.write_text("[gate]\nmax_multilabel_issue_rate = 0.15\n")
    code, stdout, _ = _run(capsys, *_example_args(example, tmp_path / "o1", "--policy", policy))
    assert code == 1 and "max_multilabel_issue_rate" in stdout  # upper bound ~16.6%
    policy.write_text("[gate]\nmax_multilabel_issue_rate = 0.2\n"
                      "max_multilabel_class_issue_rate = 0.1\n")
    code, _, err = _run(capsys, *_example_args(example, tmp_path / "o2", "--policy", policy))
    assert code == 0, err
    policy.write_text("[gate]\nmax_multilabel_class_issue_rate = 0.05\n")
    code, stdout, _ = _run(capsys, *_example_args(example, tmp_path / "o3", "--policy", policy))
    assert code == 1 and "max_multilabel_class_issue_rate" in stdout


@pytest.mark.parametrize(("change", "message"), [
    (["--classes", "beach,city"], "not one of --classes"),
    (["--multilabel-threshold", "1.5"], "--multilabel-threshold must be a number"),
    (["--label-col", "nope"], "missing column(s) 'nope'"),
    (["--predictions", "x.json"], "--predictions does not apply"),
])
def test_bad_input_exits_2_and_writes_nothing(capsys, tmp_path, example, change, message):
    out = tmp_path / "out"
    code, _, err = _run(capsys, *_example_args(example, out, *change))
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(("odd", "holds"), [
    ("c", 'holds a string "c" instead of a list of class names'),
    ([["a"]], 'holds [["a"]], whose element ["a"] is a list'),
])
def test_json_lines_list_column_with_an_odd_row_exits_2_and_writes_nothing(
        capsys, tmp_path, odd, holds):
    data = _write_json_lines(tmp_path / "mix.jsonl", _alternating(odd))
    probs = tmp_path / "p.npy"
    np.save(probs, np.random.default_rng(0).random((60, 3)))
    out = tmp_path / "out"
    code, _, err = _run(capsys, "audit", data, "--task", "multilabel", "--id-col", "id",
                        "--pred-probs", probs, "--out", out)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"data file '{data}', column 'labels', row 10: {holds}" in err
    assert not out.exists()


def test_multilabel_options_refused_on_other_tasks(capsys, tmp_path, example):
    code, _, err = _run(capsys, "audit", example / "data.csv", "--label-col", "labels",
                        "--label-sep", ";", "--out", tmp_path / "o")
    assert code == 2 and "--label-sep" in err


def test_probability_rows_must_match_items(capsys, tmp_path, example):
    np.save(tmp_path / "short.npy", np.load(example / "pred_probs.npy")[:-1])
    args = _example_args(example, tmp_path / "out")
    args[args.index("--pred-probs") + 1] = tmp_path / "short.npy"
    code, _, err = _run(capsys, *args)
    assert code == 2 and "319 rows but there are 320" in err


def test_label_studio_example_end_to_end(capsys, tmp_path, example):
    export = tmp_path / "export.json"
    export.write_text(json.dumps(_label_studio_export(example)))
    out_ls, out_csv = tmp_path / "ls", tmp_path / "csv"
    code, _, err = _run(capsys, "audit", export, "--task", "multilabel", "--classes",
                        _classes(example), "--out", out_ls)
    assert code == 0, err
    assert _run(capsys, *_example_args(example, out_csv))[0] == 0
    ls = pl.read_parquet(out_ls / "issues.parquet")
    table = pl.read_parquet(out_csv / "issues.parquet")
    # The predictions carried by the tasks are the same numbers as pred_probs.npy, and the
    # first completed annotation of each task is its label set.
    assert ls.select("id", "given_labels", "is_issue").equals(
        table.select("id", "given_labels", "is_issue"))
    summary = json.loads((out_ls / "summary.json").read_text())
    assert summary["extras"]["multilabel"]["source"] == "label_studio"
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(_label_studio_export(example, with_predictions=False)))
    code, _, err = _run(capsys, "audit", bare, "--task", "multilabel", "--out", tmp_path / "x")
    assert code == 2 and "has no prediction" in err


def test_shipped_example_is_what_the_script_writes(tmp_path, example, monkeypatch):
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "make_multilabel_example.py"
    module = runpy.run_path(str(script), run_name="make_multilabel_example")
    monkeypatch.setitem(module["main"].__globals__, "OUT", tmp_path)
    module["main"]()
    for name in ("data.csv", "pred_probs.npy", "planted.csv", "classes.txt", "README.txt"):
        assert (tmp_path / name).read_bytes() == (example / name).read_bytes(), name


def test_label_studio_annotators(capsys, tmp_path, example):
    export = tmp_path / "export.json"
    export.write_text(json.dumps(_label_studio_export(example)))
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "audit", export, "--task", "multilabel", "--classes",
                             _classes(example), "--annotator-col", "annotator", "--out", out)
    assert code == 0, err
    assert "Annotators: 2 over 327 label sets" in stdout
    acc = pl.read_parquet(out / "annotator_accuracy.parquet").sort("annotator")
    assert acc.get_column("annotator").to_list() == ["1", "2"]
    assert acc.get_column("n_items").to_list() == [320, 7]
    agreement = pl.read_parquet(out / "class_agreement.parquet")
    assert set(agreement.get_column("n_items")) == {7}
    assert pl.read_parquet(out / "issues.parquet").height == 320
    code, _, err = _run(capsys, "audit", export, "--task", "multilabel", "--annotator-col",
                        "who", "--out", tmp_path / "x")
    assert code == 2 and "column 'annotator'" in err
