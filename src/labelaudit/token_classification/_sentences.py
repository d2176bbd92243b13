"""Sentences as slices of one flat token array, and the kernel calls over them.

Both input forms (cleanlab's nested lists and a flat ``(T, K)`` token matrix
with sentence lengths) are reduced by :func:`flatten` to flat token labels, the
flat token matrix and the sentence offsets ``starts`` (sentence ``s`` owns
tokens ``starts[s]:starts[s + 1]``). Token-level work then runs on the flat
arrays with the one-label-per-item core, and the per-sentence reductions run
in :mod:`labelaudit._core`.
"""

from __future__ import annotations

import numpy as np

from .._core import sentence_flag_counts, sentence_method_codes
from .._core import sentence_scores as _sentence_scores_kernel
from .._threads import effective_n_threads, resolve_chunk_size
from .._validation import check_token_inputs

__all__ = ["flag_counts", "flatten", "positions", "reduce_sentences"]

_CODES = sentence_method_codes()

#: Sentences per work unit of the per-sentence kernels (a few tokens each).
SENTENCE_CHUNK = 16384

#: Temperatures below this are raised to it before dividing (cleanlab's floor).
TEMPERATURE_FLOOR = 1e-6


def _chunk(chunk_size) -> int:
    return SENTENCE_CHUNK if chunk_size is None else resolve_chunk_size(chunk_size)


def flatten(labels, pred_probs, sentence_lengths=None):
    """Flat ``intp`` labels, the flat token matrix and the sentence offsets (checked)."""
    return check_token_inputs(labels, pred_probs, sentence_lengths=sentence_lengths)


def positions(flat_index: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sentence and position within it of each flat token index.

    ``searchsorted(..., side="right") - 1`` picks the last sentence starting at
    or before the token, which skips the empty sentences sharing its start.
    """
    # In the offsets' dtype, so the search never converts the offsets.
    flat_index = np.asarray(flat_index).astype(starts.dtype, copy=False)
    sentence = np.searchsorted(starts, flat_index, side="right") - 1
    return sentence, flat_index - starts[sentence]


#: Pairs built per block by :func:`as_pairs` (bounds the temporary int lists).
PAIR_BLOCK = 1 << 12


def as_pairs(flat_index: np.ndarray, starts: np.ndarray) -> list[tuple[int, int]]:
    """``[(sentence, position), ...]`` as Python ints, in the order of ``flat_index``.

    Built a block at a time, so the temporary lists of Python ints stay small
    next to the returned list.
    """
    flat_index = np.asarray(flat_index)
    if flat_index.dtype.kind not in "iu":
        flat_index = flat_index.astype(np.int64)
    out: list[tuple[int, int]] = []
    for a in range(0, flat_index.shape[0], PAIR_BLOCK):
        sentence, position = positions(flat_index[a:a + PAIR_BLOCK], starts)
        out.extend(zip(sentence.tolist(), position.tolist(), strict=True))
    return out


def reduce_sentences(token_scores: np.ndarray, starts: np.ndarray, method: str,
                     temperature: float = 0.05, *, n_jobs=None, chunk_size=None) -> np.ndarray:
    """One score per sentence from its token scores, in the token scores' dtype.

    Parameters
    ----------
    token_scores : ndarray of shape (T,)
        float32 or float64; every sentence must be non-empty.
    starts : ndarray of int64, shape (N + 1,)
    method : {"min", "softmin", "mean"}
    temperature : float
        Softmin temperature (floored at :data:`TEMPERATURE_FLOOR`).
    n_jobs, chunk_size : int, optional
        Threads and sentences per work unit; results do not depend on them.
    """
    scores = np.ascontiguousarray(token_scores)
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    out = np.empty(starts.shape[0] - 1, dtype=scores.dtype)
    _sentence_scores_kernel(scores, starts, _CODES[method],
                            max(float(temperature), TEMPERATURE_FLOOR), out,
                            _chunk(chunk_size),
                            effective_n_threads(n_jobs))
    return out


def flag_counts(mask: np.ndarray, starts: np.ndarray, *, n_jobs=None, chunk_size=None) -> np.ndarray:
    """Flagged tokens per sentence (int64, empty sentences count 0)."""
    flags = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)
    out = np.empty(starts.shape[0] - 1, dtype=np.int64)
    sentence_flag_counts(flags, starts, out, _chunk(chunk_size),
                         effective_n_threads(n_jobs))
    return out
