# Multi-label kernels: one class's yes/no problem at a time.
#
# cleanlab audits class c of a multi-label problem as the binary problem
# (label = item carries c, probabilities [1 - p_c, p_c]). These kernels read
# column c of the (n, K) matrix and the packed label bits in row chunks, and
# fuse everything the binary filters need into one pass over the rows: the
# 2 x 2 confident counts, the "given label wins" flags and the pruning keys.
# Counts are integers merged per chunk in chunk order, so they do not depend
# on threads or chunk size; every other output is per row.
#
# Label bits follow np.packbits(axis=1): class c of row i is bit 7 - (c % 8)
# of byte bits[i, c // 8].


def ml_column(
    const floating[:, ::1] P,          # IN  (n, K) per-class probabilities
    const u8[:, ::1] bits,             # IN  (n, ceil(K / 8)) packed label bits
    intp c,                            # IN  the class
    floating[::1] x,                   # OUT (n,) P[:, c], contiguous
    u8[::1] y,                         # OUT (n,) 1 when row i carries class c
    int n_threads=1,
    intp chunk_size=65536,
):
    """Copy column ``c`` of ``P`` and of the label bits into contiguous vectors.

    Parameters
    ----------
    P : ndarray of shape (n_samples, n_classes), dtype=floating
    bits : ndarray of uint8, shape (n_samples, ceil(n_classes / 8))
    c : int
    x : ndarray of shape (n_samples,), dtype=floating
    y : ndarray of uint8, shape (n_samples,)
    n_threads, chunk_size : int
        Threads and rows per chunk (outputs are per row: no effect on them).
    """
    cdef intp n = P.shape[0], n_chunks, ch, i, start, stop
    cdef intp byte = c >> 3
    cdef int shift = 7 - <int>(c & 7)
    if n == 0:
        return
    n_chunks = _plan_chunks(n, &chunk_size, n_threads, &n_threads)
    with nogil:
        for ch in prange(n_chunks, schedule="static", num_threads=n_threads):
            start = ch * chunk_size
            stop = _chunk_stop(start, chunk_size, n)
            for i in range(start, stop):
                x[i] = P[i, c]
                y[i] = (bits[i, byte] >> shift) & 1


def ml_binary_pass(
    const floating[::1] x,             # IN  (n,) probability of the class
    const u8[::1] y,                   # IN  (n,) 0/1 given label
    const floating[::1] cut,           # IN  (2,) thresholds - 1e-6, in the dtype of x
    floating[::1] margin,              # OUT (n,) q[other] - q[given]
    u8[::1] keep,                      # OUT (n,) argmax(q + 1e-6 onehot(given)) == given
    u8[::1] off,                       # OUT (n,) confident guess differs from the label
    i64[:, ::1] chunk_counts,          # OUT (n_chunks, 4) confident counts per chunk
    int n_threads=1,
    intp chunk_size=65536,
):
    """One pass over a yes/no problem ``q = [1 - x, x]`` with given label ``y``.

    Per row: the confident guess (``q_j >= cut_j``; one confident column is
    the guess, two give the argmax of ``q``, first on ties) counted into
    ``chunk_counts[chunk, 2 * given + guess]``; ``off`` when a guess exists
    and differs from the label; ``keep`` when the given label is the argmax
    after a ``1e-6`` bump in the dtype of ``x``; and the pruning key
    ``margin = q[1 - given] - q[given]`` rounded in that dtype. ``1 - x`` is
    also rounded in the dtype of ``x``, exactly as ``np.vstack((1 - p, p))``.

    Parameters
    ----------
    x : ndarray of shape (n_samples,), dtype=floating
    y : ndarray of uint8, shape (n_samples,)
    cut : ndarray of shape (2,), dtype=floating
    margin : ndarray of shape (n_samples,), dtype=floating
    keep, off : ndarray of uint8, shape (n_samples,)
    chunk_counts : ndarray of int64, shape (n_chunks, 4)
        ``n_chunks = ceil(n_samples / chunk_size)``; the caller sums the rows.
    n_threads, chunk_size : int
    """
    cdef intp n = x.shape[0], n_chunks, ch, i, start, stop
    cdef floating q0, q1, bumped
    cdef floating c0 = cut[0], c1 = cut[1]
    cdef bint b0, b1
    cdef int lab, guess
    if n == 0:
        return
    n_chunks = _plan_chunks(n, &chunk_size, n_threads, &n_threads)
    if chunk_counts.shape[0] != n_chunks or chunk_counts.shape[1] != 4:
        raise ValueError(f"chunk_counts must have shape ({n_chunks}, 4)")
    with nogil:
        for ch in prange(n_chunks, schedule="static", num_threads=n_threads):
            start = ch * chunk_size
            stop = _chunk_stop(start, chunk_size, n)
            chunk_counts[ch, 0] = 0
            chunk_counts[ch, 1] = 0
            chunk_counts[ch, 2] = 0
            chunk_counts[ch, 3] = 0
            for i in range(start, stop):
                # Scalars only: C arrays are not private to prange threads.
                q1 = x[i]
                q0 = <floating>(1 - q1)
                lab = y[i]
                b0 = q0 >= c0
                b1 = q1 >= c1
                guess = -1
                if b0 and b1:
                    guess = 1 if q1 > q0 else 0
                elif b0:
                    guess = 0
                elif b1:
                    guess = 1
                if guess >= 0:
                    chunk_counts[ch, 2 * lab + guess] += 1
                off[i] = guess >= 0 and guess != lab
                # _given_label_wins for two columns: the bumped label loses
                # only to a larger value after it or an equal-or-larger before it.
                if lab == 1:
                    bumped = <floating>(q1 + <floating>1e-6)
                    keep[i] = not (q0 >= bumped)
                    margin[i] = <floating>(q0 - q1)
                else:
                    bumped = <floating>(q0 + <floating>1e-6)
                    keep[i] = not (q1 > bumped)
                    margin[i] = <floating>(q1 - q0)
