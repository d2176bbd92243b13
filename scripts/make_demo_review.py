"""Generate the reviewed sample shipped with the demo (``src/labelaudit/data/demo_review/``).

The demo audit is run without a review; ``labelaudit sample`` then draws 150
items (seed 0) stratified by the audit's scores, exactly as a QA team would,
and the reviewers' answers are taken from the demo's true labels (the digits'
real classes). ``labelaudit demo`` reads the result back with ``--reviews``,
so its report opens with the "Verified by review" section.

Regenerate from the repository root whenever the demo audit changes (a test
checks that a fresh draw still equals the shipped design)::

    PYTHONPATH=src python scripts/make_demo_review.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import polars as pl

from labelaudit.cli import run
from labelaudit.datasets import load_demo

SIZE = 150
SEED = 0
KEEP = ("sample_design.parquet", "sample_strata.parquet", "sample_design.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "src/labelaudit/data/demo_review")
    args = parser.parse_args(argv)
    demo = load_demo()
    with tempfile.TemporaryDirectory() as tmp:
        audit_dir, sample_dir = Path(tmp) / "audit", Path(tmp) / "sample"
        code = run(["audit", str(demo.path_items), "--label-col", "label", "--id-col", "id",
                    "--out", str(audit_dir)])
        assert code == 0, code
        code = run(["sample", str(audit_dir), "--size", str(SIZE), "--seed", str(SEED),
                    "--data", str(demo.path_items), "--id-col", "id", "--out", str(sample_dir)])
        assert code == 0, code
        reviewed = (
            pl.read_parquet(sample_dir / "review_sample.parquet").select("id", "given_label")
            .join(demo.truth.rename({"true_label": "reviewed_label"}), on="id", how="left")
        )
        args.out.mkdir(parents=True, exist_ok=True)
        reviewed.write_csv(args.out / "reviews.csv")
        for name in KEEP:
            shutil.copyfile(sample_dir / name, args.out / name)
        # Where the sample was drawn is this script's temporary folder: record the
        # shipped names instead, so the files say nothing of the machine they came from.
        info = json.loads((args.out / "sample_design.json").read_text(encoding="utf-8"))
        info.update(audit_directory=None, data=demo.path_items.name)
        (args.out / "sample_design.json").write_text(json.dumps(info, indent=2) + "\n",
                                                     encoding="utf-8")
    wrong = reviewed.filter(pl.col("given_label") != pl.col("reviewed_label")).height
    print(f"Wrote {args.out}: {reviewed.height} reviewed items, {wrong} with a wrong given label.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
