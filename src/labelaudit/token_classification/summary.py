"""Which words carry the token label issues (cleanlab's ``token_classification.summary``).

Examples
--------
>>> from labelaudit.token_classification.summary import filter_by_token
>>> tokens = [["A", "?weird", "sentence"], ["An", "sentence", "with", "a", "typo"]]
>>> filter_by_token("sentence", [(1, 1), (0, 1), (0, 2)], tokens)
[(1, 1), (0, 2)]
"""

from __future__ import annotations

import numpy as np

__all__ = ["common_label_issues", "filter_by_token"]

_NO_PAIRS: tuple = ()


def _descending(values) -> np.ndarray:
    """Indices from the largest value down; equal values come later-first.

    That is a stable ascending sort reversed, which is what numpy's default
    sort gives on the short arrays where it is stable.
    """
    return np.argsort(np.asarray(values), kind="stable")[::-1]


def common_label_issues(issues, tokens, *, labels=None, pred_probs=None, class_names=None,
                        top=10, exclude=_NO_PAIRS, verbose=True):
    """Count the label issues of each word, and of each (given, predicted) class pair per word.

    Parameters
    ----------
    issues : list of tuple of int
        ``(i, j)`` pairs, as :func:`~labelaudit.token_classification.filter.find_label_issues`
        returns them.
    tokens : list of list of str
        Words of each sentence.
    labels : list of sequences of int, optional
        Given token labels. With ``pred_probs``, counts are split by the pair
        (given label, predicted class = argmax of the token's probabilities).
    pred_probs : list of ndarray, optional
        Per-sentence ``(T_i, K)`` probabilities.
    class_names : list of str, optional
        Names printed and returned instead of class indices.
    top : int, default 10
        Words printed (the returned table has them all).
    exclude : sequence of tuple of int, default ()
        (given, predicted) pairs not counted (the word still gets a row of
        zero counts in the printout).
    verbose : bool, default True
        Also print each word's class pairs (with ``labels`` and ``pred_probs``).

    Returns
    -------
    pandas.DataFrame
        Columns ``token, num_label_issues``, or with ``labels`` and
        ``pred_probs`` ``token, given_label, predicted_label,
        num_label_issues``; most issues first, ties in the order the words
        first appear in ``issues`` (then class pair order).

    Notes
    -----
    Prints as cleanlab 2.9 does. Words with equal counts are printed in the
    reverse order of their first appearance (a reversed stable sort); cleanlab
    uses numpy's default sort there, which matches on short arrays.

    Examples
    --------
    >>> from labelaudit.token_classification.summary import common_label_issues
    >>> tokens = [["A", "?weird", "sentence"], ["An", "sentence", "with", "a", "typo"]]
    >>> df = common_label_issues([(1, 0), (0, 1), (1, 1), (0, 2)], tokens)
    Token 'sentence' is potentially mislabeled 2 times throughout the dataset
    <BLANKLINE>
    Token '?weird' is potentially mislabeled 1 times throughout the dataset
    <BLANKLINE>
    Token 'An' is potentially mislabeled 1 times throughout the dataset
    <BLANKLINE>
    >>> df.values.tolist()
    [['sentence', 2], ['An', 1], ['?weird', 1]]
    """
    import pandas as pd

    if not labels or not pred_probs:
        per_word: dict[str, int] = {}
        for i, j in issues:
            word = tokens[i][j]
            per_word[word] = per_word.get(word, 0) + 1
        words = list(per_word)
        freq = [per_word[w] for w in words]
        for r in _descending(freq)[:top]:
            print(f"Token '{words[r]}' is potentially mislabeled {freq[r]} times throughout "
                  "the dataset\n")
        rows = sorted(zip(words, freq, strict=True), key=lambda row: row[1], reverse=True)
        return pd.DataFrame([list(row) for row in rows], columns=["token", "num_label_issues"])

    if not class_names:
        print("Classes will be printed in terms of their integer index since `class_names` was "
              "not provided. ")
        print("Specify this argument to see the string names of each class. \n")
    n = pred_probs[0].shape[1]
    skip = list(exclude)
    pairs: dict[str, np.ndarray] = {}
    for i, j in issues:
        word = tokens[i][j]
        given = labels[i][j]
        predicted = int(np.argmax(pred_probs[i][j]))
        table = pairs.get(word)
        if table is None:
            table = pairs[word] = np.zeros((n, n), dtype=int)
        if (given, predicted) not in skip:
            table[given, predicted] += 1
    words = list(pairs)
    freq = [int(pairs[w].sum()) for w in words]

    def name(c: int):
        return class_names[c] if class_names else c

    for r in _descending(freq)[:top]:
        table = pairs[words[r]]
        print(f"Token '{words[r]}' is potentially mislabeled {freq[r]} times throughout the "
              "dataset")
        if verbose:
            print("-" * 87)
            for f in _descending(table.ravel()):
                a, b = divmod(int(f), n)
                if table[a, b] == 0:
                    break
                if class_names:
                    print(f"labeled as class `{class_names[a]}` but predicted to actually be "
                          f"class `{class_names[b]}` {table[a, b]} times")
                else:
                    print(f"labeled as class {a} but predicted to actually be class {b} "
                          f"{table[a, b]} times")
        print()
    rows = [[word, name(a), name(b), pairs[word][a, b]]
            for word in words for a in range(n) for b in range(n) if pairs[word][a, b] > 0]
    rows.sort(key=lambda row: row[3], reverse=True)
    return pd.DataFrame(rows, columns=["token", "given_label", "predicted_label",
                                       "num_label_issues"])


def filter_by_token(token, issues, tokens):
    """The issues whose word is ``token`` (compared case-insensitively), in their order.

    Parameters
    ----------
    token : str
        The word to look for.
    issues : list of tuple of int
        ``(i, j)`` pairs.
    tokens : list of list of str
        Words of each sentence.

    Returns
    -------
    list of tuple of int
    """
    wanted = token.lower()
    return [issue for issue in issues if tokens[issue[0]][issue[1]].lower() == wanted]
