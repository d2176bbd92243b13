"""The demo dataset shipped with labelaudit.

1797 real 8x8 handwritten digits (scikit-learn's bundled copy of the UCI
optical digits test set), re-labeled by eight simulated annotators of
differing skill, so the label noise comes from annotators, as in practice:

- ``items``: ``id`` (``"digit-0001"`` ...), ``label`` (the given label,
  ``"0"``..``"9"``: the earliest of the item's three annotations),
  ``annotator`` (who gave it), ``source`` (``"scanner-a"``, ``"scanner-b"``
  or ``"phone"``; phone captures are noisier and more often mislabeled),
  ``pixels`` (the image, 64 values 0..16) and the same values as 64 feature
  columns ``px_00``..``px_63``. The true label is not in this table.
- ``annotations``: long table ``item_id``, ``annotator``, ``label``,
  ``timestamp`` (UTC); three annotations per item by 3 of 8 annotators with
  accuracies from about 0.98 down to about 0.6. ``ann-05`` reads many '3's
  as '8'; ``ann-06`` gets worse over the four-week campaign.
- ``truth``: ``id``, ``true_label``; only for evaluating an audit.

About 10% of the given labels are wrong (about 22% in the ``phone`` slice).
The files are produced by ``scripts/make_demo_data.py`` with a fixed seed.

Examples
--------
>>> from labelaudit.datasets import load_demo
>>> demo = load_demo()
>>> demo.items.height, demo.annotations.height
(1797, 5391)
"""

from __future__ import annotations

import atexit
import contextlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import polars as pl

from .io import read_table

__all__ = ["DemoData", "demo_files", "example_dir", "load_demo"]

_FILES = {
    "items": "demo_items.parquet",
    "annotations": "demo_annotations.parquet",
    "truth": "demo_truth.parquet",
    "reviews": "demo_review/reviews.csv",
}
# Keeps extracted copies alive when the package is imported from a zip archive.
_RESOURCES = contextlib.ExitStack()
atexit.register(_RESOURCES.close)


@dataclass(frozen=True)
class DemoData:
    """The demo tables and the paths of the shipped files.

    Attributes
    ----------
    items : polars.DataFrame
        One row per image with the given label, annotator, source and pixels.
    annotations : polars.DataFrame
        One row per annotation (``item_id``, ``annotator``, ``label``,
        ``timestamp``).
    truth : polars.DataFrame
        ``id`` and ``true_label``, for evaluation only.
    path_items, path_annotations, path_truth : pathlib.Path
        The shipped Parquet files, for passing to the command line.
    path_reviews : pathlib.Path
        A reviewed sample of 150 items (``reviews.csv``, drawn by ``labelaudit
        sample`` from the demo audit and answered with the true labels); its
        folder holds the sample's design.
    """

    items: pl.DataFrame
    annotations: pl.DataFrame
    truth: pl.DataFrame
    path_items: Path
    path_annotations: Path
    path_truth: Path
    path_reviews: Path


def demo_files() -> dict[str, Path]:
    """Paths of the shipped demo files.

    Returns
    -------
    dict of str to pathlib.Path
        Keys ``"items"``, ``"annotations"``, ``"truth"`` and ``"reviews"``.
    """
    root = resources.files("labelaudit").joinpath("data")
    return {
        name: Path(_RESOURCES.enter_context(resources.as_file(root.joinpath(filename))))
        for name, filename in _FILES.items()
    }


def load_demo() -> DemoData:
    """Load the demo dataset.

    Returns
    -------
    DemoData
        Items, annotations and ground truth, plus the file paths.
    """
    paths = demo_files()
    return DemoData(
        items=read_table(paths["items"], what="demo items"),
        annotations=read_table(paths["annotations"], what="demo annotations"),
        truth=read_table(paths["truth"], what="demo truth"),
        path_items=paths["items"],
        path_annotations=paths["annotations"],
        path_truth=paths["truth"],
        path_reviews=paths["reviews"],
    )


def example_dir(task: str) -> Path:
    """Folder of the small shipped example of a ``--task`` (generated, with a fixed seed).

    Each label shape's example lives in ``data/examples/<task>/`` with a
    ``README.txt`` saying what its files are and the command that audits them.

    Parameters
    ----------
    task : str
        A task name of ``labelaudit audit --task`` other than ``"classification"``
        (whose example is :func:`load_demo`).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    LabelAuditError
        When no example ships for ``task``.
    """
    from .exceptions import LabelAuditError

    root = resources.files("labelaudit").joinpath("data", "examples")
    shipped = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if task not in shipped:
        raise LabelAuditError(f"task: no shipped example for {task!r}; examples exist for "
                              f"{', '.join(shipped) or 'no task yet'}")
    return Path(_RESOURCES.enter_context(resources.as_file(root.joinpath(task))))
