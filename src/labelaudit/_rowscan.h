/* Row scans of the validation / confident-count pass, vectorised.
 *
 * For a segment row[k:stop] of one probability row: the running sum (in
 * double, only for the row-sum check, so its order is free), the minimum and
 * maximum (range checks and the "max over other classes" of the normalized
 * margin), and the confident classes (row[j] >= cut[j]). The comparisons are
 * exact IEEE comparisons in the row's own dtype, so vector and scalar code
 * give identical counts and first indices; only the sum's rounding differs,
 * and it never reaches a result.
 *
 * SSE2 is part of every x86-64 target; AVX2 is used when the CPU has it
 * (checked once at run time). Other architectures use the scalar loop.
 */
#ifndef LABELAUDIT_ROWSCAN_H
#define LABELAUDIT_ROWSCAN_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LA_X86 1
#else
#define LA_X86 0
#endif

typedef struct {
    double sum;
    double lo;          /* minimum of the segment (or the seed) */
    double hi;          /* maximum of the segment (or the seed) */
    ptrdiff_t count;    /* confident classes */
    ptrdiff_t first;    /* first confident class, or -1 */
} la_scan;

#define LA_SCALAR_BODY(T)                                                   \
    for (; k < stop; k++) {                                                 \
        T v = row[k];                                                       \
        acc->sum += v;                                                      \
        if (v < lo) lo = v;                                                 \
        if (v > hi) hi = v;                                                 \
        if (cut && v >= cut[k]) {                                           \
            acc->count++;                                                   \
            if (acc->first < 0) acc->first = k;                             \
        }                                                                   \
    }

static inline void la_note_hits(la_scan *acc, int mask, ptrdiff_t base, int width) {
    /* Lane j of ``mask`` is class base + j; only the count and the first hit matter. */
    unsigned bits = (unsigned)mask & (width >= 32 ? 0xffffffffu : ((1u << width) - 1u));
    if (!bits) return;
#if defined(__GNUC__)
    acc->count += __builtin_popcount(bits);
    if (acc->first < 0) acc->first = base + __builtin_ctz(bits);
#else
    for (int j = 0; j < width; j++) {
        if ((bits >> j) & 1u) {
            acc->count++;
            if (acc->first < 0) acc->first = base + j;
        }
    }
#endif
}

/* ---------------------------------------------------------------- segment kernels
 *
 * One body serves every (dtype, instruction set) pair; each instantiation
 * names its vector type V with W lanes and its intrinsics. The sum is kept in
 * double vectors D (DW lanes): float32 lanes are widened into two of them
 * (ACCUM), float64 lanes add into the first (ACCUM leaves s1 at zero and
 * DSUM skips it, so the additions are exactly those of a plain loop).
 * FOLD adds the DW stored lanes in a fixed order.
 */

#define LA_FOLD2(s) ((s)[0] + (s)[1])
#define LA_FOLD4(s) (((s)[0] + (s)[1]) + ((s)[2] + (s)[3]))

#if LA_X86
/* Lane masks of a >= b, one bit a lane. */
#define LA_GE_PS128(a, b) _mm_movemask_ps(_mm_cmpge_ps((a), (b)))
#define LA_GE_PD128(a, b) _mm_movemask_pd(_mm_cmpge_pd((a), (b)))
#define LA_GE_PS256(a, b) _mm256_movemask_ps(_mm256_cmp_ps((a), (b), _CMP_GE_OQ))
#define LA_GE_PD256(a, b) _mm256_movemask_pd(_mm256_cmp_pd((a), (b), _CMP_GE_OQ))

#define LA_SCAN_KERNEL(ATTR, NAME, T, V, W, SET1, LOAD, MIN, MAX, STORE, GE,              \
                       D, DW, DZERO, DSTORE, ACCUM, DSUM, FOLD)                          \
    ATTR static void NAME(const T *row, ptrdiff_t k, ptrdiff_t stop, const T *cut,       \
                          la_scan *acc) {                                                \
        T lo = (T)acc->lo, hi = (T)acc->hi;                                              \
        D s0 = DZERO(), s1 = DZERO();                                                    \
        V vlo = SET1(lo), vhi = SET1(hi);                                                \
        (void)s1;                                                                        \
        for (; k + W <= stop; k += W) {                                                  \
            V v = LOAD(row + k);                                                         \
            ACCUM;                                                                       \
            vlo = MIN(v, vlo);                                                           \
            vhi = MAX(v, vhi);                                                           \
            if (cut) {                                                                   \
                int m = GE(v, LOAD(cut + k));                                            \
                if (m) la_note_hits(acc, m, k, W);                                       \
            }                                                                            \
        }                                                                                \
        double sums[DW];                                                                 \
        T los[W], his[W];                                                                \
        DSTORE(sums, DSUM);                                                              \
        STORE(los, vlo);                                                                 \
        STORE(his, vhi);                                                                 \
        acc->sum += FOLD(sums);                                                          \
        for (int j = 0; j < W; j++) {                                                    \
            if (los[j] < lo) lo = los[j];                                                \
            if (his[j] > hi) hi = his[j];                                                \
        }                                                                                \
        LA_SCALAR_BODY(T)                                                                \
        acc->lo = lo;                                                                    \
        acc->hi = hi;                                                                    \
    }

