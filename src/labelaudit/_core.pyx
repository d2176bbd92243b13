# cython: language_level=3
"""Row kernels of labelaudit: nogil loops over probability matrices.

Nothing here validates arguments or allocates results: the Python wrappers in
:mod:`labelaudit.confident` check inputs, allocate outputs and pick the float32
or float64 specialisation. Every kernel takes ``const floating[:, ::1]`` views, so
read-only arrays and memory maps are read in place and no dtype copy is made.

Parallel layout (one template everywhere): rows are cut into chunks of
``chunk_size``; ``prange`` hands chunks to threads with a static schedule; every
thread accumulates into its own slice of a per-thread buffer (indexed by
``threadid()``); the wrapper (or a merge kernel) combines the slices in a fixed
order. Every partial result is an integer count, a per-row value, or an exact
top-m selection under a total order, so results never depend on the number of
threads or on the chunk size.
"""

cimport cython
from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.math cimport INFINITY, isfinite, log

cimport numpy as cnp

cnp.import_array()

cdef extern from *:
    """
    #ifdef _OPENMP
    #define LABELAUDIT_HAVE_OPENMP 1
    #else
    #define LABELAUDIT_HAVE_OPENMP 0
    #endif
    """
    int LABELAUDIT_HAVE_OPENMP

ctypedef cnp.int64_t i64
ctypedef cnp.int32_t i32
ctypedef cnp.uint8_t u8
ctypedef cnp.intp_t intp

# Kinds of invalid values, reported as the first offending row of each kind.
cdef enum:
    BAD_NONFINITE = 0   # NaN or +-inf somewhere in the row
    BAD_BELOW = 1       # a value below -tol (cleanlab's tolerance is 1e-6)
    BAD_ABOVE = 2       # a value above 1 + tol
    BAD_ROWSUM = 3      # |row sum - 1| > sum_tol
    BAD_STRICT = 4      # a value outside [0, 1] exactly (entropy needs this)
    N_BAD = 5

# Kinds of per-row label quality scores.
cdef enum:
    SCORE_NONE = 0
    SCORE_SELF_CONFIDENCE = 1
    SCORE_NORMALIZED_MARGIN = 2
    SCORE_ENTROPY = 3           # confidence-weighted entropy, always float64
    SCORE_ADJ_SELF_CONFIDENCE = 4
    SCORE_ADJ_NORMALIZED_MARGIN = 5


def have_openmp():
    """Return True when the extension was compiled with OpenMP."""
    return bool(LABELAUDIT_HAVE_OPENMP)


def n_bad_kinds():
    """Number of validation kinds reported by :func:`row_pass`."""
    return N_BAD


# ---------------------------------------------------------------------------
# Small per-row helpers
# ---------------------------------------------------------------------------

cdef inline intp _row_argmax(const floating* row, intp K) noexcept nogil:
    # First index of the maximum, as numpy's argmax (inputs are finite here).
    cdef intp k, best = 0
    cdef floating vmax = row[0]
    for k in range(1, K):
        if row[k] > vmax:
            vmax = row[k]
            best = k
    return best


cdef inline bint _given_label_wins(const floating* row, intp K, intp lab) noexcept nogil:
    # True when argmax(row + 1e-6 * onehot(lab)) == lab, with the bump added in
    # the row's own dtype: the label wins ties it was bumped into, and loses
    # exact ties only to an earlier index.
    cdef floating bumped = row[lab] + <floating>1e-6
    cdef intp k
    for k in range(lab):
        if row[k] >= bumped:
            return False
    for k in range(lab + 1, K):
        if row[k] > bumped:
            return False
    return True


cdef inline void _note_bad(i64* bad, int kind, i64 i) noexcept nogil:
    # Rows arrive in increasing order within a thread, so the first note per
    # kind is that thread's smallest offending row.
    if i < bad[kind]:
        bad[kind] = i


# ---------------------------------------------------------------------------
# Pass 1: self-confidence grouped by given label (for thresholds)
# ---------------------------------------------------------------------------

