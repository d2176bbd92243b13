"""The one annotation validator: rules, messages naming the table, the repeated-pair search."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelaudit._validation import _first_repeated_pair, check_annotations
from labelaudit.annotators import encode_annotations
from labelaudit.exceptions import InputError, LabelAuditError

COLS = {"item_col": "item", "annotator_col": "who", "label_col": "label"}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(0, 3)), min_size=1, max_size=40),
       st.booleans())
def test_first_repeated_pair_matches_polars(pairs, as_text):
    frame = pl.DataFrame({"a": [p[0] for p in pairs], "b": [p[1] for p in pairs]})
    repeated = frame.select(pl.struct("a", "b").is_first_distinct().not_()).to_series()
    expected = int(repeated.arg_true()[0]) if repeated.any() else None
    a = frame["a"].cast(pl.String) if as_text else frame["a"]
    assert _first_repeated_pair(a, frame["b"]) == expected


@pytest.mark.parametrize(
    ("frame", "kw", "match"),
    [
        (pl.DataFrame({"item": [1], "who": [1]}), {}, r"^f\.csv: column 'label' \(label_col\)"),
        (pl.DataFrame({"item": [1, 2], "who": [1, None], "label": [0, 1]}), {},
         r"^f\.csv: column 'who' must not contain nulls; row 1 is null"),
        (pl.DataFrame({"item": [3, 1, 3], "who": ["x", "y", "x"], "label": [0, 1, 1]}), {},
         r"^f\.csv: annotator 'x' labels item 3 more than once \(row 2\)"),
        (pl.DataFrame({"item": [1], "who": [1], "label": [0], "t": [5]}), {"time_col": "t"},
         r"^f\.csv: column 't' \(time_col\) must be Date or Datetime; got Int64"),
        (pl.DataFrame({"item": [1, 2], "who": [1, 1], "label": [0, 0],
                       "t": ["2024-03-05T18:14:57", "soon"]}),
         {"time_col": "t", "parse_time": True}, r"^f\.csv: time column 't' has 'soon' at row 1"),
    ],
)
def test_messages_name_the_table(frame, kw, match):
    with pytest.raises(InputError, match=match):
        check_annotations(frame, **COLS, source="f.csv", **kw)


def test_roles_must_differ():
    frame = pl.DataFrame({"item": [1], "label": [0]})
    with pytest.raises(LabelAuditError, match="columns must differ"):
        check_annotations(frame, item_col="item", annotator_col="item", label_col="label")


def test_text_times_are_parsed_only_when_asked():
    frame = pl.DataFrame({"item": [1], "who": [1], "label": [0], "t": ["2024-03-05T18:14:57"]})
    parsed = check_annotations(frame, **COLS, time_col="t", parse_time=True)
    assert parsed.schema["t"] == pl.Datetime("us")
    with pytest.raises(InputError, match="must be Date or Datetime; got String"):
        check_annotations(frame, **COLS, time_col="t")


def test_encode_uses_the_validator_and_names_the_source():
    frame = pl.DataFrame({"item": [1, 1], "who": [7, 7], "label": [0, 1]})
    with pytest.raises(InputError, match=r"^annotations file 'a\.csv': annotator 7 labels item 1"):
        encode_annotations(frame, **COLS, source="annotations file 'a.csv'")