LA_SCAN_KERNEL(__attribute__((target("avx2"))), la_scan_f32_avx2, float,
               __m256, 8, _mm256_set1_ps, _mm256_loadu_ps, _mm256_min_ps, _mm256_max_ps,
               _mm256_storeu_ps, LA_GE_PS256, __m256d, 4, _mm256_setzero_pd, _mm256_storeu_pd,
               (s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v))),
                s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)))),
               _mm256_add_pd(s0, s1), LA_FOLD4)
LA_SCAN_KERNEL(, la_scan_f32_base, float,
               __m128, 4, _mm_set1_ps, _mm_loadu_ps, _mm_min_ps, _mm_max_ps,
               _mm_storeu_ps, LA_GE_PS128, __m128d, 2, _mm_setzero_pd, _mm_storeu_pd,
               (s0 = _mm_add_pd(s0, _mm_cvtps_pd(v)),
                s1 = _mm_add_pd(s1, _mm_cvtps_pd(_mm_movehl_ps(v, v)))),
               _mm_add_pd(s0, s1), LA_FOLD2)
LA_SCAN_KERNEL(__attribute__((target("avx2"))), la_scan_f64_avx2, double,
               __m256d, 4, _mm256_set1_pd, _mm256_loadu_pd, _mm256_min_pd, _mm256_max_pd,
               _mm256_storeu_pd, LA_GE_PD256, __m256d, 4, _mm256_setzero_pd, _mm256_storeu_pd,
               (s0 = _mm256_add_pd(s0, v)), s0, LA_FOLD4)
LA_SCAN_KERNEL(, la_scan_f64_base, double,
               __m128d, 2, _mm_set1_pd, _mm_loadu_pd, _mm_min_pd, _mm_max_pd,
               _mm_storeu_pd, LA_GE_PD128, __m128d, 2, _mm_setzero_pd, _mm_storeu_pd,
               (s0 = _mm_add_pd(s0, v)), s0, LA_FOLD2)

#else /* other architectures: the scalar loop */

#define LA_SCAN_SCALAR(NAME, T)                                                          \
    static void NAME(const T *row, ptrdiff_t k, ptrdiff_t stop, const T *cut,            \
                     la_scan *acc) {                                                     \
        T lo = (T)acc->lo, hi = (T)acc->hi;                                              \
        LA_SCALAR_BODY(T)                                                                \
        acc->lo = lo;                                                                    \
        acc->hi = hi;                                                                    \
    }

LA_SCAN_SCALAR(la_scan_f32_base, float)
LA_SCAN_SCALAR(la_scan_f64_base, double)
#endif

/* ---------------------------------------------------------------- dispatch */

static int la_has_avx2 = -1;
static int la_has_avx512 = -1;

