"""Verdicts anchored in review: stratified review samples, design-based estimates, acceptance plans.

``review_sample`` draws the items to review from a finished audit;
``verify_reviews`` turns the reviewed sample into a noise rate with an
interval that keeps its coverage; ``single_sampling_plan`` and
``stratified_plan`` decide ACCEPT or REJECT with stated producer and consumer
risks.
"""

from __future__ import annotations

from .estimate import VerifiedEstimate, reviews_frame, stratified_interval, verify_reviews
from .plans import AcceptancePlan, StratifiedPlan, oc_curve, single_sampling_plan, stratified_plan
from .sampling import (
    ReviewSample,
    allocate,
    anticipated_error_probabilities,
    check_drawn_from,
    make_strata,
    prior_shift_error_probabilities,
    review_sample,
    size_for_half_width,
)

__all__ = [
    "AcceptancePlan",
    "ReviewSample",
    "StratifiedPlan",
    "VerifiedEstimate",
    "allocate",
    "anticipated_error_probabilities",
    "check_drawn_from",
    "make_strata",
    "oc_curve",
    "prior_shift_error_probabilities",
    "review_sample",
    "reviews_frame",
    "single_sampling_plan",
    "size_for_half_width",
    "stratified_interval",
    "stratified_plan",
    "verify_reviews",
]
