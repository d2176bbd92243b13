# Token classification kernels: reductions of flat token arrays per sentence.
#
# Included into the core extension module, which already provides
# ``cimport cython``, ``floating``, ``parallel``/``prange``, ``i64``/``u8``/
# ``intp`` and the chunk helpers ``_plan_chunks`` / ``_chunk_stop``.
#
# Layout shared by every kernel below:
#
# * The tokens of all sentences are stored one after the other (file order),
#   so a sentence is a slice of a flat array: sentence ``s`` owns tokens
#   ``starts[s]:starts[s + 1]`` (CSR-style offsets, ``starts[0] == 0`` and
#   ``starts[N] == T``). Empty sentences are allowed where the kernel says so.
# * Work is cut into chunks of ``chunk_size`` *sentences*; every sentence's
#   result is written by exactly one thread into its own output slot, and
#   every per-sentence sum runs in token order, so results do not depend on
#   the number of threads or on the chunk size.
# * The token scores these kernels read are the row pass's output (one value
#   per token), never the (T, K) probabilities, so the matrix itself is read
#   once, by the row pass, in row chunks: a memory-mapped matrix stays on disk.

from libc.math cimport exp

# How a sentence's token scores are reduced to one score.
cdef enum:
    SENTENCE_MIN = 0        # the smallest token score
    SENTENCE_SOFTMIN = 1    # <s, softmax((1 - s) / t)>, cleanlab's "softmin"
    SENTENCE_MEAN = 2       # the mean (softmin at an infinite temperature)


def sentence_method_codes():
    """Kernel codes of the sentence reductions, by name."""
    return {"min": SENTENCE_MIN, "softmin": SENTENCE_SOFTMIN, "mean": SENTENCE_MEAN}


cdef inline floating _sentence_min(const floating* s, intp n) noexcept nogil:
    # n >= 1 (the wrapper refuses empty sentences for this reduction).
    cdef floating best = s[0]
    cdef intp j
    for j in range(1, n):
        if s[j] < best:
            best = s[j]
    return best


cdef inline floating _sentence_mean(const floating* s, intp n) noexcept nogil:
    # Accumulate in double: numpy's pairwise float32 sum is close to the
    # exact sum, and so is a double accumulator; a float32 running sum is not.
    cdef double total = 0.0
    cdef intp j
    for j in range(n):
        total += s[j]
    return <floating>(total / n)


cdef inline floating _sentence_softmin(const floating* s, intp n, floating t) noexcept nogil:
    # x_j = (1 - s_j) / t and its shift by the maximum are formed in the input
    # precision on purpose: at small temperatures the division magnifies the
    # rounding of 1 - s_j, and matching the reference means rounding where it
    # rounds. The exponentials and the two sums are accumulated in double.
    cdef intp j
    cdef floating x, xmax
    cdef double e, weight_sum = 0.0, weighted = 0.0
    xmax = (<floating>1 - s[0]) / t
    for j in range(1, n):
        x = (<floating>1 - s[j]) / t
        if x > xmax:
            xmax = x
    for j in range(n):
        x = (<floating>1 - s[j]) / t - xmax
        e = exp(<double>x)
        weight_sum += e
        weighted += e * s[j]
    return <floating>(weighted / weight_sum)


cdef void _sentence_chunk(const floating* scores, const i64* starts, intp first, intp stop,
                          int method, floating t, floating* out) noexcept nogil:
    cdef intp s
    cdef i64 a, b
    for s in range(first, stop):
        a = starts[s]
        b = starts[s + 1]
        if method == SENTENCE_MIN:
            out[s] = _sentence_min(scores + a, b - a)
        elif method == SENTENCE_MEAN:
            out[s] = _sentence_mean(scores + a, b - a)
        else:
            out[s] = _sentence_softmin(scores + a, b - a, t)


@cython.boundscheck(False)
def sentence_scores(
    const floating[::1] token_scores,  # IN  (T,) one score per token, file order
    const i64[::1] starts,             # IN  (N + 1,) sentence s is starts[s]:starts[s + 1]
    int method,                        # IN  a code of sentence_method_codes()
    double temperature,                # IN  softmin temperature (> 0), else unused
    floating[::1] out,                 # OUT (N,) one score per sentence
    intp chunk_size,
    int n_threads,
):
    """Reduce each sentence's token scores to one sentence score.

    Parameters
    ----------
    token_scores : ndarray of shape (T,), dtype=floating
        Token label quality scores in file order.
    starts : ndarray of shape (N + 1,), dtype=int64
        Sentence offsets into ``token_scores``; every sentence must be
        non-empty (the wrapper checks).
    method : int
        ``SENTENCE_MIN``, ``SENTENCE_SOFTMIN`` or ``SENTENCE_MEAN``.
    temperature : float
        Softmin temperature, already floored by the wrapper; cast to the
        scores' precision, as numpy does with a Python float.
    out : ndarray of shape (N,), dtype=floating
        Written in place.
    chunk_size : int
        Sentences per work unit.
    n_threads : int
        OpenMP threads (at most one per chunk is used).
    """
    cdef intp n = out.shape[0]
    cdef intp n_chunks, c, first
    cdef floating t = <floating>temperature
    if n == 0:
        return
    n_chunks = _plan_chunks(n, &chunk_size, n_threads, &n_threads)
    # Sentences are independent and each writes only its own slot: no
    # per-thread buffers and no merge are needed.
    with nogil, parallel(num_threads=n_threads):
        for c in prange(n_chunks, schedule="static"):
            first = c * chunk_size
            _sentence_chunk(&token_scores[0], &starts[0], first,
                            _chunk_stop(first, chunk_size, n), method, t, &out[0])


cdef void _count_chunk(const u8* flags, const i64* starts, intp first, intp stop,
                       i64* out) noexcept nogil:
    cdef intp s
    cdef i64 j, total
    for s in range(first, stop):
        total = 0
        for j in range(starts[s], starts[s + 1]):
            total += flags[j]
        out[s] = total


@cython.boundscheck(False)
def sentence_flag_counts(
    const u8[::1] flags,               # IN  (T,) 0/1 per token, file order
    const i64[::1] starts,             # IN  (N + 1,) sentence offsets
    i64[::1] out,                      # OUT (N,) flagged tokens per sentence
    intp chunk_size,
    int n_threads,
):
    """Count the flagged tokens of every sentence (empty sentences count 0).

    Parameters
    ----------
    flags : ndarray of shape (T,), dtype=uint8
        1 for a flagged token, else 0.
    starts : ndarray of shape (N + 1,), dtype=int64
        Sentence offsets into ``flags``.
    out : ndarray of shape (N,), dtype=int64
        Written in place.
    chunk_size, n_threads : int
        Sentences per work unit and OpenMP threads.
    """
    cdef intp n = out.shape[0]
    cdef intp n_chunks, c, first
    if n == 0:
        return
    n_chunks = _plan_chunks(n, &chunk_size, n_threads, &n_threads)
    with nogil, parallel(num_threads=n_threads):
        for c in prange(n_chunks, schedule="static"):
            first = c * chunk_size
            _count_chunk(&flags[0], &starts[0], first, _chunk_stop(first, chunk_size, n),
                         &out[0])