static inline int la_use_avx2(void) {
#if LA_X86
    if (la_has_avx2 < 0) {
        __builtin_cpu_init();
        la_has_avx512 = __builtin_cpu_supports("avx512f") ? 1 : 0;
        la_has_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return la_has_avx2;
#else
    return 0;
#endif
}

static inline int la_use_avx512(void) {
    la_use_avx2();
    return la_has_avx512 > 0;
}

/* Tests only: run a lower level on this CPU (0 scalar/SSE2, 1 AVX2, 2 AVX-512). */
static inline void la_cap_level(int level) {
    la_use_avx2();
#if LA_X86
    __builtin_cpu_init();
    la_has_avx512 = (level >= 2 && __builtin_cpu_supports("avx512f")) ? 1 : 0;
    la_has_avx2 = (level >= 1 && __builtin_cpu_supports("avx2")) ? 1 : 0;
#else
    (void)level;
#endif
}

/* NAME_avx2 ARGS when the CPU has AVX2 (once la_use_avx2 has run), else NAME_base ARGS. */
#if LA_X86
#define LA_PICK(NAME, ARGS) (la_has_avx2 > 0 ? NAME##_avx2 ARGS : NAME##_base ARGS)
#else
#define LA_PICK(NAME, ARGS) (NAME##_base ARGS)
#endif

static inline void la_scan_f32(const float *row, ptrdiff_t k, ptrdiff_t stop,
                               const float *cut, la_scan *acc) {
    LA_PICK(la_scan_f32, (row, k, stop, cut, acc));
}

static inline void la_scan_f64(const double *row, ptrdiff_t k, ptrdiff_t stop,
                               const double *cut, la_scan *acc) {
    LA_PICK(la_scan_f64, (row, k, stop, cut, acc));
}

/* ---------------------------------------------------------------- prefetch
 *
 * The row passes stream the matrix once. The hardware prefetchers alone leave
 * the loads waiting on memory much of the time, so each row asks for the
 * bytes LA_PREFETCH ahead of it, one request per cache line (a hint only: it
 * never faults, even past the end of the matrix).
 */

#ifndef LA_PREFETCH
#define LA_PREFETCH 4096
#endif

static inline void la_prefetch_ahead(const void *row, ptrdiff_t nbytes) {
#if defined(__GNUC__)
    const char *p = (const char *)row + LA_PREFETCH;
    for (ptrdiff_t b = 0; b < nbytes; b += 64) __builtin_prefetch(p + b, 0, 3);
#else
    (void)row;
    (void)nbytes;
#endif
}

static inline void la_prefetch(const void *p) {
#if defined(__GNUC__)
    __builtin_prefetch(p, 0, 3);
#else
    (void)p;
#endif
}

/* ---------------------------------------------------------------- whole rows
 *
 * The same scan over a whole float32 row, for passes that do not need the
 * maximum over the other classes: two vectors per step, and a masked load for
 * the last partial vector instead of a scalar tail. Masked-out lanes are
 * neutral: +inf for the minimum, -inf for the maximum, 0 for the sum, and
 * never confident.
 *
 * The row sum only feeds the row-sum check (tolerance 1e-3), so here it is
 * kept in sixteen float32 lanes: each adds about K/16 values, an error far
 * below the tolerance for any K. A NaN or infinity still makes it
 * non-finite; so can finite values large enough to overflow it, which the
 * caller tells apart by looking for a non-finite value in the row.
 */

#if LA_X86
/* The opening of both whole-row kernels: the accumulators, then two vectors
 * of W lanes per step while they fit. */
#define LA_WHOLE_PAIRS(V, W, SETZERO, SET1, LOAD, ADD, MIN, MAX, GE)                     \
    V s0 = SETZERO(), s1 = SETZERO();                                                    \
    V vlo = SET1((float)acc->lo), vhi = SET1((float)acc->hi);                            \
    ptrdiff_t k = 0;                                                                     \
    for (; k + 2 * (W) <= K; k += 2 * (W)) {                                             \
        V a = LOAD(row + k);                                                             \
        V b = LOAD(row + k + (W));                                                       \
        s0 = ADD(s0, a);                                                                 \
        s1 = ADD(s1, b);                                                                 \
        vlo = MIN(vlo, MIN(a, b));                                                       \
        vhi = MAX(vhi, MAX(a, b));                                                       \
        if (cut) {                                                                       \
            unsigned ma = (unsigned)GE(a, LOAD(cut + k));                                \
            unsigned mb = (unsigned)GE(b, LOAD(cut + k + (W)));                          \
            if (ma | mb) la_note_hits(acc, (int)(ma | (mb << (W))), k, 2 * (W));         \
        }                                                                                \
    }

#define LA_GE_PS512(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GE_OQ)

__attribute__((target("avx2")))
static void la_whole_f32_avx2(const float *row, ptrdiff_t K, const float *cut, la_scan *acc) {
    LA_WHOLE_PAIRS(__m256, 8, _mm256_setzero_ps, _mm256_set1_ps, _mm256_loadu_ps,
                   _mm256_add_ps, _mm256_min_ps, _mm256_max_ps, LA_GE_PS256)
    if (k + 8 <= K) {
        __m256 a = _mm256_loadu_ps(row + k);
        s0 = _mm256_add_ps(s0, a);
        vlo = _mm256_min_ps(vlo, a);
        vhi = _mm256_max_ps(vhi, a);
        if (cut) {
            int mc = _mm256_movemask_ps(_mm256_cmp_ps(a, _mm256_loadu_ps(cut + k), _CMP_GE_OQ));
            if (mc) la_note_hits(acc, mc, k, 8);
        }
        k += 8;
    }
    if (k < K) {
        ptrdiff_t left = K - k;
        const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left), idx);
        __m256 mf = _mm256_castsi256_ps(m);
        __m256 a = _mm256_maskload_ps(row + k, m);
        s1 = _mm256_add_ps(s1, a);
        vlo = _mm256_min_ps(vlo, _mm256_blendv_ps(_mm256_set1_ps(INFINITY), a, mf));
        vhi = _mm256_max_ps(vhi, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), a, mf));
        if (cut) {
            __m256 c = _mm256_maskload_ps(cut + k, m);
            int mc = _mm256_movemask_ps(_mm256_cmp_ps(a, c, _CMP_GE_OQ)) & ((1 << left) - 1);
            if (mc) la_note_hits(acc, mc, k, 8);
        }
    }
    __m256 st = _mm256_add_ps(s0, s1);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(st), _mm256_extractf128_ps(st, 1));
    s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    s4 = _mm_add_ss(s4, _mm_shuffle_ps(s4, s4, 1));
    acc->sum += (double)_mm_cvtss_f32(s4);
    __m128 l4 = _mm_min_ps(_mm256_castps256_ps128(vlo), _mm256_extractf128_ps(vlo, 1));
    l4 = _mm_min_ps(l4, _mm_movehl_ps(l4, l4));
    l4 = _mm_min_ss(l4, _mm_shuffle_ps(l4, l4, 1));
    __m128 h4 = _mm_max_ps(_mm256_castps256_ps128(vhi), _mm256_extractf128_ps(vhi, 1));
    h4 = _mm_max_ps(h4, _mm_movehl_ps(h4, h4));
    h4 = _mm_max_ss(h4, _mm_shuffle_ps(h4, h4, 1));
    acc->lo = _mm_cvtss_f32(l4);
    acc->hi = _mm_cvtss_f32(h4);
}
#endif