def gather_by_label(
    const floating[:, ::1] P,          # IN  (n, K)
    const intp[::1] labels,            # IN  (n,) values in 0..K-1
    const intp[::1] offsets,           # IN  (K + 1,) start of each class block
    floating[::1] grouped,             # OUT (n,) p[i, labels[i]] grouped by class
):
    """Write ``p[i, labels[i]]`` into per-class blocks, keeping row order.

    Block ``k`` (``grouped[offsets[k]:offsets[k + 1]]``) then holds exactly the
    sequence ``pred_probs[labels == k, k]``, so a mean taken over it by numpy
    reproduces cleanlab's thresholds bit for bit. One serial pass that reads a
    single value per row.
    """
    cdef intp n = P.shape[0], K = P.shape[1], i, lab
    cdef intp[::1] cursor
    if n == 0:
        return
    import numpy as np
    cursor = np.array(offsets[:K], dtype=np.intp)
    with nogil:
        for i in range(n):
            lab = labels[i]
            grouped[cursor[lab]] = P[i, lab]
            cursor[lab] += 1


# ---------------------------------------------------------------------------
# Pass 2: validation, confident joint counts, per-row guesses and scores
# ---------------------------------------------------------------------------

cdef struct RowScan:
    double total        # row sum (validation only)
    double lo           # row minimum
    double hi_other     # maximum over the classes other than the given label
    intp nconf          # number of confident classes
    intp first_conf     # first confident class, or -1


cdef inline void _scan_segment(const floating* row, intp k, intp stop, const floating* cut,
                               double* sums, floating* lo, floating* hi,
                               intp* count, intp* first) noexcept nogil:
    # Sum, min, max and confident classes of row[k:stop]. Four independent
    # accumulators keep the latency chains short; confident hits are rare and
    # take a branch.
    cdef intp j
    cdef floating v0, v1, v2, v3
    while k + 4 <= stop:
        v0 = row[k]
        v1 = row[k + 1]
        v2 = row[k + 2]
        v3 = row[k + 3]
        sums[0] += v0
        sums[1] += v1
        sums[2] += v2
        sums[3] += v3
        lo[0] = v0 if v0 < lo[0] else lo[0]
        lo[1] = v1 if v1 < lo[1] else lo[1]
        lo[2] = v2 if v2 < lo[2] else lo[2]
        lo[3] = v3 if v3 < lo[3] else lo[3]
        hi[0] = v0 if v0 > hi[0] else hi[0]
        hi[1] = v1 if v1 > hi[1] else hi[1]
        hi[2] = v2 if v2 > hi[2] else hi[2]
        hi[3] = v3 if v3 > hi[3] else hi[3]
        if cut != NULL:
            if (v0 >= cut[k]) | (v1 >= cut[k + 1]) | (v2 >= cut[k + 2]) | (v3 >= cut[k + 3]):
                for j in range(k, k + 4):
                    if row[j] >= cut[j]:
                        count[0] += 1
                        if first[0] < 0:
                            first[0] = j
        k += 4
    while k < stop:
        v0 = row[k]
        sums[0] += v0
        lo[0] = v0 if v0 < lo[0] else lo[0]
        hi[0] = v0 if v0 > hi[0] else hi[0]
        if cut != NULL and v0 >= cut[k]:
            count[0] += 1
            if first[0] < 0:
                first[0] = k
        k += 1


cdef inline RowScan _scan_row(const floating* row, intp K, intp lab,
                              const floating* cut) noexcept nogil:
    # One sweep over a row, in two segments around the given label so that the
    # maximum over the *other* classes comes for free (normalized margin and
    # the skip test of the pruning pass need it).
    cdef RowScan out
    cdef double sums[4]
    cdef floating lo[4]
    cdef floating hi[4]
    cdef floating vl = row[lab]
    cdef intp count = 0, first = -1, q
    for q in range(4):
        sums[q] = 0.0
        lo[q] = vl
        hi[q] = -INFINITY
    _scan_segment(row, 0, lab, cut, sums, lo, hi, &count, &first)
    if cut != NULL and vl >= cut[lab]:
        count += 1
        if first < 0:
            first = lab
    sums[0] += vl
    _scan_segment(row, lab + 1, K, cut, sums, lo, hi, &count, &first)
    lo[0] = lo[1] if lo[1] < lo[0] else lo[0]
    lo[2] = lo[3] if lo[3] < lo[2] else lo[2]
    hi[0] = hi[1] if hi[1] > hi[0] else hi[0]
    hi[2] = hi[3] if hi[3] > hi[2] else hi[2]
    out.lo = lo[2] if lo[2] < lo[0] else lo[0]
    out.hi_other = hi[2] if hi[2] > hi[0] else hi[0]
    out.total = (sums[0] + sums[1]) + (sums[2] + sums[3])
    out.nconf = count
    out.first_conf = first
    return out


