"""Label Studio both ways: export-tasks writes import tasks; JSON, JSON_MIN and CSV exports come back."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET

import numpy as np
import polars as pl
import pytest

from labelaudit import io
from labelaudit.cli import run
from labelaudit.exceptions import InputError, LabelAuditWarning

NAMES = np.array(["cat", "dog", "fox"])
USERS = {1: "ana@example.org", 2: "ben@example.org", 3: "cho@example.org"}


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """A 3-class audit with flipped labels and three annotators per item (so a relabel queue)."""
    root = tmp_path_factory.mktemp("ls")
    rng = np.random.default_rng(3)
    n = 300
    true = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), true] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    given = true.copy()
    flip = rng.random(n) < 0.1
    given[flip] = (true[flip] + rng.integers(1, 3, flip.sum())) % 3
    ids = [f"it{i:03d}" for i in range(n)]
    pl.DataFrame({"item": ids, "text": [f"text {i}" for i in range(n)],
                  "label": NAMES[given]}).write_csv(root / "data.csv")
    np.save(root / "probs.npy", probs)
    ann = []
    for i, item in enumerate(ids):
        for user in USERS.values():
            lab = true[i] if rng.random() < 0.85 else rng.integers(0, 3)
            ann.append({"item_id": item, "annotator": user, "label": str(NAMES[lab])})
    pl.DataFrame(ann).write_csv(root / "annotations.csv")
    assert run(["audit", str(root / "data.csv"), "--label-col", "label", "--id-col", "item",
                "--pred-probs", str(root / "probs.npy"), "--annotations",
                str(root / "annotations.csv"), "--out", str(root / "audit"),
                "--n-bootstrap", "10"]) == 0
    truth = dict(zip(ids, NAMES[true].tolist(), strict=True))
    return root, truth


def tasks_default(root, tmp_path):
    assert _export(root, tmp_path / "default.json") == 0
    return json.loads((tmp_path / "default.json").read_text())


def _export(root, out, *extra):
    return run(["export-tasks", str(root / "audit"), "--out", str(out), *map(str, extra)])


# ------------------------------------------------------------- simulated Label Studio exports


def _choice_result(label):
    return [{"id": "r1", "from_name": "label", "to_name": "item", "type": "choices",
             "origin": "manual", "value": {"choices": [label]}}]


def _answers(tasks, truth):
    """Two annotators per task: the true class from users 1 and 2 (user 2 errs on every 5th)."""
    for k, task in enumerate(tasks):
        item = task["data"]["labelaudit_id"]
        wrong = str(NAMES[(list(NAMES).index(truth[item]) + 1) % 3])
        yield k, task, [(1, truth[item]), (2, wrong if k % 5 == 0 else truth[item])]


def ls_json(tasks, truth):
    """The JSON export: tasks with data and annotations; users as objects, ids or usernames."""
    out = []
    for k, task, answers in _answers(tasks, truth):
        annotations = []
        for j, (uid, label) in enumerate(answers):
            completed_by = ({"id": uid, "email": USERS[uid], "first_name": "", "last_name": ""}
                            if (k + j) % 3 == 0 else uid)
            annotations.append({
                "id": 10 * k + j, "completed_by": completed_by,
                "created_username": f" {USERS[uid]}, {uid}" if (k + j) % 3 == 1 else None,
                "result": _choice_result(label), "was_cancelled": False,
                "created_at": "2024-05-01T09:00:00.000000Z", "lead_time": 2.5,
            })
        out.append({"id": 5000 + k, "data": task["data"], "annotations": annotations,
                    "predictions": task.get("predictions", []), "drafts": []})
    return out


def ls_json_min(tasks, truth):
    """The JSON_MIN export: one flat record per annotation; the task id overwrites data 'id'."""
    out = []
    for k, task, answers in _answers(tasks, truth):
        for j, (uid, label) in enumerate(answers):
            record = dict(task["data"])
            record["id"] = 5000 + k
            record["label"] = label
            record["annotator"] = USERS[uid]
            record.update(annotation_id=10 * k + j, created_at="2024-05-01T09:00:00.000000Z",
                          updated_at="2024-05-01T09:00:00.000000Z", lead_time=2.5)
            out.append(record)
    return out


def write_ls_csv(records, path):
    """The CSV export: the JSON_MIN records as columns (sorted, as Label Studio writes them)."""
    fields = sorted({k for r in records for k in r})
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for r in records:
            writer.writerow({k: (json.dumps(v) if isinstance(v, dict | list) else v)
                             for k, v in r.items()})
    return path


# ------------------------------------------------------------------------------------ tests


def test_export_tasks_writes_issues_with_suggestions(audited, tmp_path, capsys):
    root, _ = audited
    out = tmp_path / "tasks.json"
    assert _export(root, out) == 0
    assert "Label Studio task(s)" in capsys.readouterr().out
    tasks = json.loads(out.read_text())
    issues = pl.read_parquet(root / "audit" / "issues.parquet")
    flagged = issues.filter(pl.col("is_issue")).sort("label_quality", maintain_order=True)
    assert len(tasks) == flagged.height > 0
    assert [t["data"]["id"] for t in tasks] == flagged["id"].to_list()
    assert [t["data"]["labelaudit_id"] for t in tasks] == flagged["id"].to_list()
    # the audit's data file (from its summary) supplies the item's data
    assert [t["data"]["text"] for t in tasks] == [f"text {int(i[2:])}" for i in flagged["id"]]
    assert [t["data"]["given_label"] for t in tasks] == flagged["given_label"].to_list()
    preds = [t["predictions"][0] for t in tasks]
    assert [p["result"][0]["value"]["choices"][0] for p in preds] == \
        flagged["suggested_label"].to_list()
    np.testing.assert_allclose([p["score"] for p in preds], 1.0 - flagged["label_quality"])
    assert {p["result"][0]["from_name"] for p in preds} == {"label"}
    assert not any("suggested_label" in t["data"] or "score" in t["data"] for t in tasks)


def test_export_tasks_options_change_the_file(audited, tmp_path):
    root, _ = audited
    issues = pl.read_parquet(root / "audit" / "issues.parquet")
    assert _export(root, tmp_path / "all.json", "--include", "all") == 0
    every = json.loads((tmp_path / "all.json").read_text())
    assert len(every) == issues.height
    assert [t["data"]["id"] for t in every] == \
        issues.sort("label_quality", maintain_order=True)["id"].to_list()
    assert _export(root, tmp_path / "top.json", "--include", "all", "--limit", 7) == 0
    assert json.loads((tmp_path / "top.json").read_text()) == every[:7]
    # the relabel queue: its items with a reason, in its order, the consensus as suggestion
    assert _export(root, tmp_path / "queue.json", "--include", "queue") == 0
    queue = pl.read_parquet(root / "audit" / "relabel_queue.parquet").filter(
        pl.col("reason") != "")
    tasks = json.loads((tmp_path / "queue.json").read_text())
    assert [t["data"]["id"] for t in tasks] == queue["item_id"].to_list()
    assert [t["predictions"][0]["result"][0]["value"]["choices"][0] for t in tasks] == \
        queue["consensus_class"].to_list()
    np.testing.assert_allclose([t["predictions"][0]["score"] for t in tasks],
                               queue["consensus_quality"])
    given = dict(issues.select("id", "given_label").iter_rows())
    assert [t["data"]["given_label"] for t in tasks] == [given[i] for i in queue["item_id"]]
    # --data and --id-col pick the columns the annotators see
    other = tmp_path / "other.csv"
    pl.DataFrame({"key": issues["id"], "caption": [f"c-{i}" for i in issues["id"]]}).write_csv(
        other)
    assert _export(root, tmp_path / "d.json", "--data", other, "--id-col", "key") == 0
    tasks = json.loads((tmp_path / "d.json").read_text())
    assert set(tasks[0]["data"]) == {"id", "caption", "given_label", "labelaudit_id"}
    assert all(t["data"]["caption"] == f"c-{t['data']['id']}" for t in tasks)
    # --label-config writes the labeling interface the tasks need
    cfg = tmp_path / "ls" / "config.xml"
    assert _export(root, tmp_path / "new" / "c.json", "--label-config", cfg) == 0
    assert json.loads((tmp_path / "new" / "c.json").read_text()) == tasks_default(root, tmp_path)
    view = ET.fromstring(cfg.read_text())
    choices = view.find("Choices")
    assert choices.get("name") == "label" and choices.get("toName") == "item"
    assert [c.get("value") for c in choices.findall("Choice")] == ["cat", "dog", "fox"]
    assert view.find("Text").get("name") == "item" and view.find("Text").get("value") == "$text"
    assert not (tmp_path / "config2.xml").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--include", "some"], "--include must be one of issues, queue, all"),
        (["--limit", "0"], "--limit must be at least 1"),
        (["--id-col", "x"], "--id-col applies to --data only"),
    ],
)
def test_export_tasks_usage_errors(audited, tmp_path, capsys, args, message):
    root, _ = audited
    assert _export(root, tmp_path / "t.json", *args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "t.json").exists()


def test_export_tasks_queue_needs_annotations(audited, tmp_path, capsys):
    import shutil

    root, _ = audited
    shutil.copytree(root / "audit", tmp_path / "audit")
    (tmp_path / "audit" / "relabel_queue.parquet").unlink()
    assert run(["export-tasks", str(tmp_path / "audit"), "--out", str(tmp_path / "t.json"),
                "--include", "queue"]) == 2
    assert "no relabel_queue.parquet" in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()


@pytest.mark.parametrize("fmt", ["JSON", "JSON_MIN", "CSV"])
def test_round_trip_through_label_studio(audited, tmp_path, fmt):
    """Tasks out, a simulated Label Studio export back in: items, labels and emails survive."""
    root, truth = audited
    assert _export(root, tmp_path / "tasks.json", "--include", "all", "--limit", 40) == 0
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    path = tmp_path / f"export-{fmt}.{'csv' if fmt == 'CSV' else 'json'}"
    if fmt == "JSON":
        path.write_text(json.dumps(ls_json(tasks, truth)))
    elif fmt == "JSON_MIN":
        path.write_text(json.dumps(ls_json_min(tasks, truth)))
    else:
        write_ls_csv(ls_json_min(tasks, truth), path)
    back = io.read_annotation_table(path)
    expect = [(t["data"]["labelaudit_id"], USERS[uid], label)
              for _, t, answers in _answers(tasks, truth) for uid, label in answers]
    got = list(back.select(pl.col("item_id").cast(pl.String), "annotator", "label").iter_rows())
    assert got == expect
    # the item's own id and data come back too, whatever the format did to 'id'
    assert back["id"].cast(pl.String).to_list() == [e[0] for e in expect]
    assert back["text"].to_list() == [f"text {int(e[0][2:])}" for e in expect]
    assert back.schema["created_at"] == pl.Datetime("us", "UTC")
    # and the export is an annotation table for the annotator review
    out = tmp_path / "review"
    assert run(["annotators", str(path), "--out", str(out)]) == 0
    annotators = pl.read_parquet(out / "annotators.parquet")
    assert sorted(annotators["annotator"].to_list()) == [USERS[1], USERS[2]]
    acc = dict(annotators.select("annotator", "n_labels").iter_rows())
    assert acc == {USERS[1]: 40, USERS[2]: 40}


@pytest.mark.parametrize("fmt", ["JSON_MIN", "CSV"])
def test_review_sample_round_trip_verifies(audited, tmp_path, fmt):
    """The review sample's tasks, reviewed in Label Studio and exported flat, verify as the CSV does."""
    root, truth = audited
    assert run(["sample", str(root / "audit"), "--out", str(tmp_path / "s"), "--size", "60",
                "--seed", "1"]) == 0
    tasks = json.loads((tmp_path / "s" / "review_tasks.json").read_text())
    records = []
    for k, task in enumerate(tasks):
        record = {**task["data"], "id": 9000 + k, "label": truth[task["data"]["labelaudit_id"]],
                  "annotator": USERS[3], "annotation_id": k, "lead_time": 1.0,
                  "created_at": "2024-05-02T10:00:00Z", "updated_at": "2024-05-02T10:00:00Z"}
        records.append(record)
    export = tmp_path / "s" / ("export.csv" if fmt == "CSV" else "export.json")
    if fmt == "CSV":
        write_ls_csv(records, export)
    else:
        export.write_text(json.dumps(records))
    assert run(["verify", str(root / "audit"), str(export), "--out", str(tmp_path / "v")]) == 0
    table = pl.read_csv(tmp_path / "s" / "review_sample.csv")
    table.with_columns(pl.Series("reviewed_label", [truth[i] for i in table["id"]])).write_csv(
        tmp_path / "s" / "same.csv")
    assert run(["verify", str(root / "audit"), str(tmp_path / "s" / "same.csv"), "--out",
                str(tmp_path / "w")]) == 0
    v = json.loads((tmp_path / "v" / "summary.json").read_text())["verified"]
    w = json.loads((tmp_path / "w" / "summary.json").read_text())["verified"]
    assert v["n_reviewed"] == 60 and v["noise_rate"] == w["noise_rate"]


