# Object detection kernels: box overlaps, per-box issue scores, per-image pooling.
#
# Included into the core extension module, which already provides ``floating``,
# ``prange``/``parallel``/``threadid``, ``intp``/``u8``, ``_plan_chunks`` and
# ``_chunk_stop``.
#
# Layout shared by every kernel below (a chunk of images packed CSR-style by the
# validation layer):
#
# * ``lab_ptr[i]:lab_ptr[i + 1]`` are the annotated boxes of image ``i``; row ``b``
#   of ``lab_boxes`` is ``x1, y1, x2, y2`` and ``lab_cls[b]`` its class.
# * ``pred_ptr[i]:pred_ptr[i + 1]`` are the predicted boxes of image ``i``, grouped
#   by class in increasing class order (the order of the per-class arrays a
#   detector returns); row ``p`` of ``pred_boxes`` is ``x1, y1, x2, y2, score``.
# * Coordinates are read in the input dtype and every formula is evaluated in
#   double precision, in the order of operations of the reference implementation
#   (union clipped at 1e-6 from below, similarity ``0.9 * iou + 0.1 * (1 - (1 -
#   exp(-0.1 * centre distance)))``), so float32 and float64 inputs agree to the
#   last bits of the score.
# * Each image writes only its own output rows, and the few per-thread scratch
#   buffers are reset per image, so results never depend on the number of threads
#   or on the chunk size.

from libc.math cimport exp, sqrt, NAN, isnan
from libc.stdlib cimport malloc, free
from libc.string cimport memset

ctypedef cnp.uint16_t u16

# Constants of the ObjectLab method (cleanlab 2.9 values).
cdef double _OD_ALPHA = 0.9
cdef double _OD_EUC_FACTOR = 0.1
cdef double _OD_UNION_FLOOR = 1e-6
cdef double _OD_LOW_PROB = 0.5
cdef double _OD_HIGH_PROB = 0.95
cdef double _OD_OVERLAP_IOU = 0.95
cdef double _OD_TEMPERATURE = 0.1

# Bits of the per-image issue flags written by ``od_box_scores``.
cdef enum:
    _OD_BIT_OVERLOOKED = 1
    _OD_BIT_BADLOC = 2
    _OD_BIT_SWAP = 4

OD_OVERLOOKED = _OD_BIT_OVERLOOKED
OD_BADLOC = _OD_BIT_BADLOC
OD_SWAP = _OD_BIT_SWAP


cdef inline double _od_iou(const floating* a, const floating* b) noexcept nogil:
    # Intersection over union of two x1, y1, x2, y2 boxes; 0 when they are
    # disjoint (touching boxes have a zero-area intersection, hence also 0).
    cdef double xl = a[0] if a[0] >= b[0] else b[0]
    cdef double yt = a[1] if a[1] >= b[1] else b[1]
    cdef double xr = a[2] if a[2] <= b[2] else b[2]
    cdef double yb = a[3] if a[3] <= b[3] else b[3]
    cdef double inter, area_a, area_b, union
    if xr < xl or yb < yt:
        return 0.0
    inter = (xr - xl) * (yb - yt)
    area_a = (<double>a[2] - <double>a[0]) * (<double>a[3] - <double>a[1])
    area_b = (<double>b[2] - <double>b[0]) * (<double>b[3] - <double>b[1])
    # Degenerate boxes can make the union vanish or turn negative: clip it.
    union = area_a + area_b - inter
    if union < _OD_UNION_FLOOR:
        union = _OD_UNION_FLOOR
    return inter / union


cdef inline double _od_similarity(const floating* lab, const floating* pred, double iou) noexcept nogil:
    # IoU blended with a closeness term that decays with the distance between
    # the box centres; the reference computes the closeness as 1 - (1 - e), which
    # is kept because it is not exactly e in floating point.
    cdef double dx = (<double>((lab[0] + lab[2]) / 2)) - (<double>pred[0] + <double>pred[2]) / 2
    cdef double dy = (<double>((lab[1] + lab[3]) / 2)) - (<double>pred[1] + <double>pred[3]) / 2
    cdef double close = exp(-sqrt(dx * dx + dy * dy) * _OD_EUC_FACTOR)
    return iou * _OD_ALPHA + (1.0 - _OD_ALPHA) * (1.0 - (1.0 - close))


