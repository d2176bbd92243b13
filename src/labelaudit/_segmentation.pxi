# ---------------------------------------------------------------------------
# Semantic segmentation: per-pixel passes over (n, K, H, W) probability blocks
# ---------------------------------------------------------------------------
#
# Every kernel below reads one block of whole images, ``P`` of shape
# (n, K, H, W) and ``L`` of shape (n, H, W) (given labels as intp), both
# C-contiguous, so a block of a read-only memory map is read in place. Images
# are handed to threads with a static schedule and each image is processed by
# one thread in pixel order, so per-image results (sums, tie counts, scores)
# never depend on the thread count or on how images are grouped into blocks;
# the only cross-image partials are integer counts (histograms, tallies) kept
# per thread and summed by the caller.
#
# The pixel ranking (cleanlab sorts every pixel's self-confidence) is replaced
# by an exact radix selection: scores map to unsigned keys whose order is the
# float order, a 16-bit digit is histogrammed per pass, and the cut value is
# pinned down digit by digit. Memory is O(threads x 65536), not O(pixels).

from libc.math cimport exp
from libc.string cimport memcpy

ctypedef cnp.uint64_t u64
ctypedef cnp.uint32_t u32

cdef enum:
    SEG_DIGITS = 65536  # bins of one radix digit (16 bits)


cdef inline u64 _seg_key(floating v) noexcept nogil:
    # Unsigned key with the same order as the float values: flip every bit of
    # a negative number, set the sign bit of a non-negative one. -0.0 is
    # folded into +0.0 first (numpy's sort treats them as equal).
    cdef u32 b32
    cdef u64 b64
    cdef float f
    cdef double d
    if floating is float:
        f = v
        if f == 0:
            f = 0.0
        memcpy(&b32, &f, 4)
        if b32 >> 31:
            b32 = ~b32
        else:
            b32 = b32 | <u32>0x80000000
        return <u64>b32
    else:
        d = v
        if d == 0:
            d = 0.0
        memcpy(&b64, &d, 8)
        if b64 >> 63:
            b64 = ~b64
        else:
            b64 = b64 | (<u64>1 << 63)
        return b64


cdef inline void _seg_row_argmax(const floating* row0, intp K, intp plane, intp W,
                                 floating* vbuf, i32* abuf, i64* n_bad) noexcept nogil:
    # argmax over classes for every pixel of one image row starting at row0
    # (class k of pixel j sits at row0[k * plane + j]); first index on ties,
    # like numpy (a later class wins only when strictly larger). The sweep is
    # la_plane_argmax_* in _rowscan.h: classes plane by plane, selects without
    # branches and a quiet comparison, so the loop over each plane vectorises.
    # An image row with a non-finite value adds one to n_bad.
    cdef int bad
    if floating is float:
        bad = la_plane_argmax_f32(row0, K, plane, W, vbuf, abuf)
    else:
        bad = la_plane_argmax_f64(row0, K, plane, W, vbuf, abuf)
    if bad:
        n_bad[0] += 1


def seg_threshold_pass(
    const floating[:, :, :, ::1] P,    # IN  (n, K, H, W)
    const intp[:, :, ::1] L,           # IN  (n, H, W) labels in [0, K)
    double[:, ::1] sums,               # OUT (n, K) zeroed: sum of p[label] per class
    i64[:, ::1] counts,                # OUT (n, K) zeroed: pixels per given class
    int n_threads,
):
    """Per image and given class: pixel count and the sum of its self-confidence."""
    cdef intp n = P.shape[0], H = P.shape[2], W = P.shape[3], plane = H * W
    cdef const floating* row
    cdef const intp* lab
    cdef intp m, i, j, s
    cdef int nt = _threads_for(n, n_threads)
    if n == 0:
        return
    with nogil:
        for m in prange(n, schedule="static", num_threads=nt):
            for i in range(H):
                row = &P[m, 0, i, 0]
                lab = &L[m, i, 0]
                for j in range(W):
                    s = lab[j]
                    sums[m, s] += row[s * plane + j]
                    counts[m, s] += 1


