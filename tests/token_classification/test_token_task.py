"""``labelaudit audit --task token`` end to end, and its readers."""

from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl
import pytest

from labelaudit.cli import run
from labelaudit.datasets import example_dir
from labelaudit.exceptions import InputError, LabelAuditWarning
from labelaudit.io import read_conll, read_label_studio_spans, read_token_table
from labelaudit.tasks.token import audit_tokens

CLASSES = "B-LOC,B-ORG,B-PER,I-LOC,I-ORG,I-PER,O"


def _run(capsys, *args):
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def example():
    return example_dir("token")


def _example_args(example, out, *extra):
    return ["audit", example / "tokens.conll", "--task", "token", "--pred-probs",
            example / "token_probs.npy", "--classes", CLASSES, "--out", out, *extra]


def test_example_end_to_end(capsys, tmp_path, example):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, *_example_args(example, out, "--csv"))
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "issues.csv", "issues.parquet", "report.html", "sentences.parquet", "summary.json"]
    assert "Tokens:" in stdout and "sentences have a flagged token" in stdout
    summary = json.loads((out / "summary.json").read_text())
    fig = summary["figures"]
    issues = pl.read_parquet(out / "issues.parquet")
    planted = pl.read_csv(example / "planted.csv", schema_overrides={"sentence_id": pl.String})
    assert issues.height == fig["n_tokens"] == 1455
    flagged = issues.filter("is_issue")
    assert flagged.height == fig["n_token_issues"]
    # Sane figures: the interval holds the estimate, the planted rate is near, most flags are
    # planted corruptions and most corruptions are flagged.
    assert fig["token_issue_rate_ci_low"] <= fig["token_issue_rate"] <= fig[
        "token_issue_rate_ci_high"]
    assert fig["sentence_issue_rate_ci_low"] <= fig["sentence_issue_rate"] <= fig[
        "sentence_issue_rate_ci_high"]
    assert abs(fig["token_issue_rate"] - planted.height / issues.height) < 0.03
    hits = planted.join(flagged, on=["sentence_id", "position"]).height
    assert hits / flagged.height > 0.9 and hits / planted.height > 0.7
    assert flagged.get_column("issue_rank").to_list() == list(range(1, flagged.height + 1))
    assert summary["extras"]["token"]["n_sentence_issues"] == fig["n_sentence_issues"]
    per_class = {r["class"]: r for r in summary["extras"]["token"]["per_class"]}
    assert sum(r["count"] for r in per_class.values()) == 1455
    html = (out / "report.html").read_text()
    assert 'id="token"' in html and html.count('class="tok tok-issue"') >= 10


def test_same_result_from_a_long_table_and_any_thread_count(capsys, tmp_path, example):
    table = read_conll(example / "tokens.conll")
    csv = tmp_path / "tokens.csv"
    table.rename({"sentence_id": "sent", "token": "word", "label": "tag"}).write_csv(csv)
    a, b = tmp_path / "a", tmp_path / "b"
    code, _, err = _run(capsys, *_example_args(example, a, "--n-jobs", "1"))
    assert code == 0, err
    code, _, err = _run(capsys, "audit", csv, "--task", "token", "--pred-probs",
                        example / "token_probs.npy", "--classes", CLASSES, "--out", b,
                        "--token-sentence-col", "sent", "--token-text-col", "word",
                        "--label-col", "tag", "--n-jobs", "2")
    assert code == 0, err
    assert pl.read_parquet(a / "issues.parquet").equals(pl.read_parquet(b / "issues.parquet"))
    fa = json.loads((a / "summary.json").read_text())["figures"]
    fb = json.loads((b / "summary.json").read_text())["figures"]
    assert fa["token_issue_rate_ci_high"] == fb["token_issue_rate_ci_high"]


