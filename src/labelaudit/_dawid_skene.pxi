# Dawid-Skene and crowd-consensus kernels.
#
# Included into the core extension module, which already provides
# ``cimport cython``, ``prange`` from cython.parallel and ``cimport numpy as
# cnp``.
#
# Layout conventions shared by every kernel below:
#
# * Annotations are held in long form, never as an items x annotators matrix.
#   ``item_ptr`` is a CSR-style offset array over annotations sorted by item
#   (annotations of item ``i`` are ``item_ptr[i]:item_ptr[i + 1]``).
# * ``confusion[j, k, l]`` is the probability that annotator ``j`` gives label
#   ``l`` when the true class is ``k`` (rows sum to one). The kernels read its
#   logarithm transposed, ``log_confusion_t[j, l, k]``, so the K terms one
#   answer contributes to an item's posterior are contiguous in memory.
# * Every parallel loop writes to disjoint rows (one item, or one annotator),
#   and every sum runs in a fixed order (item order), so results do not depend
#   on the number of threads.
#
# The Python driver (validation, the EM loop, convergence) lives in
# ``labelaudit.annotators``; these functions only loop.

# Repeating a cimport the host module already has is harmless; this one makes
# sure ``exp`` is available whatever the host cimports from libc.math.
from libc.math cimport exp, log