cdef inline double _od_softmin(const double* s, intp n, intp stride) noexcept nogil:
    # Softmin pooling with temperature 0.1 over the non-NaN scores, shifted by
    # the minimum so the exponentials cannot overflow; 1.0 when nothing is left.
    cdef intp j
    cdef double lo = INFINITY, w, total = 0.0, acc = 0.0
    cdef bint any_score = False
    for j in range(n):
        if not isnan(s[j * stride]):
            any_score = True
            if s[j * stride] < lo:
                lo = s[j * stride]
    if not any_score:
        return 1.0
    for j in range(n):
        if not isnan(s[j * stride]):
            total += exp((-s[j * stride]) / _OD_TEMPERATURE - (-lo) / _OD_TEMPERATURE)
    for j in range(n):
        if not isnan(s[j * stride]):
            w = exp((-s[j * stride]) / _OD_TEMPERATURE - (-lo) / _OD_TEMPERATURE) / total
            acc += w * s[j * stride]
    return acc


cdef void _od_match_image(
    const intp* lab_cls, const floating* lab_boxes, intp ls, intp le,
    const floating* pred_boxes, const intp* pred_cls, const intp* order, intp ps, intp pe,
    const double* thr, intp n_thr, u8* covered, double* min_sim, u16* tp,
) noexcept nogil:
    # One image of the matching pass: the smallest non-zero label/prediction
    # similarity, and for every predicted box the greedy true-positive flags at
    # each IoU threshold (bit t of ``tp``), boxes visited by decreasing score.
    cdef intp a, p, q, b, t, best_b, c
    cdef double iou, sim, best_iou, lo = INFINITY
    cdef u16 bits
    for a in range(ls, le):
        for p in range(ps, pe):
            iou = _od_iou(&lab_boxes[4 * a], &pred_boxes[5 * p])
            sim = _od_similarity(&lab_boxes[4 * a], &pred_boxes[5 * p], iou)
            if sim != 0.0 and sim < lo:
                lo = sim
    min_sim[0] = lo if lo < 1.0 else 1.0
    if thr == NULL:
        return
    q = ps
    while q < pe:
        # One class segment: predictions of the same class are contiguous.
        c = pred_cls[order[q]]
        memset(covered, 0, (le - ls) * n_thr)
        while q < pe and pred_cls[order[q]] == c:
            p = order[q]
            best_b = -1
            best_iou = 0.0
            for b in range(ls, le):
                if lab_cls[b] != c:
                    continue
                iou = _od_iou(&pred_boxes[5 * p], &lab_boxes[4 * b])
                # Strict comparison: the first label with the largest IoU wins.
                if best_b < 0 or iou > best_iou:
                    best_b = b
                    best_iou = iou
            bits = 0
            if best_b >= 0:
                for t in range(n_thr):
                    if best_iou >= thr[t] and not covered[(best_b - ls) * n_thr + t]:
                        covered[(best_b - ls) * n_thr + t] = 1
                        bits = bits | (<u16>1 << t)
            tp[p] = bits
            q += 1


def od_match(
    const intp[::1] lab_ptr,              # IN  (n + 1,)
    const floating[:, ::1] lab_boxes,     # IN  (L, 4)
    const intp[::1] lab_cls,              # IN  (L,)
    const intp[::1] pred_ptr,             # IN  (n + 1,)
    const floating[:, ::1] pred_boxes,    # IN  (P, 5)
    const intp[::1] pred_cls,             # IN  (P,)
    const intp[::1] order,                # IN  (P,) per image, by class then decreasing score
    const double[::1] thresholds,         # IN  (T,) IoU thresholds, T <= 16, or empty
    double[::1] min_sim,                  # OUT (n,) smallest non-zero similarity per image
    u16[::1] tp,                          # OUT (P,) true-positive bits, or empty
    intp max_labels,
    intp chunk_size,
    int n_threads,
):
    """Matching pass over a chunk of images.

    Parameters
    ----------
    lab_ptr, lab_boxes, lab_cls, pred_ptr, pred_boxes, pred_cls : ndarray
        The packed chunk (see the layout note at the top of this file).
    order : ndarray of shape (P,), dtype=intp
        Permutation of the predicted boxes that keeps each image and each class
        segment in place and sorts a segment by decreasing score, ties by index.
    thresholds : ndarray of shape (T,), dtype=float64
        IoU thresholds for the greedy matching; empty skips the matching.
    min_sim : ndarray of shape (n,), dtype=float64
        Receives, per image, the smallest non-zero similarity between an
        annotated and a predicted box (1.0 when there is none or it exceeds 1).
    tp : ndarray of shape (P,), dtype=uint16
        Receives bit ``t`` set when the box is a true positive at threshold ``t``.
    max_labels : int
        Largest number of annotated boxes in one image of the chunk.
    chunk_size, n_threads : int
        Images per scheduling unit and threads.
    """
    cdef intp n = lab_ptr.shape[0] - 1
    cdef intp n_thr = thresholds.shape[0]
    cdef intp n_chunks, c, start, i, stop
    cdef u8* covered
    cdef const double* thr_p = &thresholds[0] if n_thr > 0 else NULL
    cdef const floating* lb
    cdef const floating* pb
    if n <= 0:
        return
    lb = &lab_boxes[0, 0] if lab_boxes.shape[0] > 0 else NULL
    pb = &pred_boxes[0, 0] if pred_boxes.shape[0] > 0 else NULL
    n_chunks = _plan_chunks(n, &chunk_size, n_threads, &n_threads)
    with nogil, parallel(num_threads=n_threads):
        # Per-thread scratch: covered flags of one image's labels x thresholds.
        covered = <u8*>malloc((max_labels * n_thr + 1) * sizeof(u8))
        for c in prange(n_chunks, schedule="static"):
            start = c * chunk_size
            stop = _chunk_stop(start, chunk_size, n)
            for i in range(start, stop):
                _od_match_image(
                    &lab_cls[0] if lab_cls.shape[0] > 0 else NULL, lb, lab_ptr[i], lab_ptr[i + 1],
                    pb, &pred_cls[0] if pred_cls.shape[0] > 0 else NULL,
                    &order[0] if order.shape[0] > 0 else NULL, pred_ptr[i], pred_ptr[i + 1],
                    thr_p, n_thr, covered, &min_sim[i], &tp[0] if tp.shape[0] > 0 else NULL,
                )
        free(covered)