def test_gate_on_sentence_rate(capsys, tmp_path, example):
    policy = tmp_path / "gate.toml"
    policy.write_text("[gate]\nmax_sentence_issue_rate = 0.2\n")
    code, stdout, _ = _run(capsys, *_example_args(example, tmp_path / "o1", "--policy", policy))
    assert code == 1 and "max_sentence_issue_rate" in stdout
    policy.write_text("[gate]\nmax_sentence_issue_rate_ci_high = 0.9\nmax_noise_rate = 0.5\n")
    code, _, err = _run(capsys, *_example_args(example, tmp_path / "o2", "--policy", policy))
    assert code == 0, err


@pytest.mark.parametrize(("change", "message"), [
    (lambda ex, t: ["--pred-probs", ex / "token_probs.npy"], "exactly one file"),
    (lambda ex, t: ["--classes", "B-LOC,O"], "not one of"),
    (lambda ex, t: ["--token-text-col", "word"], "applies to a long table"),
    (lambda ex, t: ["--label-col", "tag"],
     "--label-col applies to a long table DATA (CSV, TSV, Parquet, JSONL), not to"),
    (lambda ex, t: ["--id-col", "no_such_column"], "--id-col does not apply to --task token"),
])
def test_bad_input_exits_2_and_writes_nothing(capsys, tmp_path, example, change, message):
    out = tmp_path / "out"
    args = _example_args(example, out, *change(example, tmp_path))
    code, _, err = _run(capsys, *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_probability_rows_must_match_tokens(capsys, tmp_path, example):
    probs = np.load(example / "token_probs.npy")[:-1]
    np.save(tmp_path / "short.npy", probs)
    code, _, err = _run(capsys, "audit", example / "tokens.conll", "--task", "token",
                        "--pred-probs", tmp_path / "short.npy", "--classes", CLASSES,
                        "--out", tmp_path / "out")
    assert code == 2 and "1454 rows for 1455 tokens" in err


def _bad_probs(example, tmp_path, edit):
    probs = np.load(example / "token_probs.npy")
    edit(probs)
    np.save(tmp_path / "bad.npy", probs)
    return tmp_path / "bad.npy"


def _set_row(row, values):
    def edit(probs):
        probs[row] = values
    return edit


# Row 3 of the example is sentence '1', token 3 ('for'); columns follow CLASSES.
_ROW3 = "row 3 (sentence '1', token 3 'for')"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda p: p.__setitem__(3, p[3] * 0.9),
     f"{_ROW3}: its 7 class probabilities sum to 0.9, not 1 (tolerance 0.001); every token's "
     "class probabilities must sum to 1; pass --renormalize to divide each row by its sum"),
    (_set_row(3, [-0.5, 0.5, 1.0, 0, 0, 0, 0]),
     f"{_ROW3}, class 'B-LOC' (index 0) is -0.5, outside [0, 1]"),
    (_set_row(3, [0, 0, np.nan, 0, 0, 0, 1]),
     f"{_ROW3}, class 'B-PER' (index 2) is nan, not a finite probability"),
])
def test_bad_token_probabilities_exit_2_naming_file_sentence_token_class(
        capsys, tmp_path, example, edit, message):
    bad = _bad_probs(example, tmp_path, edit)
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "audit", example / "tokens.conll", "--task", "token",
                             "--pred-probs", bad, "--classes", CLASSES, "--out", out)
    assert code == 2, stdout
    assert err.strip() == f"labelaudit: error: probabilities file '{bad}': {message}"
    assert not out.exists()


def test_renormalize_divides_token_rows_by_their_sums(capsys, tmp_path, example):
    probs = np.load(example / "token_probs.npy")
    rounded = np.round(probs, 2)                     # saved with two decimals
    assert np.abs(rounded.sum(axis=1) - 1).max() > 1e-3
    np.save(tmp_path / "rounded.npy", rounded)
    np.save(tmp_path / "divided.npy", rounded / rounded.sum(axis=1, keepdims=True))
    args = ["audit", example / "tokens.conll", "--task", "token", "--classes", CLASSES]
    code, _, err = _run(capsys, *args, "--pred-probs", tmp_path / "rounded.npy",
                        "--out", tmp_path / "a", "--renormalize")
    assert code == 0 and err == ""                   # no warning: the rows now sum to 1
    code, _, err = _run(capsys, *args, "--pred-probs", tmp_path / "divided.npy",
                        "--out", tmp_path / "b")
    assert code == 0, err
    assert pl.read_parquet(tmp_path / "a" / "issues.parquet").equals(
        pl.read_parquet(tmp_path / "b" / "issues.parquet"))
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["parameters"][
        "renormalize"] is True