# Floor for confusion counts and priors so that logarithms stay finite when no
# smoothing is requested (the same 1e-10 floor crowd-kit applies).
cdef double _DS_EPS = 1e-10


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef inline double _ds_item_posterior(
    cnp.intp_t start,
    cnp.intp_t stop,
    const cnp.intp_t[::1] annotator,
    const cnp.intp_t[::1] label,
    const double[:, :, ::1] log_confusion_t,
    const double[::1] log_prior,
    double[:, ::1] posterior,
    Py_ssize_t i,
) noexcept nogil:
    """Write the posterior of item ``i`` into ``posterior[i]``; return its log-likelihood."""
    cdef Py_ssize_t n_classes = log_prior.shape[0]
    cdef Py_ssize_t k
    cdef cnp.intp_t a
    cdef double mx, total
    cdef double* out = &posterior[i, 0]
    cdef const double* row
    for k in range(n_classes):
        out[k] = log_prior[k]
    for a in range(start, stop):
        # Transposed layout: the K true-class terms of one answer are contiguous.
        row = &log_confusion_t[annotator[a], label[a], 0]
        for k in range(n_classes):
            out[k] += row[k]
    # Shift by the row maximum before exponentiating: the unnormalised
    # likelihood of an item with many labels underflows double precision.
    mx = out[0]
    for k in range(1, n_classes):
        if out[k] > mx:
            mx = out[k]
    total = 0.0
    for k in range(n_classes):
        out[k] = exp(out[k] - mx)
        total += out[k]
    for k in range(n_classes):
        out[k] /= total
    return mx + log(total)


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def ds_e_step(
    const cnp.intp_t[::1] item_ptr,          # IN  (n_items + 1,)
    const cnp.intp_t[::1] item_annotator,    # IN  (n_annotations,) sorted by item
    const cnp.intp_t[::1] item_label,        # IN  (n_annotations,) sorted by item
    const double[:, :, ::1] log_confusion_t, # IN  (n_annotators, K, K) [given, true]
    const double[::1] log_prior,             # IN  (K,)
    double[:, ::1] posterior,                # OUT (n_items, K)
    double[::1] item_loglik,                 # OUT (n_items,)
    int n_threads=1,
):
    """Dawid-Skene E-step: class posteriors of every item.

    Parameters
    ----------
    item_ptr : ndarray of shape (n_items + 1,), dtype=intp
        Offsets of each item's annotations in the item-sorted arrays.
    item_annotator, item_label : ndarray of shape (n_annotations,), dtype=intp
        Annotator index and given label of each annotation, sorted by item.
    log_confusion_t : ndarray of shape (n_annotators, K, K), dtype=float64
        Logarithm of each annotator's confusion matrix, *transposed*:
        ``log_confusion_t[j, l, k] = log P(answer l | true class k)``.
    log_prior : ndarray of shape (K,), dtype=float64
        Logarithm of the class priors.
    posterior : ndarray of shape (n_items, K), dtype=float64
        Output: posterior class probabilities. Items without annotations
        receive the prior.
    item_loglik : ndarray of shape (n_items,), dtype=float64
        Output: log marginal likelihood of each item's annotations.
    n_threads : int, default=1
        OpenMP threads over items (ignored in a serial build).

    Returns
    -------
    loglik : float
        Sum of ``item_loglik``, accumulated serially in item order.
    """
    cdef Py_ssize_t n_items = posterior.shape[0]
    cdef Py_ssize_t i
    cdef double total = 0.0
    if n_items == 0:
        return 0.0
    if n_threads < 1:
        n_threads = 1
    with nogil:
        # Items are independent given the parameters: each iteration writes
        # only its own posterior row and log-likelihood slot.
        for i in prange(n_items, schedule="static", num_threads=n_threads):
            item_loglik[i] = _ds_item_posterior(
                item_ptr[i], item_ptr[i + 1], item_annotator, item_label,
                log_confusion_t, log_prior, posterior, i,
            )
        # Summing in index order keeps the total thread-count independent.
        for i in range(n_items):
            total += item_loglik[i]
    return total


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef inline double _ds_item_elbo(
    cnp.intp_t start,
    cnp.intp_t stop,
    const cnp.intp_t[::1] annotator,
    const cnp.intp_t[::1] label,
    const double[:, :, ::1] log_confusion_t,
    const double[::1] log_prior,
    const double[:, ::1] posterior,
    Py_ssize_t i,
) noexcept nogil:
    """Item ``i``'s share of the evidence lower bound (see :func:`ds_elbo`)."""
    cdef Py_ssize_t n_classes = log_prior.shape[0]
    cdef Py_ssize_t k
    cdef cnp.intp_t a
    cdef double q, expected = 0.0, entropy = 0.0
    cdef const double* row
    cdef const double* post = &posterior[i, 0]
    for a in range(start, stop):
        row = &log_confusion_t[annotator[a], label[a], 0]
        for k in range(n_classes):
            expected += post[k] * (row[k] + log_prior[k])
    if stop > start:
        for k in range(n_classes):
            q = post[k]
            if q < _DS_EPS:
                q = _DS_EPS
            entropy -= q * log(q)
    return expected + entropy


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def ds_elbo(
    const cnp.intp_t[::1] item_ptr,          # IN  (n_items + 1,)
    const cnp.intp_t[::1] item_annotator,    # IN  (n_annotations,) sorted by item
    const cnp.intp_t[::1] item_label,        # IN  (n_annotations,) sorted by item
    const double[:, :, ::1] log_confusion_t, # IN  (n_annotators, K, K) [given, true]
    const double[::1] log_prior,             # IN  (K,)
    const double[:, ::1] posterior,          # IN  (n_items, K)
    double[::1] item_elbo,                   # OUT (n_items,)
    int n_threads=1,
):
    """Evidence lower bound of the posteriors under the given parameters.

    ``sum_a sum_k q[i_a, k] * (log confusion[j_a, k, l_a] + log prior[k])``
    over annotations ``a`` (item ``i_a``, annotator ``j_a``, answer ``l_a``),
    plus the entropy ``-sum_k q log q`` of every annotated item's posterior
    with ``q`` floored at 1e-10. The prior enters once per annotation, as in
    crowd-kit's ``DawidSkene``, whose stopping rule this serves.

    Returns
    -------
    elbo : float
        Sum of ``item_elbo``, accumulated serially in item order.
    """
    cdef Py_ssize_t n_items = posterior.shape[0]
    cdef Py_ssize_t i
    cdef double total = 0.0
    if n_items == 0:
        return 0.0
    if n_threads < 1:
        n_threads = 1
    with nogil:
        for i in prange(n_items, schedule="static", num_threads=n_threads):
            item_elbo[i] = _ds_item_elbo(
                item_ptr[i], item_ptr[i + 1], item_annotator, item_label,
                log_confusion_t, log_prior, posterior, i,
            )
        for i in range(n_items):
            total += item_elbo[i]
    return total


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef inline double _ds_item_posterior_elbo(
    cnp.intp_t start,
    cnp.intp_t stop,
    const cnp.intp_t[::1] annotator,
    const cnp.intp_t[::1] label,
    const double[:, :, ::1] log_confusion_t,
    const double[::1] log_prior,
    const double[:, ::1] previous,
    double[:, ::1] posterior,
    Py_ssize_t i,
    double* elbo_out,
) noexcept nogil:
    """:func:`_ds_item_posterior` and, in the same pass, :func:`_ds_item_elbo` of ``previous``.

    The bound's terms are added in the order :func:`_ds_item_elbo` adds them, so
    both values are bit for bit those of the two separate kernels.
    """
    cdef Py_ssize_t n_classes = log_prior.shape[0]
    cdef Py_ssize_t k
    cdef cnp.intp_t a
    cdef double mx, total, q, expected = 0.0, entropy = 0.0
    cdef double* out = &posterior[i, 0]
    cdef const double* old = &previous[i, 0]
    cdef const double* row
    for k in range(n_classes):
        out[k] = log_prior[k]
    for a in range(start, stop):
        row = &log_confusion_t[annotator[a], label[a], 0]
        for k in range(n_classes):
            expected += old[k] * (row[k] + log_prior[k])
            out[k] += row[k]
    if stop > start:
        for k in range(n_classes):
            q = old[k]
            if q < _DS_EPS:
                q = _DS_EPS
            entropy -= q * log(q)
    elbo_out[0] = expected + entropy
    mx = out[0]
    for k in range(1, n_classes):
        if out[k] > mx:
            mx = out[k]
    total = 0.0
    for k in range(n_classes):
        out[k] = exp(out[k] - mx)
        total += out[k]
    for k in range(n_classes):
        out[k] /= total
    return mx + log(total)


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def ds_e_step_elbo(
    const cnp.intp_t[::1] item_ptr,          # IN  (n_items + 1,)
    const cnp.intp_t[::1] item_annotator,    # IN  (n_annotations,) sorted by item
    const cnp.intp_t[::1] item_label,        # IN  (n_annotations,) sorted by item
    const double[:, :, ::1] log_confusion_t, # IN  (n_annotators, K, K) [given, true]
    const double[::1] log_prior,             # IN  (K,)
    const double[:, ::1] previous,           # IN  (n_items, K)
    double[:, ::1] posterior,                # OUT (n_items, K)
    double[::1] item_loglik,                 # OUT (n_items,)
    double[::1] item_elbo,                   # OUT (n_items,)
    int n_threads=1,
):
    """:func:`ds_elbo` of ``previous`` and :func:`ds_e_step` in one pass over the annotations.

    The bound of an iteration pairs its posteriors with the parameters of the
    M-step that follows, which are the parameters the next E-step reads. So
    the next E-step can add up the bound while it computes the new
    posteriors: one pass instead of two.

    Parameters
    ----------
    item_ptr, item_annotator, item_label, log_confusion_t, log_prior
        As in :func:`ds_e_step`.
    previous : ndarray of shape (n_items, K), dtype=float64
        Posteriors whose bound is computed (not written).
    posterior : ndarray of shape (n_items, K), dtype=float64
        Output: the new posteriors (must not be ``previous``).
    item_loglik, item_elbo : ndarray of shape (n_items,), dtype=float64
        Output: each item's log marginal likelihood and share of the bound.
    n_threads : int, default=1
        OpenMP threads over items (ignored in a serial build).

    Returns
    -------
    loglik, elbo : float
        The two sums, each accumulated serially in item order: equal to
        what :func:`ds_e_step` and :func:`ds_elbo` return.
    """
    cdef Py_ssize_t n_items = posterior.shape[0]
    cdef Py_ssize_t i
    cdef double total = 0.0, bound = 0.0
    if n_items == 0:
        return 0.0, 0.0
    if &previous[0, 0] == &posterior[0, 0]:
        raise ValueError("posterior must not be the previous posteriors")
    if n_threads < 1:
        n_threads = 1
    with nogil:
        for i in prange(n_items, schedule="static", num_threads=n_threads):
            item_loglik[i] = _ds_item_posterior_elbo(
                item_ptr[i], item_ptr[i + 1], item_annotator, item_label,
                log_confusion_t, log_prior, previous, posterior, i, &item_elbo[i],
            )
        for i in range(n_items):
            total += item_loglik[i]
            bound += item_elbo[i]
    return total, bound


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef inline void _ds_normalise_annotator(
    double[:, :, ::1] confusion,
    double[:, :, ::1] counts_t,
    double smoothing,
    const cnp.uint8_t* given,
    Py_ssize_t j,
) noexcept nogil:
    """Turn annotator ``j``'s soft counts into probabilities and log-probabilities.

    With ``given`` (the answers ``j`` gave at least once, one flag per class),
    answers never given get probability 0; otherwise every cell is floored.
    """
    cdef Py_ssize_t n_classes = confusion.shape[1]
    cdef Py_ssize_t k, l
    cdef double row_total, c
    for k in range(n_classes):
        row_total = 0.0
        for l in range(n_classes):
            if given != NULL and not given[l]:
                c = 0.0
            else:
                c = counts_t[j, l, k] + smoothing
                if c < _DS_EPS:
                    c = _DS_EPS
            confusion[j, k, l] = c
            row_total += c
        for l in range(n_classes):
            confusion[j, k, l] /= row_total
            # log(0) is -inf: an answer never given is never looked up.
            counts_t[j, l, k] = log(confusion[j, k, l]) if confusion[j, k, l] > 0 else -INFINITY


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef inline void _ds_confusion_share(
    const cnp.intp_t[::1] item_ptr,
    const cnp.intp_t[::1] annotator,
    const cnp.intp_t[::1] label,
    const double[:, ::1] posterior,
    double smoothing,
    double[:, :, ::1] confusion,
    double[:, :, ::1] counts_t,
    const cnp.uint8_t* given,
    Py_ssize_t share,
    Py_ssize_t n_shares,
) noexcept nogil:
    """Confusion matrices of the annotators ``j`` with ``j % n_shares == share``."""
    cdef Py_ssize_t n_items = posterior.shape[0]
    cdef Py_ssize_t n_classes = posterior.shape[1]
    cdef Py_ssize_t n_annotators = counts_t.shape[0]
    cdef Py_ssize_t i, k, l
    cdef cnp.intp_t a, j
    cdef double* dst
    cdef const double* src
    j = share
    while j < n_annotators:
        for l in range(n_classes):
            for k in range(n_classes):
                counts_t[j, l, k] = 0.0
        j += n_shares
    for i in range(n_items):
        src = &posterior[i, 0]
        for a in range(item_ptr[i], item_ptr[i + 1]):
            j = annotator[a]
            if j % n_shares != share:
                continue
            # Answer l on an item with posterior p adds p[k] to cell (k, l).
            dst = &counts_t[j, label[a], 0]
            for k in range(n_classes):
                dst[k] += src[k]
    j = share
    while j < n_annotators:
        _ds_normalise_annotator(confusion, counts_t, smoothing,
                                given + j * n_classes if given != NULL else NULL, j)
        j += n_shares


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def ds_m_step(
    const cnp.intp_t[::1] item_ptr,          # IN  (n_items + 1,)
    const cnp.intp_t[::1] item_annotator,    # IN  (n_annotations,) sorted by item
    const cnp.intp_t[::1] item_label,        # IN  (n_annotations,) sorted by item
    const double[:, ::1] posterior,          # IN  (n_items, K)
    double smoothing,
    double[:, :, ::1] confusion,             # OUT (n_annotators, K, K) [true, given]
    double[:, :, ::1] log_confusion_t,       # OUT (n_annotators, K, K) [given, true]
    double[::1] prior,                       # OUT (K,)
    double[::1] log_prior,                   # OUT (K,)
    int n_threads=1,
    const cnp.uint8_t[:, ::1] given=None,    # IN  (n_annotators, K) answers given, or None
):
    """Dawid-Skene M-step: confusion matrices and class priors.

    Parameters
    ----------
    item_ptr : ndarray of shape (n_items + 1,), dtype=intp
        Offsets of each item's annotations in the item-sorted arrays; items
        without annotations do not enter the prior.
    item_annotator, item_label : ndarray of shape (n_annotations,), dtype=intp
        Annotator index and given label of each annotation, sorted by item.
    posterior : ndarray of shape (n_items, K), dtype=float64
        Current class posteriors.
    smoothing : float
        Pseudo-count added to every confusion cell before normalising
        (a symmetric Dirichlet prior); cells below 1e-10 are floored.
    confusion : ndarray of shape (n_annotators, K, K), dtype=float64
        Output: ``confusion[j, k, l] = P(answer l | true class k)``.
    log_confusion_t : ndarray of shape (n_annotators, K, K), dtype=float64
        Output: ``log(confusion[j, k, l])`` stored at ``[j, l, k]`` (the
        layout :func:`ds_e_step` reads). Also used as scratch space.
    prior, log_prior : ndarray of shape (K,), dtype=float64
        Output: class priors (mean posterior over annotated items, floored at
        1e-10) and their logarithms.
    n_threads : int, default=1
        OpenMP threads (ignored in a serial build).
    given : ndarray of shape (n_annotators, K), dtype=uint8, optional
        ``given[j, l]``: annotator ``j`` answered ``l`` at least once. When
        passed, each annotator's confusion rows spread over those answers
        only (crowd-kit's ``DawidSkene``); the others get probability 0.

    Returns
    -------
    None

    Notes
    -----
    Annotations are scanned in item order, so posterior rows are read
    sequentially. Thread ``t`` owns the annotators with ``j % n_threads == t``
    and adds only their answers; every annotator's sum therefore runs over
    its own answers in item order whatever the thread count.
    """
    cdef Py_ssize_t n_annotators = confusion.shape[0]
    cdef Py_ssize_t n_classes = prior.shape[0]
    cdef Py_ssize_t n_items = posterior.shape[0]
    cdef Py_ssize_t i, k, t
    cdef double n_annotated = 0.0
    cdef const cnp.uint8_t* given_p = NULL
    if given is not None and given.shape[0] > 0:
        if given.shape[0] != n_annotators or given.shape[1] != n_classes:
            raise ValueError("given must have shape (n_annotators, K)")
        given_p = &given[0, 0]
    if n_threads < 1:
        n_threads = 1
    if n_threads > n_annotators:
        n_threads = max(1, n_annotators)
    with nogil:
        # One parallel region; each thread owns a fixed share of annotators
        # from zeroing to normalising, so no barrier separates the phases.
        for t in prange(n_threads, schedule="static", chunksize=1, num_threads=n_threads):
            _ds_confusion_share(item_ptr, item_annotator, item_label, posterior,
                                smoothing, confusion, log_confusion_t, given_p, t, n_threads)
        for k in range(n_classes):
            prior[k] = 0.0
        for i in range(n_items):
            if item_ptr[i + 1] > item_ptr[i]:
                n_annotated += 1.0
                for k in range(n_classes):
                    prior[k] += posterior[i, k]
        for k in range(n_classes):
            if n_annotated > 0:
                prior[k] /= n_annotated
            else:
                prior[k] = 1.0 / n_classes
            if prior[k] < _DS_EPS:
                prior[k] = _DS_EPS
            log_prior[k] = log(prior[k])


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef inline void _ds_loo_one(
    const cnp.int64_t[:, ::1] counts,
    cnp.intp_t i,
    cnp.intp_t own,
    cnp.intp_t* best_out,
    cnp.int64_t* total_out,
    cnp.uint8_t* tie_out,
) noexcept nogil:
    """Mode of ``counts[i]`` with one vote for class ``own`` removed."""
    cdef Py_ssize_t n_classes = counts.shape[1]
    cdef Py_ssize_t k
    cdef cnp.int64_t c, best_count = -1, total = 0
    cdef cnp.intp_t best = -1
    cdef cnp.uint8_t is_tie = 0
    for k in range(n_classes):
        c = counts[i, k]
        if k == own:
            c = c - 1
        total = total + c
        if c > best_count:
            best_count = c
            best = k
            is_tie = 0
        elif c == best_count:
            is_tie = 1
    if total <= 0:
        best = -1
        is_tie = 0
    best_out[0] = best
    total_out[0] = total
    tie_out[0] = is_tie


