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


cdef inline bint _has_nonfinite(const floating* row, intp K) noexcept nogil:
    # A non-finite row sum can also come from finite values too large to add up.
    cdef intp k
    for k in range(K):
        if not isfinite(row[k]):
            return True
    return False


cdef inline int _threads_for(intp n_chunks, int n_threads) noexcept nogil:
    # No more threads than chunks (an idle thread would still own a buffer
    # slice), and at least one.
    if n_threads > n_chunks:
        n_threads = <int>n_chunks
    return n_threads if n_threads > 0 else 1


cdef inline intp _plan_chunks(intp n, intp* chunk_size, int want, int* n_threads) noexcept nogil:
    # Split n rows into chunks of chunk_size rows (raised to at least 1);
    # returns the chunk count and sets the threads that serve them.
    if chunk_size[0] < 1:
        chunk_size[0] = 1
    cdef intp n_chunks = (n + chunk_size[0] - 1) // chunk_size[0]
    n_threads[0] = _threads_for(n_chunks, want)
    return n_chunks


cdef inline intp _chunk_stop(intp start, intp chunk_size, intp n) noexcept nogil:
    # End of the chunk that begins at row ``start``: the last one stops at n.
    return start + chunk_size if start + chunk_size < n else n


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
    cdef intp n = P.shape[0], K = P.shape[1], i, lab, ahead = 16
    cdef intp[::1] cursor
    if n == 0:
        return
    import numpy as np
    cursor = np.array(offsets[:K], dtype=np.intp)
    with nogil:
        for i in range(n):
            if i + ahead < n:
                # One value per row, 400+ bytes apart: ask for it ahead of time.
                la_prefetch(&P[i + ahead, labels[i + ahead]])
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


cdef extern from "_rowscan.h" nogil:
    # Vectorised segment scans (SSE2, or AVX2 when the CPU has it); see the header.
    ctypedef struct la_scan:
        double sum
        double lo
        double hi
        Py_ssize_t count
        Py_ssize_t first
    void la_scan_f32(const float* row, Py_ssize_t k, Py_ssize_t stop, const float* cut,
                     la_scan* acc)
    void la_scan_f64(const double* row, Py_ssize_t k, Py_ssize_t stop, const double* cut,
                     la_scan* acc)
    void la_whole_f32(const float* row, Py_ssize_t K, const float* cut, la_scan* acc)
    void la_whole_f64(const double* row, Py_ssize_t K, const double* cut, la_scan* acc)
    intp la_hits_f32(const float* row, intp K, float pk, const float* bar, intp* out)
    intp la_hits_f64(const double* row, intp K, double pk, const double* bar, intp* out)
    # Per-pixel argmax over class planes (segmentation); 1 when a value is non-finite.
    int la_plane_argmax_f32(const float* row0, Py_ssize_t K, Py_ssize_t plane, Py_ssize_t W,
                            float* vbuf, cnp.int32_t* abuf)
    int la_plane_argmax_f64(const double* row0, Py_ssize_t K, Py_ssize_t plane, Py_ssize_t W,
                            double* vbuf, cnp.int32_t* abuf)
    int la_use_avx2()
    int la_use_avx512()
    void la_cap_level(int level)
    void la_prefetch_ahead(const void* row, Py_ssize_t nbytes)
    void la_prefetch(const void* p)


def simd_level():
    """Which row-scan code path this CPU runs: "avx512", "avx2", "sse2" or "scalar".

    AVX-512 serves the whole-row float32 scans; the other scans use AVX2 there.
    """
    cdef int avx2 = la_use_avx2()
    import platform
    if la_use_avx512():
        return "avx512"
    if avx2:
        return "avx2"
    return "sse2" if platform.machine() in ("x86_64", "AMD64") else "scalar"


def _cap_simd_level(level):
    """Tests only: use at most ``level`` ("avx512", "avx2" or "sse2") of what the CPU has.

    Not thread-safe: call it while no kernel runs. Returns the level now in use.
    """
    la_cap_level({"sse2": 0, "scalar": 0, "avx2": 1, "avx512": 2}[level])
    return simd_level()