cdef void _row_pass_chunk(
    const floating* P, intp K, const intp* labels, intp start, intp stop,
    const floating* cut, i64* cj, i32* guess, u8* keep, floating* other, floating* selfc,
    floating* score, double* score64, int score_kind,
    const double* adjust, double log_k,
    i64* bad, double sum_tol, double range_tol,
) noexcept nogil:
    cdef intp i, k, lab, nconf, first_conf, g
    cdef const floating* row
    cdef floating vmax, sc
    cdef double s, ent, a, asum, aother, alab, q, clipped
    cdef RowScan r
    for i in range(start, stop):
        row = P + i * K
        lab = labels[i]
        r = _scan_row(row, K, lab, cut)
        s = r.total
        nconf = r.nconf
        first_conf = r.first_conf
        vmax = <floating>r.hi_other
        if row[lab] > vmax:
            vmax = row[lab]
        # Validation notes (the wrapper raises after the pass). A NaN or an
        # infinity anywhere makes the row sum non-finite.
        if not isfinite(s):
            _note_bad(bad, BAD_NONFINITE, i)
            if guess != NULL:
                guess[i] = -1
            if other != NULL:
                other[i] = 0
                selfc[i] = 0
            continue
        if r.lo < -range_tol:
            _note_bad(bad, BAD_BELOW, i)
        if vmax > 1.0 + range_tol:
            _note_bad(bad, BAD_ABOVE, i)
        if r.lo < 0 or vmax > 1:
            _note_bad(bad, BAD_STRICT, i)
        if s - 1.0 > sum_tol or 1.0 - s > sum_tol:
            _note_bad(bad, BAD_ROWSUM, i)
        if other != NULL:
            other[i] = <floating>r.hi_other
            selfc[i] = row[lab]

        if cut != NULL:
            if nconf == 1:
                g = first_conf
            elif nconf > 1:
                # Several confident classes: the row's global argmax, even when
                # that class is not itself confident (cleanlab's rule).
                g = _row_argmax(row, K)
            else:
                g = -1
            if g >= 0 and cj != NULL:
                cj[lab * K + g] += 1
            if guess != NULL:
                guess[i] = <i32>g
        if keep != NULL:
            keep[i] = _given_label_wins(row, K, lab)

        if score_kind == SCORE_SELF_CONFIDENCE:
            score[i] = row[lab]
        elif score_kind == SCORE_NORMALIZED_MARGIN:
            sc = row[lab]
            # Same dtype arithmetic as numpy: (sc - max_other + 1) / 2.
            score[i] = (sc - <floating>r.hi_other + <floating>1) / <floating>2
        elif score_kind == SCORE_ENTROPY:
            ent = 0.0
            for k in range(K):
                a = row[k]
                if a > 0:
                    ent -= a * log(a)
            ent = ent / log_k
            alab = row[lab]
            if alab < 1e-6:
                alab = 1e-6
            q = ent / alab
            clipped = q if q > 1e-6 else 1e-6
            score64[i] = log(q + 1.0) / clipped
        elif score_kind == SCORE_ADJ_SELF_CONFIDENCE or score_kind == SCORE_ADJ_NORMALIZED_MARGIN:
            # Threshold-adjusted probabilities: p_k - t_k + max(t), row-normalised.
            asum = 0.0
            aother = -INFINITY
            for k in range(K):
                a = <double>row[k] + adjust[k]
                asum += a
                if k != lab and a > aother:
                    aother = a
            alab = <double>row[lab] + adjust[lab]
            if score_kind == SCORE_ADJ_SELF_CONFIDENCE:
                score64[i] = alab / asum
            else:
                score64[i] = (alab / asum - aother / asum + 1.0) / 2.0


