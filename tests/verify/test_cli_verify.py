"""The review commands: labelaudit sample, verify and plan (exit codes, files, no priming)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import polars as pl
import pytest
from scipy.stats import hypergeom

from labelaudit.cli import run

NAMES = np.array(["cat", "dog", "fox"])


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """A 3-class dataset with 8% flipped labels, its probabilities, truth and audit."""
    root = tmp_path_factory.mktemp("review")
    rng = np.random.default_rng(0)
    n = 2000
    true = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), true] += 2.5
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    given = true.copy()
    flip = rng.random(n) < 0.08
    given[flip] = (true[flip] + rng.integers(1, 3, flip.sum())) % 3
    ids = [f"it{i}" for i in range(n)]
    pl.DataFrame({"item": ids, "text": [f"text {i}" for i in range(n)],
                  "label": NAMES[given]}).write_csv(root / "data.csv")
    np.save(root / "probs.npy", probs)
    assert run(["audit", str(root / "data.csv"), "--label-col", "label", "--id-col", "item",
                "--pred-probs", str(root / "probs.npy"), "--out", str(root / "audit"),
                "--n-bootstrap", "10"]) == 0
    truth = dict(zip(ids, NAMES[true].tolist(), strict=True))
    return root, truth


def _sample(root, out, *extra):
    return run(["sample", str(root / "audit"), "--out", str(out), *map(str, extra)])


def _answer(sample_dir, truth, path, *, blank=0, transform=None):
    table = pl.read_csv(sample_dir / "review_sample.csv")
    labels = [truth[i] for i in table.get_column("id")]
    if transform is not None:
        labels = transform(table, labels)
    labels = [None] * blank + labels[blank:]
    table.with_columns(pl.Series("reviewed_label", labels, dtype=pl.String)).write_csv(path)
    return path


def test_sample_writes_unprimed_files_deterministically(audited, tmp_path, capsys):
    root, _ = audited
    assert _sample(root, tmp_path / "a", "--size", 120, "--seed", 4) == 0
    assert _sample(root, tmp_path / "b", "--size", 120, "--seed", 4) == 0
    assert _sample(root, tmp_path / "c", "--size", 120, "--seed", 5) == 0
    for name in ("review_sample.csv", "review_tasks.json", "sample_design.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "review_sample.csv").read_bytes() != (
        tmp_path / "c" / "review_sample.csv").read_bytes()
    table = pl.read_csv(tmp_path / "a" / "review_sample.csv")
    # the audit's data file is found from its summary: the reviewer sees the text
    assert table.columns == ["id", "text", "given_label", "reviewed_label"]
    assert table.height == 120 and table.get_column("reviewed_label").null_count() == 120
    assert pl.read_parquet(tmp_path / "a" / "review_sample.parquet").columns == table.columns
    tasks = json.loads((tmp_path / "a" / "review_tasks.json").read_text())
    assert len(tasks) == 120
    assert set(tasks[0]["data"]) == {"id", "text", "given_label", "labelaudit_id"}
    design = pl.read_parquet(tmp_path / "a" / "sample_design.parquet")
    assert {"stratum", "inclusion_probability", "label_quality", "suggested_label",
            "stratum_size"} <= set(design.columns)
    assert design.get_column("id").to_list() == table.get_column("id").to_list()
    strata = pl.read_parquet(tmp_path / "a" / "sample_strata.parquet")
    assert strata.unique("stratum").get_column("n_items").sum() == 2000


def test_sample_options(audited, tmp_path):
    root, _ = audited
    assert _sample(root, tmp_path / "s", "--size", 60, "--show-suggestion") == 0
    cols = pl.read_csv(tmp_path / "s" / "review_sample.csv").columns
    assert cols == ["id", "text", "given_label", "suggested_label", "reviewed_label"]
    assert _sample(root, tmp_path / "h", "--half-width", 0.03) == 0
    info = json.loads((tmp_path / "h" / "sample_design.json").read_text())
    assert info["parameters"]["sized_by"] == "half_width"
    assert info["parameters"]["anticipated_half_width"] <= 0.03
    other = tmp_path / "other.csv"
    pl.DataFrame({"key": [f"it{i}" for i in range(2000)], "path": ["img.png"] * 2000}).write_csv(
        other)
    assert _sample(root, tmp_path / "d", "--size", 30, "--data", other, "--id-col", "key") == 0
    assert pl.read_csv(tmp_path / "d" / "review_sample.csv").columns == [
        "id", "path", "given_label", "reviewed_label"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", 1], "size: must be between"),
        (["--size", 10, "--half-width", 0.1], "exactly one of"),
        (["--size", 10, "--id-col", "x"], "--id-col applies to --data"),
    ],
)
def test_sample_bad_input_exits_2_and_writes_nothing(audited, tmp_path, capsys, args, message):
    root, _ = audited
    out = tmp_path / "never"
    assert _sample(root, out, *args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert run(["sample", str(tmp_path / "missing"), "--out", str(out), "--size", "5"]) == 2
    assert not out.exists()


def test_sample_data_with_other_ids_exits_2(audited, tmp_path, capsys):
    # a data file whose ids do not match the audit's would leave the reviewers blank rows
    root, _ = audited
    data = pl.read_csv(root / "data.csv")
    data.with_columns(pl.Series("item", [f"x{i}" for i in range(data.height)])).write_csv(
        tmp_path / "other.csv")
    data.head(1000).write_csv(tmp_path / "half.csv")
    for name in ("other.csv", "half.csv"):
        out = tmp_path / f"never-{name}"
        assert _sample(root, out, "--size", 100, "--data", tmp_path / name,
                       "--id-col", "item") == 2
        err = capsys.readouterr().err
        assert "sampled ids are not in its 'id' column" in err and err.count("\n") == 1
        assert not out.exists()
    assert _sample(root, tmp_path / "ok", "--size", 100, "--data", root / "data.csv",
                   "--id-col", "item") == 0


def test_verify_full_review(audited, tmp_path, capsys):
    root, truth = audited
    assert _sample(root, tmp_path / "s", "--size", 200, "--seed", 1) == 0
    reviews = _answer(tmp_path / "s", truth, tmp_path / "s" / "reviewed.csv")
    capsys.readouterr()
    assert run(["verify", str(root / "audit"), str(reviews), "--out", str(tmp_path / "v")]) == 0
    assert "Verified by review" in capsys.readouterr().out
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    v = summary["verified"]
    assert v["noise_rate_source"] == "review" and v["n_reviewed"] == 200 and not v["partial"]
    assert v["ci_low"] <= v["noise_rate"] <= v["ci_high"]
    data = pl.read_csv(root / "data.csv")
    true_rate = np.mean([truth[i] != g for i, g in zip(data["item"], data["label"],
                                                       strict=True)])
    assert v["ci_low"] <= true_rate <= v["ci_high"]
    assert {r["class"] for r in v["per_class"]} == {"cat", "dog", "fox"}
    assert v["detector"]["precision"]["estimate"] is not None
    assert any(i["role"] == "reviews" for i in summary["inputs"])
    # the same answers as is_correct give the same verified figures
    table = pl.read_csv(reviews)
    correct = table.select("id", (pl.col("reviewed_label") == pl.col("given_label"))
                           .alias("is_correct"))
    correct.write_parquet(tmp_path / "s" / "correct.parquet")
    assert run(["verify", str(root / "audit"), str(tmp_path / "s" / "correct.parquet"),
                "--out", str(tmp_path / "v2")]) == 0
    v2 = json.loads((tmp_path / "v2" / "summary.json").read_text())["verified"]
    assert (v2["noise_rate"], v2["ci_low"], v2["ci_high"]) == (
        v["noise_rate"], v["ci_low"], v["ci_high"])


def test_verify_partial_review(audited, tmp_path, capsys):
    root, truth = audited
    assert _sample(root, tmp_path / "s", "--size", 100) == 0
    reviews = _answer(tmp_path / "s", truth, tmp_path / "s" / "half.csv", blank=30)
    out = tmp_path / "v"
    capsys.readouterr()
    assert run(["verify", str(root / "audit"), str(reviews), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "30 of 100 sampled items are not reviewed" in err and not out.exists()
    assert run(["verify", str(root / "audit"), str(reviews), "--out", str(out),
                "--allow-partial"]) == 0
    assert "Partial review: 30 sampled items not reviewed" in capsys.readouterr().out
    v = json.loads((out / "summary.json").read_text())["verified"]
    assert v["partial"] and v["n_reviewed"] == 70 and v["n_unreviewed"] == 30


@pytest.mark.parametrize("problem", ["class", "id"])
def test_verify_bad_reviews_exit_2(audited, tmp_path, capsys, problem):
    root, truth = audited
    assert _sample(root, tmp_path / "s", "--size", 50) == 0

    def spoil(table, labels):
        labels[3] = "zebra"
        return labels

    if problem == "class":
        reviews = _answer(tmp_path / "s", truth, tmp_path / "s" / "r.csv", transform=spoil)
        message = "reviewed_label 'zebra' at row 3"
    else:
        reviews = _answer(tmp_path / "s", truth, tmp_path / "s" / "r.csv")
        table = pl.read_csv(reviews)
        table = table.with_columns(
            pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("nope")).otherwise(pl.col("id"))
            .alias("id"))
        table.write_csv(reviews)
        message = "id 'nope' at row 5 is not in the audit"
    out = tmp_path / "v"
    capsys.readouterr()
    assert run(["verify", str(root / "audit"), str(reviews), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not out.exists()


def test_verify_label_studio_export(audited, tmp_path):
    root, truth = audited
    assert _sample(root, tmp_path / "s", "--size", 80, "--seed", 2) == 0
    tasks = json.loads((tmp_path / "s" / "review_tasks.json").read_text())
    export = []
    for k, task in enumerate(tasks):
        label = truth[task["data"]["id"]]
        export.append({
            "id": 1000 + k, "data": task["data"],
            "annotations": [{"id": k, "completed_by": 7, "was_cancelled": False,
                             "result": [{"type": "choices", "value": {"choices": [label]}}]}],
        })
    (tmp_path / "s" / "export.json").write_text(json.dumps(export))
    assert run(["verify", str(root / "audit"), str(tmp_path / "s" / "export.json"),
                "--out", str(tmp_path / "v")]) == 0
    v = json.loads((tmp_path / "v" / "summary.json").read_text())["verified"]
    reviews = _answer(tmp_path / "s", truth, tmp_path / "s" / "same.csv")
    assert run(["verify", str(root / "audit"), str(reviews), "--out", str(tmp_path / "w")]) == 0
    w = json.loads((tmp_path / "w" / "summary.json").read_text())["verified"]
    assert v["n_reviewed"] == 80 and v["noise_rate"] == w["noise_rate"]
    # an export where a task was skipped is an unreviewed item
    export[0]["annotations"] = []
    (tmp_path / "s" / "skip.json").write_text(json.dumps(export))
    assert run(["verify", str(root / "audit"), str(tmp_path / "s" / "skip.json"),
                "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_plan_prints_exact_risks(capsys):
    assert run(["plan", "--lot-size", "50000", "--aql", "0.02", "--lq", "0.05"]) == 0
    out = capsys.readouterr().out
    n = int(out.split("review n = ")[1].split()[0])
    c = int(out.split("at most c = ")[1].split()[0])
    alpha = float(out.split("Producer's risk ")[1].split()[0])
    beta = float(out.split("consumer's risk ")[1].split()[0])
    assert alpha == pytest.approx(hypergeom(50000, 1000, n).sf(c), abs=1e-4)
    assert beta == pytest.approx(hypergeom(50000, 2500, n).cdf(c), abs=1e-4)
    assert "Operating characteristic" in out and "P(accept), single" in out
    assert run(["plan", "--lot-size", "1000", "--aql", "0.05", "--lq", "0.02"]) == 2
    assert "must be below lq" in capsys.readouterr().err


@pytest.mark.parametrize("kind, lq", [("stratified", 0.06), ("single", 0.15)])
def test_acceptance_accept_and_reject(audited, tmp_path, capsys, kind, lq):
    root, truth = audited
    policy = tmp_path / "gate.toml"
    policy.write_text(f'[gate.acceptance]\naql = 0.02\nlq = {lq}\nplan = "{kind}"\n')
    assert _sample(root, tmp_path / "s", "--policy", policy) == 0
    info = json.loads((tmp_path / "s" / "sample_design.json").read_text())
    assert info["acceptance_plan"]["kind"] == kind and info["parameters"]["sized_by"] == "plan"
    assert info["size"] == info["acceptance_plan"]["n"]
    # every given label confirmed: ACCEPT
    ok = _answer(tmp_path / "s", truth, tmp_path / "s" / "ok.csv",
                 transform=lambda t, labels: t.get_column("given_label").to_list())
    junit = tmp_path / "acc.xml"
    assert run(["verify", str(root / "audit"), str(ok), "--out", str(tmp_path / "v"),
                "--policy", str(policy), "--junit", str(junit)]) == 0
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert summary["verified"]["acceptance"]["decision"] == "ACCEPT"
    assert summary["gate"]["passed"] is True
    assert ET.parse(junit).getroot().get("failures") == "0"
    # every reviewed label different from the given one: REJECT, exit 1
    def all_wrong(t, labels):
        return [NAMES[(list(NAMES).index(g) + 1) % 3] for g in t.get_column("given_label")]

    bad = _answer(tmp_path / "s", truth, tmp_path / "s" / "bad.csv", transform=all_wrong)
    capsys.readouterr()
    assert run(["verify", str(root / "audit"), str(bad), "--out", str(tmp_path / "w"),
                "--policy", str(policy), "--junit", str(junit)]) == 1
    assert "acceptance: REJECT" in capsys.readouterr().out
    root_el = ET.parse(junit).getroot()
    assert root_el.get("failures") == "1"
    assert root_el.find(".//failure").get("message").startswith("acceptance: REJECT")
    # a sample not drawn with the plan cannot be judged by it
    assert _sample(root, tmp_path / "t", "--size", 50) == 0
    other = _answer(tmp_path / "t", truth, tmp_path / "t" / "r.csv")
    capsys.readouterr()
    assert run(["verify", str(root / "audit"), str(other), "--out", str(tmp_path / "x"),
                "--policy", str(policy)]) == 2
    assert "the same policy ('labelaudit sample --policy')" in capsys.readouterr().err
    # the demo's shipped review (150 items) is not the plan's sample either: said so plainly
    demo = tmp_path / "demo.toml"
    demo.write_text('[gate.acceptance]\naql = 0.02\nlq = 0.06\nplan = "stratified"\n')
    big = _sample(root, tmp_path / "big", "--size", 150)
    assert big == 0
    many = _answer(tmp_path / "big", truth, tmp_path / "big" / "r.csv")
    assert run(["verify", str(root / "audit"), str(many), "--out", str(tmp_path / "y"),
                "--policy", str(demo)]) == 2
    assert "this sample was not drawn by the stratified plan" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
    assert not (tmp_path / "x").exists()


def test_a_fragile_stratified_plan_gives_way_to_the_single_plan(audited, tmp_path, capsys):
    # AQL 2%, LQ 15% on this lot: the stratified plan would review 2 items per stratum,
    # and its consumer's risk under the raw spread would be far above the 10% asked for.
    root, _ = audited
    policy = tmp_path / "gate.toml"
    policy.write_text('[gate.acceptance]\naql = 0.02\nlq = 0.15\nplan = "stratified"\n')
    assert _sample(root, tmp_path / "s", "--policy", policy) == 0
    out = capsys.readouterr().out
    assert "Single sampling plan instead of the model-assisted one" in out
    plan = json.loads((tmp_path / "s" / "sample_design.json").read_text())["acceptance_plan"]
    assert plan["kind"] == "single" and "consumer's risk would be" in plan["note"]
    assert run(["plan", "--lot-size", "2000", "--aql", "0.02", "--lq", "0.15",
                "--audit", str(root / "audit")]) == 0
    assert "cannot be relied on for this audit" in capsys.readouterr().out


def test_verify_junit_needs_policy(audited, tmp_path, capsys):
    root, truth = audited
    assert _sample(root, tmp_path / "s", "--size", 30) == 0
    reviews = _answer(tmp_path / "s", truth, tmp_path / "s" / "r.csv")
    assert run(["verify", str(root / "audit"), str(reviews), "--out", str(tmp_path / "v"),
                "--junit", str(tmp_path / "j.xml")]) == 2
    assert "--junit needs an acceptance plan" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


def test_plan_with_audit_adds_the_stratified_plan(audited, capsys):
    root, _ = audited
    assert run(["plan", "--lot-size", "2000", "--aql", "0.02", "--lq", "0.10",
                "--audit", str(root / "audit")]) == 0
    out = capsys.readouterr().out
    single_n = int(out.split("review n = ")[1].split()[0])
    strat_n = int(out.split("review n = ")[2].split()[0])
    assert strat_n < single_n and "P(accept), stratified" in out
    assert "If the wrong labels are spread as thinly as the raw scores suggest" in out
    assert run(["plan", "--lot-size", "999", "--aql", "0.02", "--lq", "0.10",
                "--audit", str(root / "audit")]) == 2
    failed = capsys.readouterr()
    assert "differs from the 2000 items" in failed.err
    assert failed.out == ""  # nothing printed before the refusal


def test_review_file_round_trips_formula_like_ids_and_labels(tmp_path):
    # review_sample.csv guards cells a spreadsheet would run as formulas ('@ann, '-1);
    # verify must read them back as the ids and labels they are.
    rng = np.random.default_rng(3)
    n = 300
    true = rng.integers(0, 2, n)
    given = np.where(rng.random(n) < 0.1, 1 - true, true)
    logits = rng.normal(size=(n, 2))
    logits[np.arange(n), true] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    names = np.array(["-1", "+1"])
    ids = [f"@user{i}" for i in range(n)]
    pl.DataFrame({"id": ids, "label": names[given]}).write_csv(tmp_path / "data.csv")
    np.save(tmp_path / "probs.npy", probs)
    assert run(["audit", str(tmp_path / "data.csv"), "--label-col", "label", "--id-col", "id",
                "--pred-probs", str(tmp_path / "probs.npy"), "--classes=-1,+1",
                "--out", str(tmp_path / "audit"), "--n-bootstrap", "10"]) == 0
    assert run(["sample", str(tmp_path / "audit"), "--size", "40",
                "--out", str(tmp_path / "s")]) == 0
    text = (tmp_path / "s" / "review_sample.csv").read_text()
    assert "'@user" in text and ("'+1" in text or "'-1" in text)  # the guard is there
    truth = dict(zip(ids, names[true].tolist(), strict=True))
    table = pl.read_csv(tmp_path / "s" / "review_sample.csv", infer_schema_length=0)
    raw_ids = [i[1:] for i in table.get_column("id")]  # what the reviewer means
    table = table.with_columns(pl.Series("reviewed_label", [
        "'" + truth[i] for i in raw_ids]))  # answered in the file's own style
    table.write_csv(tmp_path / "s" / "reviewed.csv")
    assert run(["verify", str(tmp_path / "audit"), str(tmp_path / "s" / "reviewed.csv"),
                "--out", str(tmp_path / "v")]) == 0
    verified = json.loads((tmp_path / "v" / "summary.json").read_text())["verified"]
    wrong = sum(truth[i] != g for i, g in zip(raw_ids, [
        s[1:] for s in table.get_column("given_label")], strict=True))
    assert verified["n_reviewed"] == 40 and verified["n_wrong_reviewed"] == wrong


def test_a_sample_without_flag_counts_still_verifies(audited, tmp_path):
    # Samples drawn before the strata recorded n_issues: pure strata get it from their
    # flag; the detector figures are the same as with the recorded counts.
    root, truth = audited
    assert _sample(root, tmp_path / "s", "--size", 150) == 0
    reviews = _answer(tmp_path / "s", truth, tmp_path / "s" / "r.csv")
    assert run(["verify", str(root / "audit"), str(reviews), "--out", str(tmp_path / "v1")]) == 0
    strata = pl.read_parquet(tmp_path / "s" / "sample_strata.parquet")
    strata.drop("n_issues").write_parquet(tmp_path / "s" / "sample_strata.parquet")
    assert run(["verify", str(root / "audit"), str(reviews), "--out", str(tmp_path / "v2")]) == 0
    one, two = (json.loads((tmp_path / d / "summary.json").read_text())["verified"]
                for d in ("v1", "v2"))
    assert one["detector"] == two["detector"] and one["detector"]["precision"]["estimate"]


def test_verify_refuses_a_sample_of_another_audit(audited, tmp_path, capsys):
    root, truth = audited
    assert _sample(root, tmp_path / "s", "--size", 100) == 0
    reviews = _answer(tmp_path / "s", truth, tmp_path / "s" / "r.csv")
    # the same data audited again with other probabilities: other flags and qualities
    probs = np.load(root / "probs.npy")
    other = np.random.default_rng(9).dirichlet(np.ones(3), probs.shape[0])
    np.save(tmp_path / "other.npy", 0.5 * probs + 0.5 * other)
    assert run(["audit", str(root / "data.csv"), "--label-col", "label", "--id-col", "item",
                "--pred-probs", str(tmp_path / "other.npy"), "--out", str(tmp_path / "audit2"),
                "--n-bootstrap", "10"]) == 0
    capsys.readouterr()
    out = tmp_path / "v"
    assert run(["verify", str(tmp_path / "audit2"), str(reviews), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "drawn from another audit" in err and err.count("\n") == 1
    assert not out.exists()
    assert run(["verify", str(root / "audit"), str(reviews), "--out", str(out)]) == 0
