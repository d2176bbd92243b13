"""Label issues in segmentation masks, with cleanlab's ``segmentation`` names.

``filter.find_label_issues``, ``rank.get_label_quality_scores``,
``rank.issues_from_scores`` and ``summary.common_label_issues`` take cleanlab
2.9's parameters and defaults and return its results; the per-pixel work
streams blocks of images through the Cython core, so probabilities may be a
read-only memory map larger than RAM.
"""

from . import filter, rank, summary

__all__ = ["filter", "rank", "summary"]