@cython.boundscheck(False)
def row_pass(
    const floating[:, ::1] P,          # IN  (n, K)
    const intp[::1] labels,            # IN  (n,)
    const floating[::1] cut,           # IN  (K,) cut points in P's dtype, or empty: no counting
    i64[:, :, ::1] cj,                 # OUT (n_threads, K, K) per-thread counts, or empty
    i32[::1] guess,                    # OUT (n,) confident guess or -1, or empty
    u8[::1] keep,                      # OUT (n,) given label wins the bumped argmax, or empty
    floating[::1] other,               # OUT (n,) max probability over the other classes, or empty
    floating[::1] selfc,               # OUT (n,) p[i, labels[i]] (with ``other``), or empty
    floating[::1] score,               # OUT (n,) score in the input dtype, or empty
    double[::1] score64,               # OUT (n,) float64 score, or empty
    int score_kind,
    const double[::1] adjust,          # IN  (K,) -t_k + max(t) for adjusted scores, or empty
    i64[:, ::1] bad,                   # OUT (n_threads, N_BAD) first bad row per kind, preset to n
    double sum_tol,
    double range_tol,
    intp chunk_size,
    int n_threads,
):
    """One fused pass over the rows of ``P``.

    Per row: validity checks (finite, in range, row sum), the confident-class
    guess and its count in ``cj[thread, given, guess]``, whether the given label
    wins ``argmax(p + 1e-6 * onehot(label))``, and one label quality score.
    Outputs passed as empty arrays are skipped.
    """
    cdef intp n = P.shape[0], K = P.shape[1]
    cdef intp n_chunks, c, start, stop
    cdef int tid
    cdef bint do_cj = cut.shape[0] == K and cj.shape[0] > 0
    cdef const floating* cut_p = &cut[0] if cut.shape[0] == K else NULL
    cdef i32* guess_p = &guess[0] if guess.shape[0] > 0 else NULL
    cdef u8* keep_p = &keep[0] if keep.shape[0] > 0 else NULL
    cdef floating* other_p = &other[0] if other.shape[0] > 0 else NULL
    cdef floating* selfc_p = &selfc[0] if other.shape[0] > 0 else NULL
    cdef floating* score_p = &score[0] if score.shape[0] > 0 else NULL
    cdef double* score64_p = &score64[0] if score64.shape[0] > 0 else NULL
    cdef const double* adjust_p = &adjust[0] if adjust.shape[0] > 0 else NULL
    cdef double log_k = log(<double>K)
    if n == 0:
        return
    if chunk_size < 1:
        chunk_size = 1
    n_chunks = (n + chunk_size - 1) // chunk_size
    if n_threads > n_chunks:
        n_threads = <int>n_chunks
    if n_threads < 1:
        n_threads = 1
    tid = 0
    with nogil, parallel(num_threads=n_threads):
        tid = threadid()
        for c in prange(n_chunks, schedule="static"):
            start = c * chunk_size
            stop = start + chunk_size
            if stop > n:
                stop = n
            _row_pass_chunk(
                &P[0, 0], K, &labels[0], start, stop,
                cut_p, &cj[tid, 0, 0] if do_cj else NULL,
                guess_p, keep_p, other_p, selfc_p, score_p, score64_p, score_kind, adjust_p, log_k,
                &bad[tid, 0], sum_tol, range_tol,
            )


def given_label_wins(
    const floating[:, ::1] P,          # IN  (n, K)
    const intp[::1] labels,            # IN  (n,)
    const intp[::1] rows,              # IN  (m,) rows to test
    u8[::1] out,                       # OUT (m,)
):
    """For selected rows, whether the given label wins the bumped argmax."""
    cdef intp m = rows.shape[0], K = P.shape[1], t, i
    with nogil:
        for t in range(m):
            i = rows[t]
            out[t] = _given_label_wins(&P[i, 0], K, labels[i])


