"""``labelaudit audit --task token``: label issues in token tags (named entities, BIO).

Inputs:

- DATA: the tokens with their given tags, as a CoNLL/BIO file (one
  ``TOKEN ... TAG`` line per token, blank lines between sentences), a long
  table (CSV, TSV, Parquet, JSON Lines) with one row per token (sentence id,
  token, tag; ``--token-sentence-col``, ``--token-text-col``,
  ``--label-col``), or a Label Studio NER export (``.json``: spans become
  BIO tags over the tokens of each task's text, see
  :mod:`labelaudit.io.label_studio_token`).
- ``--pred-probs``: one ``.npy`` or ``.npz`` with the flat ``(T, K)`` matrix
  of out-of-sample token probabilities, row ``t`` for the ``t``-th token of
  DATA in file order (all sentences one after the other), columns in the
  order of ``--classes`` (default: the sorted tags). A ``.npy`` is read as
  a memory map. Every value must be finite and in [0, 1] and every row must
  sum to 1 (``--renormalize`` divides each row by its sum first); the
  message names the file, the sentence, the token and the class.

Every token is an item: :func:`labelaudit.token_classification.filter.find_label_issues`
flags tokens (confident learning on the flat matrix), ranked by
self-confidence; each sentence is scored by its worst token
(:func:`~labelaudit.token_classification.rank.get_sentence_scores`, ``"min"``).
The headline is the share of tokens flagged, with a percentile bootstrap
interval that resamples whole sentences (tokens of one sentence are not
independent); the share of sentences with at least one flagged token comes
with a Wilson interval, and so does every tag's rate.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .. import confident
from .._validation import check_probability_vectors
from ..exceptions import InputError
from ..io import file_fingerprint
from ..io.conll import CONLL_SUFFIXES, read_conll, read_token_probs, read_token_table
from ..io.label_studio_token import read_label_studio_spans
from ..io.tables import encode_labels
from ..result import AuditResult
from ..stats import wilson_interval
from ..token_classification.filter import find_label_issues, issues_per_sentence
from ..token_classification.rank import get_sentence_scores
from . import Task, TaskRequest, register_task, task_result

__all__ = ["TokenAudit", "audit_tokens", "read_tokens"]

#: Tokens per bootstrap block (replicates x sentences drawn at a time).
_BOOTSTRAP_BLOCK = 1 << 22


@dataclass(frozen=True)
class TokenAudit:
    """What ``--task token`` found, as plain data (the report section renders it).

    Attributes
    ----------
    tokens : polars.DataFrame
        One row per token, issues first by rank, then by increasing label
        quality: ``id`` (``sentence_id:position``), ``sentence_id``,
        ``position``, ``token``, ``given_label``, ``suggested_label`` (the
        top class), ``label_quality`` (self-confidence), ``sentence_quality``,
        ``is_issue``, ``issue_rank`` (1 = least trustworthy; null otherwise).
    sentences : polars.DataFrame
        One row per sentence in file order: ``sentence_id``, ``n_tokens``,
        ``n_issues``, ``sentence_quality`` (its lowest token score).
    per_class : polars.DataFrame
        One row per tag: ``class``, ``count``, ``n_issues``,
        ``estimated_noise_rate`` (share flagged), ``ci_low``, ``ci_high`` (Wilson),
        ``mean_label_quality`` (mean self-confidence of its tokens).
    class_names : tuple of str
    token_rate, token_ci_low, token_ci_high : float
        Share of tokens flagged and its sentence-bootstrap interval.
    sentence_rate, sentence_ci_low, sentence_ci_high : float
        Share of sentences with a flagged token and its Wilson interval.
    confidence : float
    source : str
        How DATA was read (``"conll"``, ``"table"``, ``"label_studio"``).
    """

    tokens: pl.DataFrame
    sentences: pl.DataFrame
    per_class: pl.DataFrame
    class_names: tuple[str, ...]
    token_rate: float
    token_ci_low: float
    token_ci_high: float
    sentence_rate: float
    sentence_ci_low: float
    sentence_ci_high: float
    confidence: float = 0.95
    source: str = "conll"
    kind: str = field(default="token_audit", repr=False)

    @property
    def n_tokens(self) -> int:
        """Tokens audited."""
        return self.tokens.height

    @property
    def n_sentences(self) -> int:
        """Sentences audited."""
        return self.sentences.height

    @property
    def n_token_issues(self) -> int:
        """Tokens flagged."""
        return int(self.tokens.get_column("is_issue").sum())

    @property
    def n_sentence_issues(self) -> int:
        """Sentences with at least one flagged token."""
        return int((self.sentences.get_column("n_issues") > 0).sum())

    def figures(self) -> dict[str, Any]:
        """Gate figures: the token and sentence issue rates with their intervals, and counts."""
        return {
            "token_issue_rate": self.token_rate,
            "token_issue_rate_ci_low": self.token_ci_low,
            "token_issue_rate_ci_high": self.token_ci_high,
            "sentence_issue_rate": self.sentence_rate,
            "sentence_issue_rate_ci_low": self.sentence_ci_low,
            "sentence_issue_rate_ci_high": self.sentence_ci_high,
            "n_token_issues": self.n_token_issues,
            "n_sentence_issues": self.n_sentence_issues,
            "n_tokens": self.n_tokens,
            "n_sentences": self.n_sentences,
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``summary.json`` entry: figures, source and the per-tag table."""
        return {**self.figures(), "confidence": self.confidence, "source": self.source,
                "per_class": self.per_class.to_dicts()}