@pytest.mark.parametrize(("edit", "message"), [
    (_set_row(3, [0.0] * 7), f"{_ROW3}: its 7 class probabilities sum to 0; a vector can only "
                             "be divided by a positive sum"),
    (_set_row(3, [-0.5, 0.5, 1.0, 0, 0, 0, 0]), f"{_ROW3}, class 'B-LOC' (index 0) is -0.5"),
])
def test_renormalize_still_refuses_what_cannot_be_divided(capsys, tmp_path, example, edit,
                                                          message):
    bad = _bad_probs(example, tmp_path, edit)
    code, _, err = _run(capsys, "audit", example / "tokens.conll", "--task", "token",
                        "--pred-probs", bad, "--classes", CLASSES, "--out", tmp_path / "out",
                        "--renormalize")
    assert code == 2 and f"probabilities file '{bad}': {message}" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_id_col_is_refused_for_a_long_table_too(capsys, tmp_path, example):
    csv = tmp_path / "tokens.csv"
    read_conll(example / "tokens.conll").write_csv(csv)
    code, _, err = _run(capsys, "audit", csv, "--task", "token", "--pred-probs",
                        example / "token_probs.npy", "--classes", CLASSES, "--id-col",
                        "sentence_id", "--out", tmp_path / "out")
    assert code == 2 and "--id-col does not apply to --task token" in err
    assert not (tmp_path / "out").exists()


def test_audit_tokens_warns_once_about_rows_not_summing_to_1():
    table = pl.DataFrame({"sentence_id": ["1", "1", "2", "2"], "position": [0, 1, 0, 1],
                          "token": ["John", "ran", "in", "Rome"],
                          "label": ["B-PER", "O", "B-LOC", "B-LOC"]})
    probs = np.array([[0.1, 0.8, 0.1], [0.05, 0.05, 0.9], [0.05, 0.05, 0.8],
                      [0.9, 0.05, 0.05]])
    with pytest.warns(LabelAuditWarning) as caught:
        audit_tokens(table, probs, ["B-LOC", "B-PER", "O"], n_bootstrap=50)
    sums = [w for w in caught if "rows should sum to 1" in str(w.message)]
    assert len(sums) == 1 and "row 2 sums to 0.9" in str(sums[0].message)


# --------------------------------------------------------------------------- readers


def test_conll_reader(tmp_path):
    path = tmp_path / "a.conll"
    path.write_text("-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\n"
                    "Peter NNP B-NP B-PER\n")
    table = read_conll(path)
    assert table.rows() == [("1", 0, "EU", "B-ORG"), ("1", 1, "rejects", "O"),
                            ("2", 0, "Peter", "B-PER")]
    path.write_text("EU B-ORG\nrejects\n")
    with pytest.raises(InputError, match="line 2: 'rejects' has no tag"):
        read_conll(path)


def test_long_table_reader_refuses_scattered_sentences(tmp_path):
    path = tmp_path / "t.csv"
    pl.DataFrame({"sentence_id": ["a", "a", "b", "a"], "token": list("wxyz"),
                  "label": ["O"] * 4}).write_csv(path)
    with pytest.raises(InputError, match="sentence 'a' are not consecutive .* row 3"):
        read_token_table(path)
    pl.DataFrame({"sentence_id": ["a", "a", "b"], "token": list("wxy"),
                  "label": ["O"] * 3}).write_csv(path)
    assert read_token_table(path).get_column("position").to_list() == [0, 1, 0]