def seg_count_pass(
    const floating[:, :, :, ::1] P,    # IN  (n, K, H, W)
    const intp[:, :, ::1] L,           # IN  (n, H, W)
    const double[::1] adj_thresholds,  # IN  (K,) confident thresholds - 1e-6
    u8[:, :, ::1] mismatch,            # OUT (n, H, W) argmax != label, or shape (0, 0, 0)
    i64[:, ::1] hist,                  # IN/OUT (threads, 65536) top digit of the score keys
    int shift,                         # bit offset of the top digit (16 or 48)
    i64[:, ::1] tally,                 # IN/OUT (threads, 2): confident off-label pixels, non-finite values
    floating[:, ::1] vbuf,             # scratch (threads, W)
    i32[:, ::1] abuf,                  # scratch (threads, W)
    int n_threads,
):
    """Count the pixels cleanlab calls issues and histogram the first score digit.

    A pixel counts when its argmax class ``a`` is not its label and
    ``p[a] >= adj_thresholds[a]`` (compared in float64, as numpy promotes).
    """
    cdef intp n = P.shape[0], H = P.shape[2], W = P.shape[3], plane = H * W
    cdef const floating* row
    cdef const intp* lab
    cdef intp m, i, j, s, a
    cdef int tid
    cdef bint write = mismatch.shape[0] > 0
    cdef u64 key
    cdef int nt = _threads_for(n, n_threads)
    if n == 0:
        return
    with nogil, parallel(num_threads=nt):
        tid = threadid()
        for m in prange(n, schedule="static"):
            for i in range(H):
                row = &P[m, 0, i, 0]
                lab = &L[m, i, 0]
                _seg_row_argmax(&P[m, 0, i, 0], P.shape[1], H * W, W, &vbuf[tid, 0], &abuf[tid, 0], &tally[tid, 1])
                for j in range(W):
                    s = L[m, i, j]
                    a = abuf[tid, j]
                    if a != s and <double>vbuf[tid, j] >= adj_thresholds[a]:
                        tally[tid, 0] += 1
                    if write:
                        mismatch[m, i, j] = a != s
                    key = _seg_key(row[s * plane + j])
                    hist[tid, (key >> shift) & 0xFFFF] += 1


def seg_radix_pass(
    const floating[:, :, :, ::1] P,    # IN  (n, K, H, W)
    const intp[:, :, ::1] L,           # IN  (n, H, W)
    u64 prefix,                        # IN  the digits above ``shift`` already fixed
    int shift,                         # bit offset of the digit to histogram
    i64[:, ::1] hist,                  # IN/OUT (threads, 65536)
    int n_threads,
):
    """Histogram one 16-bit digit of the score keys whose higher digits equal ``prefix``."""
    cdef intp n = P.shape[0], H = P.shape[2], W = P.shape[3], plane = H * W
    cdef const floating* row
    cdef const intp* lab
    cdef intp m, i, j
    cdef int tid
    cdef int up = shift + 16
    cdef u64 key
    cdef int nt = _threads_for(n, n_threads)
    if n == 0:
        return
    with nogil, parallel(num_threads=nt):
        tid = threadid()
        for m in prange(n, schedule="static"):
            for i in range(H):
                row = &P[m, 0, i, 0]
                lab = &L[m, i, 0]
                for j in range(W):
                    key = _seg_key(row[lab[j] * plane + j])
                    if (key >> up) == prefix:
                        hist[tid, (key >> shift) & 0xFFFF] += 1


def seg_select_pass(
    const floating[:, :, :, ::1] P,    # IN  (n, K, H, W)
    const intp[:, :, ::1] L,           # IN  (n, H, W)
    u64 cut,                           # IN  key of the cut score
    const i64[::1] quota,              # IN  (n,) ties at the cut each image may take
    u8[:, :, ::1] flags,               # IN/OUT (n, H, W), or shape (0, 0, 0) to only count
    bint combine,                      # True: flags &= selected; False: flags = selected
    i64[::1] ties,                     # OUT (n,) pixels whose score equals the cut
    int n_threads,
):
    """Mark the pixels whose score is below the cut, plus the first ``quota`` ties per image."""
    cdef intp n = P.shape[0], H = P.shape[2], W = P.shape[3], plane = H * W
    cdef const floating* row
    cdef const intp* lab
    cdef intp m, i, j
    cdef i64 taken
    cdef u64 key
    cdef bint sel, write = flags.shape[0] > 0
    cdef int nt = _threads_for(n, n_threads)
    if n == 0:
        return
    with nogil:
        for m in prange(n, schedule="static", num_threads=nt):
            taken = 0
            for i in range(H):
                row = &P[m, 0, i, 0]
                lab = &L[m, i, 0]
                for j in range(W):
                    key = _seg_key(row[lab[j] * plane + j])
                    if key < cut:
                        sel = True
                    elif key == cut:
                        sel = taken < quota[m]
                        taken = taken + 1
                    else:
                        sel = False
                    if write:
                        if combine:
                            flags[m, i, j] = flags[m, i, j] and sel
                        else:
                            flags[m, i, j] = sel
            ties[m] = taken