simd_level()  # detect the CPU once, before any thread reads the flag


cdef inline void _scan_segment(const floating* row, intp k, intp stop, const floating* cut,
                               la_scan* acc) noexcept nogil:
    if floating is float:
        la_scan_f32(row, k, stop, cut, acc)
    else:
        la_scan_f64(row, k, stop, cut, acc)


cdef inline RowScan _as_rowscan(const la_scan* acc) noexcept nogil:
    cdef RowScan out
    out.lo = acc.lo
    out.hi_other = acc.hi
    out.total = acc.sum
    out.nconf = acc.count
    out.first_conf = acc.first
    return out


cdef inline RowScan _scan_row(const floating* row, intp K, intp lab,
                              const floating* cut) noexcept nogil:
    # One sweep over a row, in two segments around the given label so that the
    # maximum over the *other* classes comes for free (normalized margin and
    # the skip test of the pruning pass need it). Segments are scanned in
    # index order, so the first confident class is the smallest index.
    cdef la_scan acc
    cdef floating vl = row[lab]
    acc.sum = 0.0
    acc.lo = vl
    acc.hi = -INFINITY
    acc.count = 0
    acc.first = -1
    _scan_segment(row, 0, lab, cut, &acc)
    if cut != NULL and vl >= cut[lab]:
        acc.count += 1
        if acc.first < 0:
            acc.first = lab
    acc.sum += vl
    _scan_segment(row, lab + 1, K, cut, &acc)
    return _as_rowscan(&acc)


cdef inline RowScan _scan_whole(const floating* row, intp K, const floating* cut) noexcept nogil:
    # One sweep over the whole row, for passes that need no maximum over the
    # other classes: ``hi_other`` is then the row maximum.
    cdef la_scan acc
    acc.sum = 0.0
    acc.lo = INFINITY
    acc.hi = -INFINITY
    acc.count = 0
    acc.first = -1
    if floating is float:
        la_whole_f32(row, K, cut, &acc)
    else:
        la_whole_f64(row, K, cut, &acc)
    return _as_rowscan(&acc)


cdef void _row_pass_chunk(
    const floating* P, intp K, const intp* labels, intp start, intp stop,
    const floating* cut, i64* cj, i32* guess, u8* keep, floating* other, floating* selfc,
    floating* score, double* score64, int score_kind,
    const double* adjust, double log_k,
    i64* bad, double sum_tol, double range_tol,
) noexcept nogil:
    cdef intp i, k, lab, nconf, first_conf, g
    cdef const floating* row
    cdef floating vmax, sc, bumped
    cdef double s, ent, a, asum, aother, alab, q, clipped
    cdef RowScan r
    # The maximum over the other classes is only needed by these outputs.
    cdef bint need_other = (other != NULL or keep != NULL
                            or score_kind == SCORE_NORMALIZED_MARGIN)
    for i in range(start, stop):
        row = P + i * K
        la_prefetch_ahead(row, K * sizeof(floating))
        lab = labels[i]
        if need_other:
            r = _scan_row(row, K, lab, cut)
        else:
            r = _scan_whole(row, K, cut)
        s = r.total
        nconf = r.nconf
        first_conf = r.first_conf
        vmax = <floating>r.hi_other
        if row[lab] > vmax:
            vmax = row[lab]
        # Validation notes (the wrapper raises after the pass). A NaN or an
        # infinity anywhere makes the row sum non-finite; so can finite values
        # too large to add up, which the range checks below report instead.
        if not isfinite(s) and _has_nonfinite(row, K):
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
            # The label wins the bumped argmax when its bumped value beats the
            # best other class outright; an exact tie needs the index rule.
            bumped = row[lab] + <floating>1e-6
            if bumped > <floating>r.hi_other:
                keep[i] = 1
            elif bumped < <floating>r.hi_other:
                keep[i] = 0
            else:
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
    cdef intp n_chunks, c, start
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
    n_chunks = _plan_chunks(n, &chunk_size, n_threads, &n_threads)
    tid = 0
    with nogil, parallel(num_threads=n_threads):
        tid = threadid()
        for c in prange(n_chunks, schedule="static"):
            start = c * chunk_size
            _row_pass_chunk(
                &P[0, 0], K, &labels[0], start, _chunk_stop(start, chunk_size, n),
                cut_p, &cj[tid, 0, 0] if do_cj else NULL,
                guess_p, keep_p, other_p, selfc_p, score_p, score64_p, score_kind, adjust_p, log_k,
                &bad[tid, 0], sum_tol, range_tol,
            )


