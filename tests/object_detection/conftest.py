"""Oracle shims for the object detection tests."""

from __future__ import annotations

import itertools

import numpy as np
import pytest


class SerialPool:
    """Stands in for ``multiprocessing.Pool`` inside cleanlab: the same calls, in-process.

    cleanlab opens a process pool per IoU threshold; running the identical
    function serially keeps the oracle's results and makes a test take
    milliseconds instead of seconds.
    """

    def __init__(self, *args, **kwargs):
        pass

    def starmap(self, func, iterable):
        return list(itertools.starmap(func, iterable))

    def close(self):
        pass


@pytest.fixture(autouse=True)
def _cleanlab_shims(monkeypatch):
    from cleanlab.object_detection import filter as cl_filter
    from cleanlab.object_detection import summary as cl_summary

    monkeypatch.setattr(cl_filter, "Pool", SerialPool)
    monkeypatch.setattr(cl_summary, "Pool", SerialPool)
    # cleanlab 2.9 calls np.in1d, which numpy 2.4 removed; np.isin is the same
    # test for 1-D arrays.
    if not hasattr(np, "in1d"):
        monkeypatch.setattr(np, "in1d", np.isin, raising=False)
    yield