#if LA_X86
/* With AVX-512 the last partial vector is a native masked load. */
__attribute__((target("avx512f")))
static void la_whole_f32_avx512(const float *row, ptrdiff_t K, const float *cut,
                                la_scan *acc) {
    LA_WHOLE_PAIRS(__m512, 16, _mm512_setzero_ps, _mm512_set1_ps, _mm512_loadu_ps,
                   _mm512_add_ps, _mm512_min_ps, _mm512_max_ps, LA_GE_PS512)
    for (; k < K; k += 16) {
        ptrdiff_t left = K - k;
        __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
        __m512 a = _mm512_maskz_loadu_ps(m, row + k);
        s0 = _mm512_add_ps(s0, a);
        vlo = _mm512_mask_min_ps(vlo, m, vlo, a);
        vhi = _mm512_mask_max_ps(vhi, m, vhi, a);
        if (cut) {
            unsigned mc = _mm512_mask_cmp_ps_mask(m, a, _mm512_maskz_loadu_ps(m, cut + k),
                                                  _CMP_GE_OQ);
            if (mc) la_note_hits(acc, (int)mc, k, 16);
        }
    }
    acc->sum += (double)_mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    acc->lo = _mm512_reduce_min_ps(vlo);
    acc->hi = _mm512_reduce_max_ps(vhi);
}
#endif

static inline void la_whole_f32(const float *row, ptrdiff_t K, const float *cut, la_scan *acc) {
#if LA_X86
    if (la_has_avx512 > 0) { la_whole_f32_avx512(row, K, cut, acc); return; }
    if (la_has_avx2 > 0) { la_whole_f32_avx2(row, K, cut, acc); return; }
#endif
    la_scan_f32_base(row, 0, K, cut, acc);
}

static inline void la_whole_f64(const double *row, ptrdiff_t K, const double *cut,
                                la_scan *acc) {
    la_scan_f64(row, 0, K, cut, acc);
}

/* ---------------------------------------------------------------- margin hits
 *
 * For the pruning pass: indices j with (row[j] - pk) >= bar[j], the margin
 * taken in the row's dtype exactly as the scalar code does. ``out`` receives
 * the hits in increasing j; the count is returned. Hits are rare once the
 * per-pair heaps are full, so the caller's slow path is cheap.
 */

#define LA_HITS_SCALAR(T)                                                   \
    for (; j < K; j++) {                                                    \
        T m = row[j] - pk;                                                  \
        if (m >= bar[j]) out[n++] = j;                                       \
    }