def seg_upsample_pass(
    const floating[:, :, :, ::1] P,    # IN  (n, K, H, W) full resolution
    const intp[:, :, ::1] L,           # IN  (n, H, W) full resolution
    const u8[:, :, ::1] small,         # IN  (n, H // f, W // f) flags found downsampled
    int factor,
    u8[:, :, ::1] out,                 # OUT (n, H, W)
    floating[:, ::1] vbuf,             # scratch (threads, W)
    i32[:, ::1] abuf,                  # scratch (threads, W)
    i64[::1] bad,                      # IN/OUT (threads,) non-finite values seen
    int n_threads,
):
    """Spread downsampled flags over their blocks, keeping pixels whose argmax is not the label."""
    cdef intp n = P.shape[0], H = P.shape[2], W = P.shape[3], plane = H * W
    cdef const floating* row
    cdef const intp* lab
    cdef intp m, i, j
    cdef int tid
    cdef int nt = _threads_for(n, n_threads)
    if n == 0:
        return
    with nogil, parallel(num_threads=nt):
        tid = threadid()
        for m in prange(n, schedule="static"):
            for i in range(H):
                row = &P[m, 0, i, 0]
                lab = &L[m, i, 0]
                _seg_row_argmax(&P[m, 0, i, 0], P.shape[1], H * W, W, &vbuf[tid, 0], &abuf[tid, 0], &bad[tid])
                for j in range(W):
                    out[m, i, j] = small[m, i // factor, j // factor] and abuf[tid, j] != L[m, i, j]


def seg_softmin_pass(
    const floating[:, :, :, ::1] P,    # IN  (n, K, H, W)
    const intp[:, :, ::1] L,           # IN  (n, H, W)
    double temperature,                # IN  > 0
    double[:, :, ::1] pixel_scores,    # OUT (n, H, W) p[label] as float64
    double[::1] image_scores,          # OUT (n,)
    i64[::1] bad,                      # OUT (n,) non-finite self-confidences per image
    int n_threads,
):
    """Per image: pixel self-confidences and their softmin, sum(s * w) / sum(w), w = exp((1 - s) / t - max)."""
    cdef intp n = P.shape[0], H = P.shape[2], W = P.shape[3], plane = H * W
    cdef const floating* row
    cdef const intp* lab
    cdef intp m, i, j
    cdef double s, x, xmax, e, num, den
    cdef i64 nb
    cdef int nt = _threads_for(n, n_threads)
    if n == 0:
        return
    with nogil:
        for m in prange(n, schedule="static", num_threads=nt):
            xmax = -INFINITY
            nb = 0
            for i in range(H):
                row = &P[m, 0, i, 0]
                lab = &L[m, i, 0]
                for j in range(W):
                    s = row[lab[j] * plane + j]
                    if not isfinite(s):
                        nb = nb + 1
                    pixel_scores[m, i, j] = s
                    x = (1.0 - s) / temperature
                    if x > xmax:
                        xmax = x
            num = 0.0
            den = 0.0
            for i in range(H):
                row = &P[m, 0, i, 0]
                lab = &L[m, i, 0]
                for j in range(W):
                    s = pixel_scores[m, i, j]
                    e = exp((1.0 - s) / temperature - xmax)
                    num = num + s * e
                    den = den + e
            image_scores[m] = num / den
            bad[m] = nb


def seg_gather_pass(
    const floating[:, :, :, ::1] P,    # IN  (n, K, H, W)
    const intp[:, :, ::1] L,           # IN  (n, H, W)
    floating[:, :, ::1] out,           # OUT (n, H, W) p[label] in the input dtype
    int n_threads,
):
    """Self-confidence of every pixel, in the probabilities' dtype."""
    cdef intp n = P.shape[0], H = P.shape[2], W = P.shape[3], plane = H * W
    cdef const floating* row
    cdef const intp* lab
    cdef intp m, i, j
    cdef int nt = _threads_for(n, n_threads)
    if n == 0:
        return
    with nogil:
        for m in prange(n, schedule="static", num_threads=nt):
            for i in range(H):
                row = &P[m, 0, i, 0]
                lab = &L[m, i, 0]
                for j in range(W):
                    out[m, i, j] = row[lab[j] * plane + j]


def seg_confusion_pass(
    const floating[:, :, :, ::1] P,    # IN  (n, K, H, W)
    const intp[:, :, ::1] L,           # IN  (n, H, W)
    const u8[:, :, ::1] issues,        # IN  (n, H, W)
    i64[:, :, ::1] counts,             # IN/OUT (threads, K, K): [given, argmax] of flagged pixels
    floating[:, ::1] vbuf,             # scratch (threads, W)
    i32[:, ::1] abuf,                  # scratch (threads, W)
    i64[::1] bad,                      # IN/OUT (threads,)
    int n_threads,
):
    """Count flagged pixels by (given label, predicted class)."""
    cdef intp n = P.shape[0], H = P.shape[2], W = P.shape[3], plane = H * W
    cdef const floating* row
    cdef const intp* lab
    cdef intp m, i, j, any_row
    cdef int tid
    cdef int nt = _threads_for(n, n_threads)
    if n == 0:
        return
    with nogil, parallel(num_threads=nt):
        tid = threadid()
        for m in prange(n, schedule="static"):
            for i in range(H):
                row = &P[m, 0, i, 0]
                lab = &L[m, i, 0]
                any_row = 0
                for j in range(W):
                    any_row = any_row + issues[m, i, j]
                if any_row == 0:
                    continue
                _seg_row_argmax(&P[m, 0, i, 0], P.shape[1], H * W, W, &vbuf[tid, 0], &abuf[tid, 0], &bad[tid])
                for j in range(W):
                    if issues[m, i, j]:
                        counts[tid, L[m, i, j], abuf[tid, j]] += 1
