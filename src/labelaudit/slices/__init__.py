"""Where do label errors concentrate? Slice issue rates by attribute, annotator and intersection.

A model trained on a dataset inherits its label errors where they concentrate: in a
demographic group, a data source, a language, a device, an annotator, or an annotator
within a group. This package measures, per slice of the data, the metrics of
:data:`SLICE_METRICS`:

* the **issue rate** (share of rows flagged as likely label errors) with a Wilson 95 %
  interval,
* the **mean label quality**,
* the **estimated error rate** (mean of a per-row error probability),
* the **disagreement rate** with the consensus label, where annotations exist,
* and any metric added with :func:`register_slice_metric`,

and tests every slice against the rest of the data (chi-square for large counts, Fisher's
exact test otherwise) with Benjamini-Hochberg control of the false discovery
rate. A slice is *flagged* only when it is large enough, significant after the FDR
correction, and its issue rate exceeds the rest of the data by at least a minimum effect.

The package is laid out by job: :mod:`~labelaudit.slices.metrics` (the spec table),
:mod:`~labelaudit.slices.analysis` (:func:`analyze_slices`),
:mod:`~labelaudit.slices.result` (:class:`SliceReport`, :class:`Disparity`) and
:mod:`~labelaudit.slices.figures` (:func:`disparity`, :func:`max_flagged_effect`,
:func:`gate_figures`, the figures a quality gate checks). The statistics are those of
:mod:`labelaudit.stats`.
"""

from labelaudit.slices.analysis import analyze_slices
from labelaudit.slices.figures import disparity, gate_figures, max_flagged_effect
from labelaudit.slices.metrics import METRICS, SLICE_METRICS, SliceMetric, register_slice_metric
from labelaudit.slices.result import COMBINATION_SEPARATOR, MISSING_GROUP, Disparity, SliceReport
from labelaudit.stats import benjamini_hochberg, two_proportion_test, wilson_interval

__all__ = [
    "COMBINATION_SEPARATOR",
    "METRICS",
    "MISSING_GROUP",
    "SLICE_METRICS",
    "Disparity",
    "SliceMetric",
    "SliceReport",
    "analyze_slices",
    "benjamini_hochberg",
    "disparity",
    "gate_figures",
    "max_flagged_effect",
    "register_slice_metric",
    "two_proportion_test",
    "wilson_interval",
]
