"""Annotator review: consensus labels, agreement statistics and per-annotator quality.

Input is a *long* table with one row per annotation (item, annotator, label,
optionally a timestamp). Nothing here builds an items x annotators matrix,
except the optional CROWDLAB consensus, which delegates to cleanlab and is
capped in size. Agreement statistics are computed from the items x classes
count table, and pairwise statistics from the pairs of annotations that share
an item.

The entry point is :func:`review_annotators`, which returns an
:class:`AnnotatorReview`. The package is laid out by job:

- :mod:`~labelaudit.annotators.encode` -- checks and integer encoding
  (:func:`encode_annotations`, :func:`label_counts`);
- :mod:`~labelaudit.annotators.consensus` -- :func:`majority_vote`,
  :func:`dawid_skene`, :func:`crowdlab_consensus`, :func:`leave_one_out_consensus`
  and the :data:`CONSENSUS` registry (:func:`register_consensus` adds a method);
- :mod:`~labelaudit.annotators.agreement` -- :func:`percent_agreement`,
  :func:`pairwise_agreement` (Cohen's kappa per pair), :func:`fleiss_kappa`,
  :func:`krippendorff_alpha_nominal`, :func:`agreement_summary`;
- :mod:`~labelaudit.annotators.review` -- :func:`review_annotators`.

:func:`wilson_interval` and :func:`benjamini_hochberg` are those of
:mod:`labelaudit.stats`.
"""

from labelaudit.annotators.agreement import (
    agreement_summary,
    fleiss_kappa,
    krippendorff_alpha_nominal,
    pairwise_agreement,
    percent_agreement,
)
from labelaudit.annotators.consensus import (
    CONSENSUS,
    CROWDLAB_MAX_ANNOTATORS,
    CROWDLAB_MAX_CELLS,
    ConsensusInputs,
    ConsensusMethod,
    DawidSkeneResult,
    MajorityVote,
    crowdlab_consensus,
    dawid_skene,
    leave_one_out_consensus,
    majority_vote,
    register_consensus,
)
from labelaudit.annotators.encode import EncodedAnnotations, encode_annotations, label_counts
from labelaudit.annotators.review import AnnotatorReview, review_annotators
from labelaudit.stats import benjamini_hochberg, wilson_interval

__all__ = [
    "CONSENSUS",
    "CROWDLAB_MAX_ANNOTATORS",
    "CROWDLAB_MAX_CELLS",
    "AnnotatorReview",
    "ConsensusInputs",
    "ConsensusMethod",
    "DawidSkeneResult",
    "EncodedAnnotations",
    "MajorityVote",
    "agreement_summary",
    "benjamini_hochberg",
    "crowdlab_consensus",
    "dawid_skene",
    "encode_annotations",
    "fleiss_kappa",
    "krippendorff_alpha_nominal",
    "label_counts",
    "leave_one_out_consensus",
    "majority_vote",
    "pairwise_agreement",
    "percent_agreement",
    "register_consensus",
    "review_annotators",
    "wilson_interval",
]
