# ---------------------------------------------------------------------------
# Regression label quality (included at the end of _core.pyx)
# ---------------------------------------------------------------------------
#
# Two per-item scores of a numeric label given an out-of-sample prediction:
#
# * residual: exp(-|prediction - label|), one fused pass with no temporaries;
# * outre: every item is a point (standardised label, scaled standardised
#   residual) in the plane, and its score depends on the mean Euclidean
#   distance to its k = ceil(n / 2) nearest points (itself included).  Because
#   k grows with n, the exact answer needs every pairwise distance; what can be
#   avoided is storing them.  For each query we compute the n squared
#   distances into a thread-local buffer, find the k-th smallest exactly by
#   selection, and sum the square roots of everything below it in row order.
#
# Exactness and determinism of the outre kernel: the k-th smallest squared
# distance v of a query is a single well-defined number, and the mean is
# always summed as (sum over j in row order of sqrt(d2[j]) for d2[j] < v)
# + (k - count) * sqrt(v).  So the selection strategy (which may use the
# previous query of the same chunk to narrow the candidates, see below) and the
# chunking never change a single bit of the result.

from libc.math cimport exp, expf, fabs, fabsf, isnan, sqrt
from libc.stdlib cimport free, malloc


def regression_residual_scores(
    const floating[::1] labels,         # IN  (n,)
    const floating[::1] predictions,    # IN  (n,)
    floating[::1] out,                  # OUT (n,) exp(-|prediction - label|)
    intp chunk_size,
    int n_threads,
):
    """Write ``exp(-|predictions - labels|)`` into ``out``; return the count of NaN scores.

    Parameters
    ----------
    labels, predictions : ndarray of shape (n,), dtype=floating
    out : ndarray of shape (n,), dtype=floating
    chunk_size : int
        Rows per scheduled chunk.
    n_threads : int

    Returns
    -------
    int
        Number of rows whose score is NaN (a NaN input, or infinities of the
        same sign on both sides); the wrapper turns NaN inputs into an error.
    """
    cdef intp n = labels.shape[0]
    cdef intp n_chunks, c, i, start, stop
    cdef i64 n_nan = 0
    cdef floating d
    if n == 0:
        return 0
    if chunk_size < 1:
        chunk_size = 1
    n_chunks = (n + chunk_size - 1) // chunk_size
    if n_threads > n_chunks:
        n_threads = <int>n_chunks
    with nogil:
        # Integer reduction: the count is the same whatever the schedule.
        for c in prange(n_chunks, schedule="static", num_threads=n_threads):
            start = c * chunk_size
            stop = start + chunk_size
            if stop > n:
                stop = n
            for i in range(start, stop):
                d = predictions[i] - labels[i]
                if floating is float:
                    out[i] = expf(-fabsf(d))
                else:
                    out[i] = exp(-fabs(d))
                if isnan(out[i]):
                    n_nan += 1
    return n_nan


def regression_first_nonfinite(const floating[::1] values):  # IN (n,)
    """First row holding NaN and first row holding an infinity (``-1`` when none).

    Parameters
    ----------
    values : ndarray of shape (n,), dtype=floating

    Returns
    -------
    tuple of int
        ``(first_nan, first_inf)``.
    """
    cdef intp n = values.shape[0], i
    cdef intp first_nan = -1, first_inf = -1
    cdef double v
    with nogil:
        for i in range(n):
            v = values[i]
            if isnan(v):
                if first_nan < 0:
                    first_nan = i
            elif not isfinite(v):
                if first_inf < 0:
                    first_inf = i
            if first_nan >= 0 and first_inf >= 0:
                break
    return first_nan, first_inf


cdef inline double _select_kth(double* a, intp m, intp r) noexcept nogil:
    # The r-th smallest (0-based) of a[0:m], rearranging a in place
    # (Hoare partition around a median of three; equal keys stop both scans,
    # so runs of ties split evenly instead of degrading to quadratic time).
    cdef intp lo = 0, hi = m - 1, i, j, mid
    cdef double pivot, t
    while hi > lo:
        mid = lo + (hi - lo) // 2
        # Order a[lo], a[mid], a[hi] so a[mid] is their median.
        if a[mid] < a[lo]:
            t = a[mid]; a[mid] = a[lo]; a[lo] = t
        if a[hi] < a[lo]:
            t = a[hi]; a[hi] = a[lo]; a[lo] = t
        if a[hi] < a[mid]:
            t = a[hi]; a[hi] = a[mid]; a[mid] = t
        pivot = a[mid]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                t = a[i]; a[i] = a[j]; a[j] = t
                i += 1
                j -= 1
        # Now a[lo..j] <= pivot <= a[i..hi] and a[j+1..i-1] == pivot.
        if r <= j:
            hi = j
        elif r >= i:
            lo = i
        else:
            return a[r]
    return a[r]