@cython.boundscheck(False)
@cython.wraparound(False)
def ds_leave_one_out_mode(
    const cnp.intp_t[::1] item,              # IN  (n_annotations,)
    const cnp.intp_t[::1] label,             # IN  (n_annotations,)
    const cnp.int64_t[:, ::1] counts,        # IN  (n_items, K)
    cnp.intp_t[::1] loo_label,               # OUT (n_annotations,)
    cnp.int64_t[::1] n_others,               # OUT (n_annotations,)
    cnp.uint8_t[::1] tie,                    # OUT (n_annotations,)
    int n_threads=1,
):
    """Majority label of the *other* annotators on each annotation's item.

    For annotation ``a`` on item ``i`` with label ``l``, the vote counts are
    ``counts[i] - onehot(l)``: the annotation's own label is removed before the
    mode is taken, so an annotator never votes on its own grade.

    Parameters
    ----------
    item, label : ndarray of shape (n_annotations,), dtype=intp
        Item index and label of each annotation.
    counts : ndarray of shape (n_items, K), dtype=int64
        Per-item label counts over all annotations.
    loo_label : ndarray of shape (n_annotations,), dtype=intp
        Output: lowest class index among the other annotators' modal labels,
        or -1 when nobody else labelled the item.
    n_others : ndarray of shape (n_annotations,), dtype=int64
        Output: number of other annotations on the item.
    tie : ndarray of shape (n_annotations,), dtype=uint8
        Output: 1 when two or more classes share the others' maximum count.
    n_threads : int, default=1
        OpenMP threads over annotations (ignored in a serial build).

    Returns
    -------
    None
    """
    cdef Py_ssize_t n = item.shape[0]
    cdef Py_ssize_t a
    if n == 0:
        return
    if n_threads < 1:
        n_threads = 1
    with nogil:
        # Each iteration writes only slot ``a`` of the outputs.
        for a in prange(n, schedule="static", num_threads=n_threads):
            _ds_loo_one(counts, item[a], label[a], &loo_label[a], &n_others[a], &tie[a])


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline void _pairs_of_item(
    cnp.intp_t start,
    cnp.intp_t stop,
    cnp.intp_t out,
    const cnp.intp_t[::1] annotator,
    const cnp.intp_t[::1] label,
    cnp.intp_t[::1] pair_a,
    cnp.intp_t[::1] pair_b,
    cnp.intp_t[::1] label_a,
    cnp.intp_t[::1] label_b,
) noexcept nogil:
    """Write the pairs of annotations ``start:stop`` (one item) from slot ``out`` on."""
    cdef cnp.intp_t s, t
    for s in range(start, stop):
        for t in range(s + 1, stop):
            if annotator[t] < annotator[s]:
                pair_a[out] = annotator[t]
                pair_b[out] = annotator[s]
                label_a[out] = label[t]
                label_b[out] = label[s]
            else:
                pair_a[out] = annotator[s]
                pair_b[out] = annotator[t]
                label_a[out] = label[s]
                label_b[out] = label[t]
            out = out + 1