#if LA_X86
/* One body per (dtype, instruction set): V has W lanes; GE gives lane bits. */
#define LA_HITS_KERNEL(ATTR, NAME, T, V, W, SET1, SUB, LOAD, GE)                         \
    ATTR static ptrdiff_t NAME(const T *row, ptrdiff_t K, T pk, const T *bar,           \
                               ptrdiff_t *out) {                                         \
        ptrdiff_t j = 0, n = 0;                                                          \
        V vpk = SET1(pk);                                                                \
        for (; j + W <= K; j += W) {                                                     \
            int bits = GE(SUB(LOAD(row + j), vpk), LOAD(bar + j));                       \
            while (bits) {                                                               \
                int b = __builtin_ctz(bits);                                             \
                out[n++] = j + b;                                                        \
                bits &= bits - 1;                                                        \
            }                                                                            \
        }                                                                                \
        LA_HITS_SCALAR(T)                                                                \
        return n;                                                                        \
    }

LA_HITS_KERNEL(__attribute__((target("avx2"))), la_hits_f32_avx2, float, __m256, 8,
               _mm256_set1_ps, _mm256_sub_ps, _mm256_loadu_ps, LA_GE_PS256)
LA_HITS_KERNEL(__attribute__((target("avx2"))), la_hits_f64_avx2, double, __m256d, 4,
               _mm256_set1_pd, _mm256_sub_pd, _mm256_loadu_pd, LA_GE_PD256)
LA_HITS_KERNEL(, la_hits_f32_base, float, __m128, 4,
               _mm_set1_ps, _mm_sub_ps, _mm_loadu_ps, LA_GE_PS128)
LA_HITS_KERNEL(, la_hits_f64_base, double, __m128d, 2,
               _mm_set1_pd, _mm_sub_pd, _mm_loadu_pd, LA_GE_PD128)

#else /* other architectures: the scalar loop */

#define LA_HITS_PLAIN(NAME, T)                                                           \
    static ptrdiff_t NAME(const T *row, ptrdiff_t K, T pk, const T *bar, ptrdiff_t *out) { \
        ptrdiff_t j = 0, n = 0;                                                          \
        LA_HITS_SCALAR(T)                                                                \
        return n;                                                                        \
    }

LA_HITS_PLAIN(la_hits_f32_base, float)
LA_HITS_PLAIN(la_hits_f64_base, double)
#endif

static inline ptrdiff_t la_hits_f32(const float *row, ptrdiff_t K, float pk, const float *bar,
                                    ptrdiff_t *out) {
    return LA_PICK(la_hits_f32, (row, K, pk, bar, out));
}

static inline ptrdiff_t la_hits_f64(const double *row, ptrdiff_t K, double pk, const double *bar,
                                    ptrdiff_t *out) {
    return LA_PICK(la_hits_f64, (row, K, pk, bar, out));
}

/* Per-pixel argmax over the K class planes of one image row (segmentation).
 *
 * Pixel j of class k sits at row0[k * plane + j]. The first class wins ties
 * (a later class must be strictly larger), as in numpy; NaN never wins a
 * comparison. vbuf/abuf receive the maximum and its class for the W pixels.
 * Returns 1 when any value is non-finite (v - v is NaN only then). Written as
 * selects over restrict pointers with an integer flag, so the compiler
 * vectorises the sweep over each plane; the result is exact, whatever the
 * vector width. */
#define LA_PLANE_ARGMAX(NAME, T)                                             \
static inline int NAME(const T *restrict row0, ptrdiff_t K, ptrdiff_t plane, \
                       ptrdiff_t W, T *restrict vbuf, int32_t *restrict abuf) \
{                                                                            \
    int bad = 0;                                                             \
    for (ptrdiff_t j = 0; j < W; j++) {                                      \
        T v = row0[j];                                                       \
        bad |= (v - v) != 0;                                                 \
        vbuf[j] = v;                                                         \
        abuf[j] = 0;                                                         \
    }                                                                        \
    for (ptrdiff_t k = 1; k < K; k++) {                                      \
        const T *restrict row = row0 + k * plane;                            \
        int32_t kk = (int32_t)k;                                             \
        for (ptrdiff_t j = 0; j < W; j++) {                                  \
            T v = row[j];                                                    \
            T cur = vbuf[j];                                                 \
            int gt = isgreater(v, cur);   /* quiet: vectorises */           \
            bad |= (v - v) != 0;                                             \
            vbuf[j] = gt ? v : cur;                                          \
            abuf[j] = gt ? kk : abuf[j];                                     \
        }                                                                    \
    }                                                                        \
    return bad;                                                              \
}

LA_PLANE_ARGMAX(la_plane_argmax_f32, float)
LA_PLANE_ARGMAX(la_plane_argmax_f64, double)

#endif /* LABELAUDIT_ROWSCAN_H */