cdef void _od_score_image(
    const intp* lab_cls, const floating* lab_boxes, intp ls, intp le,
    const floating* pred_boxes, const intp* pred_cls, intp ps, intp pe,
    double min_sim, bint overlap_check, const double* box_thr, intp n_classes,
    double* overlooked, double* badloc, double* swap, double* pooled, u8* flags,
) noexcept nogil:
    # Per-box scores of one image (overlooked per predicted box, badly located
    # and swapped per annotated box), their softmin per kind, and the flags.
    cdef intp a, b, p, k
    cdef double iou, sim, best, prob, s
    cdef bint found, skip
    cdef u8 f = 0
    for p in range(ps, pe):
        prob = pred_boxes[5 * p + 4]
        if prob < _OD_HIGH_PROB:
            overlooked[p] = NAN
            continue
        k = pred_cls[p]
        found = False
        skip = False
        best = 0.0
        for a in range(ls, le):
            iou = _od_iou(&lab_boxes[4 * a], &pred_boxes[5 * p])
            if iou > 0:
                skip = True
                break
            if lab_cls[a] == k:
                sim = _od_similarity(&lab_boxes[4 * a], &pred_boxes[5 * p], iou)
                if not found or sim > best:
                    best = sim
                    found = True
        if skip:
            overlooked[p] = NAN
        elif found:
            overlooked[p] = best
        else:
            # A confident prediction of a class nobody annotated in the image.
            overlooked[p] = min_sim * (1.0 - prob)
    for a in range(ls, le):
        k = lab_cls[a]
        # Badly located: the most similar confident, overlapping prediction of
        # the same class.
        found = False
        best = 0.0
        for p in range(ps, pe):
            if pred_cls[p] != k or not (pred_boxes[5 * p + 4] > _OD_LOW_PROB):
                continue
            iou = _od_iou(&lab_boxes[4 * a], &pred_boxes[5 * p])
            if iou > 0:
                sim = _od_similarity(&lab_boxes[4 * a], &pred_boxes[5 * p], iou)
                if not found or sim > best:
                    best = sim
                    found = True
        badloc[a] = best if found else 1.0
        # Swapped: near-duplicate annotations of another class first, then the
        # most similar very confident prediction of another class.
        skip = False
        if overlap_check:
            for b in range(ls, le):
                if b != a and lab_cls[b] != k and _od_iou(&lab_boxes[4 * a], &lab_boxes[4 * b]) >= _OD_OVERLAP_IOU:
                    skip = True
                    break
        if skip:
            swap[a] = min_sim
            continue
        found = False
        best = 0.0
        for p in range(ps, pe):
            if pred_cls[p] == k or not (pred_boxes[5 * p + 4] > _OD_HIGH_PROB):
                continue
            iou = _od_iou(&lab_boxes[4 * a], &pred_boxes[5 * p])
            sim = _od_similarity(&lab_boxes[4 * a], &pred_boxes[5 * p], iou)
            if not found or sim > best:
                best = sim
                found = True
        if not found:
            swap[a] = 1.0
        else:
            swap[a] = 1.0 - best if 1.0 - best > min_sim else min_sim
    pooled[0] = _od_softmin(&overlooked[ps], pe - ps, 1)
    pooled[1] = _od_softmin(&badloc[ls], le - ls, 1)
    pooled[2] = _od_softmin(&swap[ls], le - ls, 1)
    if box_thr == NULL:
        return
    # A box is an issue when its score (NaN counts as 1) is at most its class
    # threshold; an image is an issue when any box is.
    for p in range(ps, pe):
        s = 1.0 if isnan(overlooked[p]) else overlooked[p]
        if pred_cls[p] < n_classes and s <= box_thr[pred_cls[p]]:
            f = f | _OD_BIT_OVERLOOKED
    for a in range(ls, le):
        if lab_cls[a] >= 0 and lab_cls[a] < n_classes:
            if badloc[a] <= box_thr[lab_cls[a]]:
                f = f | _OD_BIT_BADLOC
            if swap[a] <= box_thr[lab_cls[a]]:
                f = f | _OD_BIT_SWAP
    flags[0] = f