@cython.boundscheck(False)
@cython.wraparound(False)
def annotation_pairs(
    const cnp.intp_t[::1] item_ptr,          # IN  (n_items + 1,)
    const cnp.intp_t[::1] pair_ptr,          # IN  (n_items + 1,)
    const cnp.intp_t[::1] annotator,         # IN  (n_annotations,) sorted by item
    const cnp.intp_t[::1] label,             # IN  (n_annotations,) sorted by item
    cnp.intp_t[::1] pair_a,                  # OUT (n_pairs,)
    cnp.intp_t[::1] pair_b,                  # OUT (n_pairs,)
    cnp.intp_t[::1] label_a,                 # OUT (n_pairs,)
    cnp.intp_t[::1] label_b,                 # OUT (n_pairs,)
    int n_threads=1,
):
    """Every pair of annotations that share an item, the lower annotator first.

    Parameters
    ----------
    item_ptr : ndarray of shape (n_items + 1,), dtype=intp
        CSR offsets of the annotations of each item.
    pair_ptr : ndarray of shape (n_items + 1,), dtype=intp
        Offsets of each item's pairs in the outputs:
        ``cumsum(n_i * (n_i - 1) / 2)`` with a leading 0.
    annotator, label : ndarray of shape (n_annotations,), dtype=intp
        Annotator and label of each annotation, sorted by item.
    pair_a, pair_b : ndarray of shape (n_pairs,), dtype=intp
        Output: the two annotators of each pair, ``pair_a <= pair_b``.
    label_a, label_b : ndarray of shape (n_pairs,), dtype=intp
        Output: their labels.
    n_threads : int, default=1
        OpenMP threads over items (ignored in a serial build).

    Returns
    -------
    None
    """
    cdef Py_ssize_t n_items = item_ptr.shape[0] - 1
    cdef Py_ssize_t i
    if n_items <= 0:
        return
    if n_threads < 1:
        n_threads = 1
    with nogil:
        # Each item writes only its own slots pair_ptr[i]:pair_ptr[i + 1].
        for i in prange(n_items, schedule="static", num_threads=n_threads):
            _pairs_of_item(item_ptr[i], item_ptr[i + 1], pair_ptr[i], annotator, label,
                           pair_a, pair_b, label_a, label_b)