# ---------------------------------------------------------------------------
# Pass 3: exact per-slot top-m selection (prune by noise rate / by class)
# ---------------------------------------------------------------------------
#
# A slot is one selection: for prune-by-noise-rate the pair (given k, true j)
# keeps the m rows labelled k with the largest margin p_j - p_k; for
# prune-by-class, class k keeps the m rows labelled k with the smallest p_k
# (stored as the largest -p_k). The order is total: larger key first, then the
# smaller row index, so the chosen set is unique and does not depend on which
# thread or chunk saw a row first. Each slot is a bounded min-heap whose root
# is its current worst member.

cdef inline bint _better(double v1, i64 i1, double v2, i64 i2) noexcept nogil:
    return v1 > v2 or (v1 == v2 and i1 < i2)


cdef inline void _heap_offer(double* hv, i64* hi, i64* size, i64 cap,
                             double v, i64 idx) noexcept nogil:
    cdef i64 pos, parent, child, right, n
    if cap <= 0:
        return
    n = size[0]
    if n < cap:
        # Sift up: move parents that are better than the new item down.
        pos = n
        while pos > 0:
            parent = (pos - 1) >> 1
            if _better(hv[parent], hi[parent], v, idx):
                hv[pos] = hv[parent]
                hi[pos] = hi[parent]
                pos = parent
            else:
                break
        hv[pos] = v
        hi[pos] = idx
        size[0] = n + 1
        return
    if not _better(v, idx, hv[0], hi[0]):
        return
    # Replace the worst (root) and sift down.
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= n:
            break
        right = child + 1
        if right < n and _better(hv[child], hi[child], hv[right], hi[right]):
            child = right
        if _better(v, idx, hv[child], hi[child]):
            hv[pos] = hv[child]
            hi[pos] = hi[child]
            pos = child
        else:
            break
    hv[pos] = v
    hi[pos] = idx


cdef inline void _offer_in_order(double* hv, i64* hi, i64* size, i64 cap, double* worst,
                                  double v, i64 idx) noexcept nogil:
    # Rows reach a thread in increasing order, so a newcomer that only ties the
    # current worst loses (larger index): the caller's ``v > worst`` test is the
    # whole admission rule. ``worst`` is -inf until the heap is full.
    _heap_offer(hv, hi, size, cap, v, idx)
    if size[0] == cap:
        worst[0] = hv[0]


cdef void _select_chunk(
    const floating* P, intp K, const intp* labels, const floating* other,
    const floating* selfc, intp start, intp stop,
    const i64* pair_ptr, const intp* pair_j,
    const i64* class_slot, const i64* slot_off, const i64* slot_cap,
    double* hv, i64* hi, i64* hsize, double* worst, double* class_floor,
) noexcept nogil:
    # Pair slots are numbered in CSR order, so pair t of a class is slot t.
    # ``class_floor[k]`` is the smallest admission bar among class k's pair
    # slots. Every margin of a row is at most ``other - p_k`` (rounding is
    # monotone), so a row whose best margin cannot clear that bar is skipped
    # without touching its probabilities at all.
    cdef intp i, lab, t
    cdef i64 s, t0, t1
    cdef const floating* row
    cdef floating pk
    cdef double margin, old, floor
    for i in range(start, stop):
        lab = labels[i]
        pk = selfc[i]
        t0 = pair_ptr[lab]
        t1 = pair_ptr[lab + 1]
        if t0 < t1 and <double>(other[i] - pk) > class_floor[lab]:
            row = P + i * K
            for t in range(t0, t1):
                # The margin is taken in the input dtype, as numpy would.
                margin = <double>(row[pair_j[t]] - pk)
                if margin > worst[t]:
                    old = worst[t]
                    _offer_in_order(hv + slot_off[t], hi + slot_off[t], hsize + t,
                                    slot_cap[t], worst + t, margin, i)
                    if old == class_floor[lab] and worst[t] != old:
                        floor = worst[t0]
                        for s in range(t0 + 1, t1):
                            if worst[s] < floor:
                                floor = worst[s]
                        class_floor[lab] = floor
        s = class_slot[lab]
        if s >= 0 and -(<double>pk) > worst[s]:
            _offer_in_order(hv + slot_off[s], hi + slot_off[s], hsize + s, slot_cap[s],
                            worst + s, -(<double>pk), i)