def od_box_scores(
    const intp[::1] lab_ptr,              # IN  (n + 1,)
    const floating[:, ::1] lab_boxes,     # IN  (L, 4)
    const intp[::1] lab_cls,              # IN  (L,)
    const intp[::1] pred_ptr,             # IN  (n + 1,)
    const floating[:, ::1] pred_boxes,    # IN  (P, 5)
    const intp[::1] pred_cls,             # IN  (P,)
    double min_sim,
    bint overlap_check,
    const double[::1] box_thr,            # IN  (K,) per-class box threshold, or empty: no flags
    double[::1] overlooked,               # OUT (P,) per predicted box, NaN when not scored
    double[::1] badloc,                   # OUT (L,) per annotated box
    double[::1] swap,                     # OUT (L,) per annotated box
    double[:, ::1] pooled,                # OUT (n, 3) softmin of overlooked, badloc, swap
    u8[::1] flags,                        # OUT (n,) OD_* bits, or empty
    intp chunk_size,
    int n_threads,
):
    """Scoring pass over a chunk of images.

    Parameters
    ----------
    lab_ptr, lab_boxes, lab_cls, pred_ptr, pred_boxes, pred_cls : ndarray
        The packed chunk (see the layout note at the top of this file).
    min_sim : float
        Smallest non-zero similarity over the whole dataset.
    overlap_check : bool
        Score an annotated box as swapped when another annotation of a different
        class covers it with IoU at least 0.95.
    box_thr : ndarray of shape (K,), dtype=float64
        Per-class threshold under which a box is an issue; empty skips the flags.
    overlooked, badloc, swap, pooled, flags : ndarray
        Outputs, see the argument comments.
    chunk_size, n_threads : int
        Images per scheduling unit and threads.
    """
    cdef intp n = lab_ptr.shape[0] - 1
    cdef intp n_chunks, c, start, i, stop
    cdef intp n_classes = box_thr.shape[0]
    cdef const double* thr_p = &box_thr[0] if n_classes > 0 else NULL
    cdef const floating* lb
    cdef const floating* pb
    cdef double* ov
    cdef double* bl
    cdef double* sw
    if n <= 0:
        return
    lb = &lab_boxes[0, 0] if lab_boxes.shape[0] > 0 else NULL
    pb = &pred_boxes[0, 0] if pred_boxes.shape[0] > 0 else NULL
    ov = &overlooked[0] if overlooked.shape[0] > 0 else NULL
    bl = &badloc[0] if badloc.shape[0] > 0 else NULL
    sw = &swap[0] if swap.shape[0] > 0 else NULL
    n_chunks = _plan_chunks(n, &chunk_size, n_threads, &n_threads)
    with nogil, parallel(num_threads=n_threads):
        for c in prange(n_chunks, schedule="static"):
            start = c * chunk_size
            stop = _chunk_stop(start, chunk_size, n)
            for i in range(start, stop):
                _od_score_image(
                    &lab_cls[0] if lab_cls.shape[0] > 0 else NULL, lb, lab_ptr[i], lab_ptr[i + 1],
                    pb, &pred_cls[0] if pred_cls.shape[0] > 0 else NULL, pred_ptr[i], pred_ptr[i + 1],
                    min_sim, overlap_check, thr_p, n_classes, ov, bl, sw, &pooled[i, 0],
                    &flags[i] if thr_p != NULL else NULL,
                )