cdef void _argmax_chunk(const floating* P, intp K, intp start, intp stop,
                        intp* out) noexcept nogil:
    cdef intp i
    for i in range(start, stop):
        out[i] = _row_argmax(P + i * K, K)


@cython.boundscheck(False)
def row_argmax(
    const floating[:, ::1] P,          # IN  (n, K), finite
    intp[::1] out,                     # OUT (n,) first index of each row's maximum
    intp chunk_size,
    int n_threads,
):
    """First index of each row's maximum, as ``numpy.argmax(P, axis=1)``.

    Streams over the rows in chunks without a temporary the size of ``P``
    (numpy's argmax copies a read-only memory map), so a memory-mapped matrix
    larger than RAM costs only the ``(n,)`` output.
    """
    cdef intp n = P.shape[0], K = P.shape[1]
    cdef intp n_chunks, c, start
    if n == 0:
        return
    n_chunks = _plan_chunks(n, &chunk_size, n_threads, &n_threads)
    with nogil, parallel(num_threads=n_threads):
        for c in prange(n_chunks, schedule="static"):
            start = c * chunk_size
            _argmax_chunk(&P[0, 0], K, start, _chunk_stop(start, chunk_size, n), &out[0])


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


cdef inline void _sift_down(double* hv, i64* hi, i64 pos, i64 n) noexcept nogil:
    # Restore the heap below ``pos`` (the worst item at the root) within n items.
    cdef i64 child, right
    cdef double v = hv[pos]
    cdef i64 idx = hi[pos]
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


cdef inline void _heap_offer(double* hv, i64* hi, i64* size, i64 cap,
                             double v, i64 idx) noexcept nogil:
    cdef i64 pos, parent, n
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
    hv[0] = v
    hi[0] = idx
    _sift_down(hv, hi, 0, n)


cdef inline void _offer_in_order(double* hv, i64* hi, i64* size, i64 cap, double* worst,
                                  double v, i64 idx) noexcept nogil:
    # Offer a row to a slot and keep ``worst`` (the admission bar) current:
    # -inf until the heap is full, then the key of its worst member.
    _heap_offer(hv, hi, size, cap, v, idx)
    if size[0] == cap:
        worst[0] = hv[0]


cdef inline void _refresh_floor(double* class_floor, intp lab, const i64* pair_ptr,
                                const intp* pair_j, const double* worst,
                                const floating* bar, intp K) noexcept nogil:
    # The smallest admission bar among the class's pair slots.
    cdef i64 t
    cdef double floor = INFINITY, w
    for t in range(pair_ptr[lab], pair_ptr[lab + 1]):
        w = <double>bar[lab * K + pair_j[t]] if bar != NULL else worst[t]
        if w < floor:
            floor = w
    class_floor[lab] = floor