def select_top(
    const floating[:, ::1] P,          # IN  (n, K)
    const intp[::1] labels,            # IN  (n,)
    const floating[::1] other,         # IN  (n,) max over the other classes (row_pass)
    const floating[::1] selfc,         # IN  (n,) p[i, labels[i]] (row_pass)
    const i64[::1] pair_ptr,           # IN  (K + 1,) CSR over given classes; pair t is slot t
    const intp[::1] pair_j,            # IN  (n_pairs,) true class of each pair slot
    const i64[::1] class_slot,         # IN  (K,) prune-by-class slot of class k, or -1
    const i64[::1] slot_off,           # IN  (n_slots,) heap start of each slot
    const i64[::1] slot_cap,           # IN  (n_slots,) capacity m >= 1 of each slot
    double[:, ::1] heap_val,           # OUT (n_threads, total_cap)
    i64[:, ::1] heap_idx,              # OUT (n_threads, total_cap)
    i64[:, ::1] heap_size,             # OUT (n_threads, n_slots), preset to 0
    double[:, ::1] worst,              # TMP (n_threads, n_slots), preset to -inf
    double[:, ::1] class_floor,        # TMP (n_threads, K), preset to -inf
    intp chunk_size,
    int n_threads,
):
    """Stream the rows once, keeping each slot's best ``m`` rows per thread."""
    cdef intp n = P.shape[0], K = P.shape[1]
    cdef intp n_chunks, c, start, stop
    cdef int tid
    if n == 0 or slot_off.shape[0] == 0:
        return
    if chunk_size < 1:
        chunk_size = 1
    n_chunks = (n + chunk_size - 1) // chunk_size
    if n_threads > n_chunks:
        n_threads = <int>n_chunks
    if n_threads < 1:
        n_threads = 1
    tid = 0
    with nogil, parallel(num_threads=n_threads):
        tid = threadid()
        for c in prange(n_chunks, schedule="static"):
            start = c * chunk_size
            stop = start + chunk_size
            if stop > n:
                stop = n
            _select_chunk(
                &P[0, 0], K, &labels[0], &other[0], &selfc[0], start, stop,
                &pair_ptr[0], &pair_j[0] if pair_j.shape[0] > 0 else NULL,
                &class_slot[0], &slot_off[0], &slot_cap[0],
                &heap_val[tid, 0], &heap_idx[tid, 0], &heap_size[tid, 0], &worst[tid, 0],
                &class_floor[tid, 0],
            )


def merge_heaps(
    const i64[::1] slot_off,           # IN  (n_slots,)
    const i64[::1] slot_cap,           # IN  (n_slots,)
    double[:, ::1] heap_val,           # IN/OUT (n_threads, total_cap); row 0 receives
    i64[:, ::1] heap_idx,              # IN/OUT
    i64[:, ::1] heap_size,             # IN/OUT
):
    """Fold every thread's heaps into thread 0's, slot by slot.

    The selection order is total, so the merged set equals the set a single
    thread would have kept: the merge order does not matter.
    """
    cdef intp T = heap_val.shape[0], S = slot_off.shape[0], t, s
    cdef i64 e, off
    with nogil:
        for t in range(1, T):
            for s in range(S):
                off = slot_off[s]
                for e in range(heap_size[t, s]):
                    _heap_offer(&heap_val[0, off], &heap_idx[0, off], &heap_size[0, s],
                                slot_cap[s], heap_val[t, off + e], heap_idx[t, off + e])


# ---------------------------------------------------------------------------
# Dawid-Skene EM steps (annotator consensus)
# ---------------------------------------------------------------------------

include "_dawid_skene.pxi"