def test_label_studio_spans(tmp_path):
    path = tmp_path / "export.json"
    tasks = [
        {"id": 7, "data": {"text": "Ada Lovelace visited New York."},
         "annotations": [{"was_cancelled": True, "result": []},
                         {"result": [
                             {"type": "labels", "value": {"start": 0, "end": 12,
                                                          "labels": ["PER"]}},
                             {"type": "labels", "value": {"start": 21, "end": 29,
                                                          "labels": ["LOC"]}}]}]},
        {"id": 8, "data": {"text": "Nothing here"}, "annotations": []},
    ]
    path.write_text(json.dumps(tasks))
    with pytest.warns(UserWarning, match="skipped 1 task"):
        table = read_label_studio_spans(path)
    assert table.rows() == [("7", 0, "Ada", "B-PER"), ("7", 1, "Lovelace", "I-PER"),
                            ("7", 2, "visited", "O"), ("7", 3, "New", "B-LOC"),
                            ("7", 4, "York", "I-LOC"), ("7", 5, ".", "O")]
    minimal = [{"id": 3, "text": "Oslo is cold", "annotator": 1,
                "label": [{"start": 0, "end": 4, "text": "Oslo", "labels": ["LOC"]}]}]
    path.write_text(json.dumps(minimal))
    assert read_label_studio_spans(path).get_column("label").to_list() == ["B-LOC", "O", "O"]
    path.write_text(json.dumps([{"id": 1, "data": {"text": "x"}, "annotations": [
        {"result": [{"value": {"start": 3, "end": 1, "labels": ["LOC"]}}]}]}]))
    with pytest.raises(InputError, match="start <= end"):
        read_label_studio_spans(path)


def test_label_studio_export_audits_end_to_end(capsys, tmp_path):
    texts = ["Ada Lovelace visited New York .", "Grace Hopper met Alan Turing in Paris ."]
    spans = [[(0, 12, "PER"), (21, 29, "LOC")], [(0, 12, "PER"), (17, 28, "PER"),
                                                 (32, 37, "LOC")]]
    tasks = [{"id": i, "data": {"text": t}, "annotations": [{"result": [
        {"value": {"start": a, "end": b, "labels": [lab]}} for a, b, lab in s]}]}
        for i, (t, s) in enumerate(zip(texts, spans, strict=True))]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    table = read_label_studio_spans(path)
    classes = ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]
    codes = [classes.index(x) for x in table.get_column("label")]
    probs = np.full((table.height, 5), 0.02)
    probs[np.arange(table.height), codes] = 0.92
    probs[2] = [0.02, 0.92, 0.02, 0.02, 0.02]  # 'visited' looks like a person to the model
    np.save(tmp_path / "p.npy", probs)
    code, _, err = _run(capsys, "audit", path, "--task", "token", "--pred-probs",
                        tmp_path / "p.npy", "--classes", ",".join(classes), "--out",
                        tmp_path / "out")
    assert code == 0, err
    flagged = pl.read_parquet(tmp_path / "out" / "issues.parquet").filter("is_issue")
    assert flagged.select("token", "given_label", "suggested_label").rows() == [
        ("visited", "O", "B-PER")]


def test_audit_tokens_is_deterministic_by_seed(example):
    table = read_conll(example / "tokens.conll")
    probs = np.load(example / "token_probs.npy")
    classes = CLASSES.split(",")
    a = audit_tokens(table, probs, classes, n_bootstrap=200, seed=1)
    b = audit_tokens(table, probs, classes, n_bootstrap=200, seed=1, n_jobs=1)
    c = audit_tokens(table, probs, classes, n_bootstrap=200, seed=2)
    assert (a.token_ci_low, a.token_ci_high) == (b.token_ci_low, b.token_ci_high)
    assert (a.token_ci_low, a.token_ci_high) != (c.token_ci_low, c.token_ci_high)
    assert a.tokens.equals(c.tokens)


def test_example_folder_is_small_and_documented(example, tmp_path):
    assert sum(p.stat().st_size for p in example.iterdir()) < 300_000
    readme = (example / "README.txt").read_text()
    assert "labelaudit audit tokens.conll --task token" in readme
    shutil.copytree(example, tmp_path / "copy")