cdef void _knn_mean_chunk(
    const floating* fx, const floating* fy, const intp* order, intp n, intp k,
    intp start, intp stop, double* out, double* d2, double* cand,
) noexcept nogil:
    # Mean distance to the k nearest points for queries order[start:stop].
    cdef intp t, q, j, n_lo, n_cand, count
    cdef double qx, qy, dx, dy, v, s, s0, s1, s2, s3, prev_r = -1.0, prev_x = 0.0, prev_y = 0.0
    cdef double step, r_lo, r_hi, t_lo, t_hi, dj
    cdef bint bracketed
    for t in range(start, stop):
        q = order[t]
        qx = fx[q]
        qy = fy[q]
        # The k-th nearest distance is 1-Lipschitz in the query point, so the
        # previous query's radius +- the step between the two queries brackets
        # this one's; only points inside that annulus need a selection.  The
        # bracket is only a hint: the counts below decide whether it holds.
        if prev_r >= 0.0:
            step = sqrt((qx - prev_x) * (qx - prev_x) + (qy - prev_y) * (qy - prev_y))
            r_lo = prev_r - step
            r_hi = prev_r + step
            t_lo = r_lo * r_lo * (1.0 - 1e-9) if r_lo > 0.0 else -1.0
            t_hi = r_hi * r_hi * (1.0 + 1e-9) + 1e-300
        else:
            t_lo = -1.0
            t_hi = -1.0
        n_lo = 0
        n_cand = 0
        for j in range(n):
            dx = <double>fx[j] - qx
            dy = <double>fy[j] - qy
            dj = dx * dx + dy * dy
            d2[j] = dj
            # Branch-free: which side of the bracket a point falls on is a coin
            # flip for the branch predictor. The store always happens; only
            # the candidate count decides whether it is kept.
            n_lo += dj < t_lo
            cand[n_cand] = dj
            n_cand += (dj >= t_lo) & (dj <= t_hi)
        bracketed = n_lo <= k - 1 and k - 1 < n_lo + n_cand
        if bracketed:
            v = _select_kth(cand, n_cand, k - 1 - n_lo)
        else:
            for j in range(n):
                cand[j] = d2[j]
            v = _select_kth(cand, n, k - 1)
        # Canonical sum: four interleaved accumulators over rows in order
        # (fixed, so the same bits whatever the selection path), then the
        # ties at the k-th distance. Masked instead of branched, as above.
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        count = 0
        j = 0
        while j + 4 <= n:
            s0 = s0 + sqrt(d2[j]) * (d2[j] < v)
            s1 = s1 + sqrt(d2[j + 1]) * (d2[j + 1] < v)
            s2 = s2 + sqrt(d2[j + 2]) * (d2[j + 2] < v)
            s3 = s3 + sqrt(d2[j + 3]) * (d2[j + 3] < v)
            count += (d2[j] < v) + (d2[j + 1] < v) + (d2[j + 2] < v) + (d2[j + 3] < v)
            j += 4
        while j < n:
            s0 = s0 + sqrt(d2[j]) * (d2[j] < v)
            count += d2[j] < v
            j += 1
        s = ((s0 + s1) + (s2 + s3)) + (k - count) * sqrt(v)
        out[q] = s / k
        prev_r = sqrt(v)
        prev_x = qx
        prev_y = qy


def regression_knn_mean_distances(
    const floating[::1] fx,        # IN  (n,) first coordinate of each point
    const floating[::1] fy,        # IN  (n,) second coordinate
    const intp[::1] order,         # IN  (n,) query order (a permutation; speed only)
    intp k,
    double[::1] out,               # OUT (n,) mean distance to the k nearest points
    intp chunk_size,
    int n_threads,
):
    """Mean Euclidean distance from each point to its ``k`` nearest points (itself included).

    Distances are computed in float64 from the given coordinates, exactly
    (no norm expansion), with O(n) memory per thread.

    Parameters
    ----------
    fx, fy : ndarray of shape (n,), dtype=floating
        Coordinates of the points.
    order : ndarray of shape (n,), dtype=intp
        The order queries are processed in (nearby queries one after another
        make the selection cheaper); it never changes the result.
    k : int
        Neighbours per point, ``1 <= k <= n``.
    out : ndarray of shape (n,), dtype=float64
    chunk_size : int
        Queries per scheduled chunk.
    n_threads : int

    Returns
    -------
    bool
        False when a thread could not allocate its buffers (nothing is
        trustworthy then).
    """
    cdef intp n = fx.shape[0]
    cdef intp n_chunks, c, start, stop
    cdef double* d2
    cdef double* cand
    # A C array, not a scalar: threads write into it without privatising it.
    cdef int failed[1]
    failed[0] = 0
    if n == 0:
        return True
    if chunk_size < 1:
        chunk_size = 1
    n_chunks = (n + chunk_size - 1) // chunk_size
    if n_threads > n_chunks:
        n_threads = <int>n_chunks
    with nogil, parallel(num_threads=n_threads):
        # Two n-long buffers per thread: the squared distances of one query
        # and the candidates the selection rearranges.
        d2 = <double*>malloc(n * sizeof(double))
        cand = <double*>malloc(n * sizeof(double))
        for c in prange(n_chunks, schedule="static"):
            start = c * chunk_size
            stop = start + chunk_size
            if stop > n:
                stop = n
            if d2 == NULL or cand == NULL:
                failed[0] = 1
            else:
                _knn_mean_chunk(&fx[0], &fy[0], &order[0], n, k, start, stop, &out[0],
                                d2, cand)
        free(d2)
        free(cand)
    return failed[0] == 0