def test_annotator_named_by_email_wherever_the_export_gives_it(tmp_path):
    """A user given once as an object with an email is named by it in every annotation."""
    tasks = [
        {"id": 1, "data": {"t": "a"}, "annotations": [
            {"id": 1, "completed_by": 4, "result": _choice_result("x")},
            {"id": 2, "completed_by": {"id": 5, "username": "eve"}, "result": _choice_result("y")},
        ]},
        {"id": 2, "data": {"t": "b"}, "annotations": [
            {"id": 3, "completed_by": {"id": 4, "email": "dan@example.org"},
             "result": _choice_result("x")},
            {"id": 4, "completed_by": 5, "result": _choice_result("x")},
            {"id": 5, "completed_by": 6, "created_username": "Fay Lee fay@example.org, 6",
             "result": _choice_result("y")},
            {"id": 6, "completed_by": 7, "result": _choice_result("y")},
        ]},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    df = io.read_table(path)
    assert df["annotator"].to_list() == ["dan@example.org", "eve", "dan@example.org", "eve",
                                         "fay@example.org", "7"]


def test_flat_export_of_another_project_keeps_its_control_field(tmp_path):
    """A JSON_MIN export whose choices are called 'sentiment' keeps that column (--label-col)."""
    records = [
        {"id": 1, "text": "good", "sentiment": "Positive", "annotator": "a@x.org",
         "annotation_id": 1, "lead_time": 1.0},
        {"id": 1, "text": "good", "sentiment": {"choices": ["Neutral"]}, "annotator": "b@x.org",
         "annotation_id": 2, "lead_time": 1.0},
    ]
    path = tmp_path / "min.json"
    path.write_text(json.dumps(records))
    df = io.read_table(path)
    assert df.select("item_id", "annotator", "sentiment", "text").rows() == [
        (1, "a@x.org", "Positive", "good"), (1, "b@x.org", "Neutral", "good")]
    records[1]["sentiment"] = {"choices": ["Neutral", "Positive"]}
    path.write_text(json.dumps(records))
    with pytest.raises(InputError, match=r"min.json': task 1 annotation 2 has 2 choices"):
        io.read_table(path)


def test_flat_export_skips_annotations_without_a_choice(tmp_path):
    """JSON_MIN leaves out the field of an empty annotation, CSV leaves the cell empty."""
    records = [
        {"id": 1, "labelaudit_id": "a", "label": "cat", "annotator": "x@y.org",
         "annotation_id": 1, "lead_time": 1.0},
        {"id": 2, "labelaudit_id": "b", "annotator": "x@y.org", "annotation_id": 2,
         "lead_time": 1.0},
    ]
    path = tmp_path / "min.json"
    path.write_text(json.dumps(records))
    with pytest.warns(LabelAuditWarning, match="skipped 1 annotation"):
        df = io.read_table(path)
    assert df.select("item_id", "label").rows() == [("a", "cat")]
    records[1]["label"] = ""
    csv_path = write_ls_csv(records, tmp_path / "export.csv")
    with pytest.warns(LabelAuditWarning, match="skipped 1 annotation"):
        df = io.read_annotation_table(csv_path)
    assert df.select("item_id", "label").rows() == [("a", "cat")]