cdef void _select_chunk(
    const floating* P, intp K, const intp* labels, const floating* other,
    const floating* selfc, intp start, intp stop, const intp* rows, const u8* skip,
    const i64* pair_ptr, const intp* pair_j, const i64* pair_of,
    const i64* class_slot, const i64* slot_off, const i64* slot_cap,
    double* hv, i64* hi, i64* hsize, double* worst, double* class_floor,
    floating* bar, intp* hits,
) noexcept nogil:
    # Pair slots are numbered in CSR order, so pair t of a class is slot t.
    # ``class_floor[k]`` is the smallest admission bar among class k's pair
    # slots. Every margin of a row is at most ``other - p_k`` (rounding is
    # monotone), so a row whose best margin cannot clear that bar is skipped
    # without touching its probabilities at all.
    #
    # Dense layout (``bar`` not NULL, moderate K): ``bar[k * K + j]`` is the
    # admission bar of pair (k, j) in the input dtype (+inf for pairs with
    # nothing to prune), so one vectorised sweep finds the few margins that
    # clear their bars. Sparse layout: walk the class's pair list.
    #
    # Rows may arrive out of order (likely issues first, so that the bars rise
    # early), hence the ">=" admission tests: a newcomer that ties a bar is
    # let in and the heap's full order (key, then row index) decides.
    cdef intp i, q, lab, t, j, h, nh
    cdef i64 s, t0, t1
    cdef const floating* row
    cdef floating pk, m, oth
    cdef double margin, old
    for q in range(start, stop):
        i = rows[q] if rows != NULL else q
        if skip != NULL and skip[i]:
            continue
        lab = labels[i]
        row = P + i * K
        if selfc != NULL:
            pk = selfc[i]
            oth = other[i]
        else:
            # No per-row arrays: read p[label] and the best other class here.
            pk = row[lab]
            oth = -INFINITY
            for j in range(K):
                if j != lab and row[j] > oth:
                    oth = row[j]
        t0 = pair_ptr[lab]
        t1 = pair_ptr[lab + 1]
        if t0 < t1 and <double>(oth - pk) >= class_floor[lab]:
            if bar != NULL:
                if floating is float:
                    nh = la_hits_f32(row, K, pk, bar + lab * K, hits)
                else:
                    nh = la_hits_f64(row, K, pk, bar + lab * K, hits)
                for h in range(nh):
                    j = hits[h]
                    t = pair_of[lab * K + j]
                    m = row[j] - pk
                    old = bar[lab * K + j]
                    _offer_in_order(hv + slot_off[t], hi + slot_off[t], hsize + t,
                                    slot_cap[t], worst + t, <double>m, i)
                    bar[lab * K + j] = <floating>worst[t]
                    if old == class_floor[lab] and worst[t] != old:
                        _refresh_floor(class_floor, lab, pair_ptr, pair_j, worst, bar, K)
            else:
                for t in range(t0, t1):
                    # The margin is taken in the input dtype, as numpy would.
                    margin = <double>(row[pair_j[t]] - pk)
                    if margin >= worst[t]:
                        old = worst[t]
                        _offer_in_order(hv + slot_off[t], hi + slot_off[t], hsize + t,
                                        slot_cap[t], worst + t, margin, i)
                        if old == class_floor[lab] and worst[t] != old:
                            _refresh_floor(class_floor, lab, pair_ptr, pair_j, worst,
                                           <floating*>NULL, K)
        s = class_slot[lab]
        if s >= 0 and -(<double>pk) >= worst[s]:
            _offer_in_order(hv + slot_off[s], hi + slot_off[s], hsize + s, slot_cap[s],
                            worst + s, -(<double>pk), i)