def read_tokens(path: Path, *, sentence_col: str = "sentence_id", token_col: str = "token",
                label_col: str = "label") -> tuple[pl.DataFrame, str]:
    """The long token table of DATA and how it was read (by the file's suffix)."""
    suffix = path.suffix.lower()
    if suffix in CONLL_SUFFIXES:
        return read_conll(path), "conll"
    if suffix == ".json":
        return read_label_studio_spans(path), "label_studio"
    return read_token_table(path, sentence_col=sentence_col, token_col=token_col,
                            label_col=label_col), "table"


def _sentence_bootstrap(flagged: np.ndarray, lengths: np.ndarray, n_bootstrap: int, seed: int,
                        confidence: float) -> tuple[float, float]:
    """Percentile interval of sum(flagged) / sum(lengths) over sentences drawn with replacement."""
    n = lengths.size
    rng = np.random.default_rng(seed)
    rates = np.empty(n_bootstrap)
    per_block = max(1, _BOOTSTRAP_BLOCK // max(n, 1))
    for first in range(0, n_bootstrap, per_block):
        b = min(per_block, n_bootstrap - first)
        draw = rng.integers(0, n, size=(b, n))
        rates[first:first + b] = flagged[draw].sum(axis=1) / lengths[draw].sum(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(rates, [tail, 1.0 - tail])
    return float(low), float(high)


def audit_tokens(table: pl.DataFrame, pred_probs: np.ndarray, class_names, *,
                 n_bootstrap: int = 1000, seed: int = 0, n_jobs: int | None = None,
                 source: str = "conll", confidence: float = 0.95) -> TokenAudit:
    """Audit a long token table against its flat token probabilities.

    Parameters
    ----------
    table : polars.DataFrame
        ``sentence_id``, ``position``, ``token``, ``label`` in file order
        (as the readers of :mod:`labelaudit.io.conll` return it).
    pred_probs : ndarray of shape (T, K)
        Token probabilities in the table's row order.
    class_names : sequence of str
        Tags in column order.
    n_bootstrap, seed : int
        Sentence-bootstrap replicates and their seed.
    n_jobs : int, optional
        Threads; results do not depend on it.
    source : str
        How the table was read, recorded.
    confidence : float, default 0.95

    Returns
    -------
    TokenAudit

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> from labelaudit.tasks.token import audit_tokens
    >>> t = pl.DataFrame({"sentence_id": ["1", "1", "2", "2"], "position": [0, 1, 0, 1],
    ...                   "token": ["John", "ran", "in", "Rome"],
    ...                   "label": ["B-PER", "O", "B-LOC", "B-LOC"]})
    >>> p = np.array([[0.1, 0.8, 0.1], [0.05, 0.05, 0.9], [0.05, 0.05, 0.9], [0.9, 0.05, 0.05]])
    >>> audit = audit_tokens(t, p, ["B-LOC", "B-PER", "O"], n_bootstrap=50)
    >>> audit.tokens.filter(pl.col("is_issue")).select("token", "given_label", "suggested_label").rows()
    [('in', 'B-LOC', 'O')]
    >>> audit.sentence_rate
    0.5
    """
    class_names = tuple(str(c) for c in class_names)
    labels, _ = encode_labels(table.get_column("label"), classes=class_names,
                              source="tokens", column="label")
    sid = table.get_column("sentence_id")
    change = np.flatnonzero(sid.ne(sid.shift(1)).fill_null(True).to_numpy())
    lengths = np.diff(np.append(change, table.height)).astype(np.int64)
    # Both drop-ins check pred_probs and warn alike (rows not summing to 1): say it once.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ranked = find_label_issues(labels, pred_probs, sentence_lengths=lengths, n_jobs=n_jobs)
        sentence_scores, token_scores, _ = get_sentence_scores(
            labels, pred_probs, sentence_lengths=lengths, n_jobs=n_jobs)
    for category, message in dict.fromkeys((w.category, str(w.message)) for w in caught):
        warnings.warn(message, category, stacklevel=2)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    order = np.array([starts[i] + j for i, j in ranked], dtype=np.int64)
    is_issue = np.zeros(table.height, dtype=bool)
    is_issue[order] = True
    rank = np.zeros(table.height, dtype=np.int64)
    rank[order] = np.arange(1, order.size + 1)
    flagged = issues_per_sentence(is_issue, lengths, n_jobs=n_jobs)
    suggested = np.asarray(pred_probs).argmax(axis=1) if table.height else np.zeros(0, int)
    names = pl.Series(class_names)
    sentence_ids = sid.gather(change)
    tokens = pl.DataFrame({
        "id": (sid + ":" + table.get_column("position").cast(pl.String)),
        "sentence_id": sid,
        "position": table.get_column("position"),
        "token": table.get_column("token"),
        "given_label": table.get_column("label"),
        "suggested_label": names.gather(suggested),
        "label_quality": token_scores.astype(np.float64),
        "sentence_quality": np.repeat(sentence_scores.astype(np.float64), lengths),
        "is_issue": is_issue,
        "issue_rank": pl.Series(rank).replace(0, None),
    })
    # Issues by rank, then the rest by label quality (ties in file order).
    rest_key = np.where(is_issue, -np.inf, token_scores.astype(np.float64))
    tokens = tokens.with_columns(pl.Series("_rank", np.where(is_issue, rank, 0)),
                                 pl.Series("_rest", rest_key),
                                 pl.Series("_row", np.arange(table.height)))
    tokens = tokens.sort(["_rest", "_rank", "_row"]).drop("_rank", "_rest", "_row")
    sentences = pl.DataFrame({"sentence_id": sentence_ids, "n_tokens": lengths,
                              "n_issues": flagged,
                              "sentence_quality": sentence_scores.astype(np.float64)})
    count = np.bincount(labels, minlength=len(class_names))
    n_issues = np.bincount(labels[is_issue], minlength=len(class_names))
    low, high = wilson_interval(n_issues, count, alpha=1 - confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(count > 0, n_issues / np.maximum(count, 1), np.nan)
    quality_sum = np.bincount(labels, weights=token_scores.astype(np.float64),
                              minlength=len(class_names))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_quality = np.where(count > 0, quality_sum / np.maximum(count, 1), np.nan)
    per_class = pl.DataFrame({"class": list(class_names), "count": count.astype(np.int64),
                              "n_issues": n_issues.astype(np.int64),
                              "estimated_noise_rate": rate, "ci_low": low, "ci_high": high,
                              "mean_label_quality": mean_quality})
    token_low, token_high = _sentence_bootstrap(flagged, lengths, n_bootstrap, seed, confidence)
    n_bad = int((flagged > 0).sum())
    s_low, s_high = wilson_interval(n_bad, lengths.size, alpha=1 - confidence)
    return TokenAudit(
        tokens=tokens, sentences=sentences, per_class=per_class, class_names=class_names,
        token_rate=float(is_issue.mean()), token_ci_low=token_low, token_ci_high=token_high,
        sentence_rate=n_bad / lengths.size, sentence_ci_low=float(s_low),
        sentence_ci_high=float(s_high), confidence=confidence, source=source,
    )


def _option(request: TaskRequest, name: str, default: str) -> str:
    value = request.options.get(name)
    return default if value is None else str(value)


def _check_token_probabilities(probs: np.ndarray, probs_path: Path, table: pl.DataFrame,
                               class_names, *, renormalize: bool) -> None:
    """Refuse a token row that is not finite, not in [0, 1] or does not sum to 1.

    The command line is strict where the drop-in functions follow cleanlab
    (which computes on such rows with a warning): the message names the file,
    the row, the sentence, the token, the class and the value. With
    ``renormalize`` a row need only have a positive sum (it is then divided
    by it). The matrix is read in chunks of about 4 MiB, never copied.
    """
    def where(index: tuple[int]) -> str:
        (row,) = index
        sentence, position, token = (table.get_column(c)[row]
                                     for c in ("sentence_id", "position", "token"))
        return (f"probabilities file '{probs_path}': row {row} (sentence {sentence!r}, token "
                f"{position} {token!r})")

    check_probability_vectors(
        probs, where=where, class_names=class_names, unit_sums=not renormalize,
        sum_hint="every token's class probabilities must sum to 1; pass --renormalize to "
                 "divide each row by its sum")


def run(request: TaskRequest) -> tuple[AuditResult, list[dict[str, Any]]]:
    """Read DATA and ``--pred-probs``, audit the tokens and attach the ``token`` section."""
    if len(request.pred_probs) != 1:
        raise InputError(
            f"--pred-probs: --task token reads exactly one file (the flat tokens x classes "
            f"matrix), got {len(request.pred_probs)}"
        )
    if request.predictions is not None:
        raise InputError("--predictions does not apply to --task token; pass --pred-probs")
    if request.id_col is not None:
        raise InputError("--id-col does not apply to --task token (a token is named by its "
                         "sentence and position; a long table's sentence column is "
                         "--token-sentence-col)")
    if request.data.suffix.lower() in (*CONLL_SUFFIXES, ".json"):
        for name, flag in (("token_sentence_col", "--token-sentence-col"),
                           ("token_text_col", "--token-text-col"), ("label_col", "--label-col")):
            given = (request.label_col if name == "label_col" else request.options.get(name))
            if given is not None:
                raise InputError(f"{flag} applies to a long table DATA (CSV, TSV, Parquet, "
                                 f"JSONL), not to '{request.data}'")
    table, source = read_tokens(
        request.data, sentence_col=_option(request, "token_sentence_col", "sentence_id"),
        token_col=_option(request, "token_text_col", "token"),
        label_col=request.label_col or "label")
    # Every tag must be a class before the probabilities are opened (their columns follow them).
    _, class_names = encode_labels(
        table.get_column("label"), source=f"tokens file '{request.data}'", column="label",
        classes=[str(c) for c in request.classes] if request.classes else None)
    probs_path = Path(request.pred_probs[0])
    probs = read_token_probs(probs_path, class_names=class_names, n_tokens=table.height)
    renormalize = bool(request.options.get("renormalize", False))
    _check_token_probabilities(probs, probs_path, table, class_names, renormalize=renormalize)
    if renormalize:
        probs = confident.renormalize(probs)   # positive, finite sums: checked above
    audit = audit_tokens(table, probs, class_names, n_bootstrap=request.n_bootstrap,
                         seed=request.seed, n_jobs=request.n_jobs, source=source)
    result = task_result(
        "token", issues=audit.tokens, class_names=audit.class_names, per_class=audit.per_class,
        estimated_noise_rate=audit.token_rate, ci_low=audit.token_ci_low,
        ci_high=audit.token_ci_high, confidence=audit.confidence,
        parameters={"unit": "token", "source": source, "filter_by": "prune_by_noise_rate",
                    "sentence_score": "min"},
        section=audit, figures=audit.figures(),
    )
    inputs = [{"role": "tokens", **file_fingerprint(request.data, n_rows=table.height)},
              {"role": "pred_probs", **file_fingerprint(probs_path, n_rows=table.height)}]
    return result, inputs


register_task(Task("token", "label issues in token tags (NER, BIO): CoNLL, long tables or "
                   "Label Studio spans, with flat token probabilities", run))