def select_top(
    const floating[:, ::1] P,          # IN  (n, K)
    const intp[::1] labels,            # IN  (n,)
    const floating[::1] other,         # IN  (n,) max over the other classes (row_pass), or (0,)
    const floating[::1] selfc,         # IN  (n,) p[i, labels[i]] (row_pass), or (0,): read from P
    const i64[::1] pair_ptr,           # IN  (K + 1,) CSR over given classes; pair t is slot t
    const intp[::1] pair_j,            # IN  (n_pairs,) true class of each pair slot
    const i64[::1] pair_of,            # IN  (K * K,) slot of pair (k, j), or empty (sparse)
    const i64[::1] class_slot,         # IN  (K,) prune-by-class slot of class k, or -1
    const i64[::1] slot_off,           # IN  (n_slots,) heap start of each slot
    const i64[::1] slot_cap,           # IN  (n_slots,) capacity m >= 1 of each slot
    double[:, ::1] heap_val,           # OUT (n_threads, total_cap)
    i64[:, ::1] heap_idx,              # OUT (n_threads, total_cap)
    i64[:, ::1] heap_size,             # OUT (n_threads, n_slots), preset to 0
    double[:, ::1] worst,              # TMP (n_threads, n_slots), preset to -inf
    double[:, ::1] class_floor,        # TMP (n_threads, K), preset to -inf
    floating[:, ::1] bar,              # TMP (n_threads, K * K) dense bars, or (0, 0)
    intp[:, ::1] hits,                 # TMP (n_threads, K)
    const intp[::1] first,             # IN  (m,) rows to offer first (likely issues), sorted
    const u8[::1] is_first,            # IN  (n,) 1 for the rows in ``first``
    intp chunk_size,
    int n_threads,
):
    """Stream the rows, keeping each slot's best ``m`` rows per thread.

    Rows listed in ``first`` (rows whose given label is not the model's top
    class) are offered before the rest: they hold most of the winners, so the admission bars
    reach their final height early and the second sweep skips most rows
    without reading them. The selection order is total, so the order of
    arrival never changes the kept set.
    """
    cdef intp n = P.shape[0], K = P.shape[1], n_first = first.shape[0]
    cdef intp n_chunks, c, start, phase, count
    cdef int tid, threads
    cdef bint dense = bar.shape[0] > 0
    if n == 0 or slot_off.shape[0] == 0:
        return
    threads = n_threads
    for phase in range(2):
        count = n_first if phase == 0 else n
        if count == 0:
            continue
        n_chunks = _plan_chunks(count, &chunk_size, threads, &n_threads)
        tid = 0
        with nogil, parallel(num_threads=n_threads):
            tid = threadid()
            for c in prange(n_chunks, schedule="static"):
                start = c * chunk_size
                _select_chunk(
                    &P[0, 0], K, &labels[0],
                    &other[0] if other.shape[0] > 0 else NULL,
                    &selfc[0] if selfc.shape[0] > 0 else NULL,
                    start, _chunk_stop(start, chunk_size, count),
                    &first[0] if phase == 0 else NULL,
                    &is_first[0] if phase == 1 and n_first > 0 else NULL,
                    &pair_ptr[0], &pair_j[0] if pair_j.shape[0] > 0 else NULL,
                    &pair_of[0] if dense else NULL,
                    &class_slot[0], &slot_off[0], &slot_cap[0],
                    &heap_val[tid, 0], &heap_idx[tid, 0], &heap_size[tid, 0], &worst[tid, 0],
                    &class_floor[tid, 0], &bar[tid, 0] if dense else NULL, &hits[tid, 0],
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


@cython.boundscheck(False)
def sort_heaps(
    const i64[::1] slot_off,           # IN  (n_slots,)
    double[::1] heap_val,              # IN/OUT (total_cap,) one thread's heaps
    i64[::1] heap_idx,                 # IN/OUT
    const i64[::1] heap_size,          # IN  (n_slots,)
):
    """Heapsort every slot's heap in place: best first (larger key, then smaller row)."""
    cdef intp S = slot_off.shape[0], s
    cdef i64 off, end
    cdef double tv
    cdef i64 ti
    with nogil:
        for s in range(S):
            off = slot_off[s]
            end = heap_size[s] - 1
            while end > 0:
                # The root is the worst remaining item: it goes last.
                tv = heap_val[off]
                ti = heap_idx[off]
                heap_val[off] = heap_val[off + end]
                heap_idx[off] = heap_idx[off + end]
                heap_val[off + end] = tv
                heap_idx[off + end] = ti
                _sift_down(&heap_val[off], &heap_idx[off], 0, end)
                end -= 1


# ---------------------------------------------------------------------------
# Dawid-Skene EM steps (annotator consensus)
# ---------------------------------------------------------------------------

include "_dawid_skene.pxi"
include "_detection.pxi"

include "_token.pxi"
include "_multilabel.pxi"
include "_regression.pxi"
include "_segmentation.pxi"
