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

/* ---------------------------------------------------------------- float32 */

#if LA_X86
__attribute__((target("avx2")))
static void la_scan_f32_avx2(const float *row, ptrdiff_t k, ptrdiff_t stop,
                             const float *cut, la_scan *acc) {
    float lo = (float)acc->lo, hi = (float)acc->hi;
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    for (; k + 8 <= stop; k += 8) {
        __m256 v = _mm256_loadu_ps(row + k);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
        vlo = _mm256_min_ps(v, vlo);
        vhi = _mm256_max_ps(v, vhi);
        if (cut) {
            int m = _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_loadu_ps(cut + k), _CMP_GE_OQ));
            if (m) la_note_hits(acc, m, k, 8);
        }
    }
    double sums[4];
    float los[8], his[8];
    _mm256_storeu_pd(sums, _mm256_add_pd(s0, s1));
    _mm256_storeu_ps(los, vlo);
    _mm256_storeu_ps(his, vhi);
    acc->sum += (sums[0] + sums[1]) + (sums[2] + sums[3]);
    for (int j = 0; j < 8; j++) {
        if (los[j] < lo) lo = los[j];
        if (his[j] > hi) hi = his[j];
    }
    LA_SCALAR_BODY(float)
    acc->lo = lo;
    acc->hi = hi;
}
#endif

static void la_scan_f32_base(const float *row, ptrdiff_t k, ptrdiff_t stop,
                             const float *cut, la_scan *acc) {
    float lo = (float)acc->lo, hi = (float)acc->hi;
#if LA_X86
    __m128d s0 = _mm_setzero_pd(), s1 = _mm_setzero_pd();
    __m128 vlo = _mm_set1_ps(lo), vhi = _mm_set1_ps(hi);
    for (; k + 4 <= stop; k += 4) {
        __m128 v = _mm_loadu_ps(row + k);
        s0 = _mm_add_pd(s0, _mm_cvtps_pd(v));
        s1 = _mm_add_pd(s1, _mm_cvtps_pd(_mm_movehl_ps(v, v)));
        vlo = _mm_min_ps(v, vlo);
        vhi = _mm_max_ps(v, vhi);
        if (cut) {
            int m = _mm_movemask_ps(_mm_cmpge_ps(v, _mm_loadu_ps(cut + k)));
            if (m) la_note_hits(acc, m, k, 4);
        }
    }
    double sums[2];
    float los[4], his[4];
    _mm_storeu_pd(sums, _mm_add_pd(s0, s1));
    _mm_storeu_ps(los, vlo);
    _mm_storeu_ps(his, vhi);
    acc->sum += sums[0] + sums[1];
    for (int j = 0; j < 4; j++) {
        if (los[j] < lo) lo = los[j];
        if (his[j] > hi) hi = his[j];
    }
#endif
    LA_SCALAR_BODY(float)
    acc->lo = lo;
    acc->hi = hi;
}

/* ---------------------------------------------------------------- float64 */

#if LA_X86
__attribute__((target("avx2")))
static void la_scan_f64_avx2(const double *row, ptrdiff_t k, ptrdiff_t stop,
                             const double *cut, la_scan *acc) {
    double lo = acc->lo, hi = acc->hi;
    __m256d s0 = _mm256_setzero_pd();
    __m256d vlo = _mm256_set1_pd(lo), vhi = _mm256_set1_pd(hi);
    for (; k + 4 <= stop; k += 4) {
        __m256d v = _mm256_loadu_pd(row + k);
        s0 = _mm256_add_pd(s0, v);
        vlo = _mm256_min_pd(v, vlo);
        vhi = _mm256_max_pd(v, vhi);
        if (cut) {
            int m = _mm256_movemask_pd(_mm256_cmp_pd(v, _mm256_loadu_pd(cut + k), _CMP_GE_OQ));
            if (m) la_note_hits(acc, m, k, 4);
        }
    }
    double sums[4], los[4], his[4];
    _mm256_storeu_pd(sums, s0);
    _mm256_storeu_pd(los, vlo);
    _mm256_storeu_pd(his, vhi);
    acc->sum += (sums[0] + sums[1]) + (sums[2] + sums[3]);
    for (int j = 0; j < 4; j++) {
        if (los[j] < lo) lo = los[j];
        if (his[j] > hi) hi = his[j];
    }
    LA_SCALAR_BODY(double)
    acc->lo = lo;
    acc->hi = hi;
}
#endif

static void la_scan_f64_base(const double *row, ptrdiff_t k, ptrdiff_t stop,
                             const double *cut, la_scan *acc) {
    double lo = acc->lo, hi = acc->hi;
#if LA_X86
    __m128d s0 = _mm_setzero_pd();
    __m128d vlo = _mm_set1_pd(lo), vhi = _mm_set1_pd(hi);
    for (; k + 2 <= stop; k += 2) {
        __m128d v = _mm_loadu_pd(row + k);
        s0 = _mm_add_pd(s0, v);
        vlo = _mm_min_pd(v, vlo);
        vhi = _mm_max_pd(v, vhi);
        if (cut) {
            int m = _mm_movemask_pd(_mm_cmpge_pd(v, _mm_loadu_pd(cut + k)));
            if (m) la_note_hits(acc, m, k, 2);
        }
    }
    double sums[2], los[2], his[2];
    _mm_storeu_pd(sums, s0);
    _mm_storeu_pd(los, vlo);
    _mm_storeu_pd(his, vhi);
    acc->sum += sums[0] + sums[1];
    for (int j = 0; j < 2; j++) {
        if (los[j] < lo) lo = los[j];
        if (his[j] > hi) hi = his[j];
    }
#endif
    LA_SCALAR_BODY(double)
    acc->lo = lo;
    acc->hi = hi;
}

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

static inline void la_scan_f32(const float *row, ptrdiff_t k, ptrdiff_t stop,
                               const float *cut, la_scan *acc) {
#if LA_X86
    if (la_has_avx2 > 0) { la_scan_f32_avx2(row, k, stop, cut, acc); return; }
#endif
    la_scan_f32_base(row, k, stop, cut, acc);
}

static inline void la_scan_f64(const double *row, ptrdiff_t k, ptrdiff_t stop,
                               const double *cut, la_scan *acc) {
#if LA_X86
    if (la_has_avx2 > 0) { la_scan_f64_avx2(row, k, stop, cut, acc); return; }
#endif
    la_scan_f64_base(row, k, stop, cut, acc);
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
__attribute__((target("avx2")))
static void la_whole_f32_avx2(const float *row, ptrdiff_t K, const float *cut, la_scan *acc) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 vlo = _mm256_set1_ps((float)acc->lo), vhi = _mm256_set1_ps((float)acc->hi);
    ptrdiff_t k = 0;
    for (; k + 16 <= K; k += 16) {
        __m256 a = _mm256_loadu_ps(row + k);
        __m256 b = _mm256_loadu_ps(row + k + 8);
        s0 = _mm256_add_ps(s0, a);
        s1 = _mm256_add_ps(s1, b);
        vlo = _mm256_min_ps(vlo, _mm256_min_ps(a, b));
        vhi = _mm256_max_ps(vhi, _mm256_max_ps(a, b));
        if (cut) {
            int ma = _mm256_movemask_ps(_mm256_cmp_ps(a, _mm256_loadu_ps(cut + k), _CMP_GE_OQ));
            int mb = _mm256_movemask_ps(_mm256_cmp_ps(b, _mm256_loadu_ps(cut + k + 8),
                                                      _CMP_GE_OQ));
            if (ma | mb) la_note_hits(acc, ma | (mb << 8), k, 16);
        }
    }
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
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 vlo = _mm512_set1_ps((float)acc->lo), vhi = _mm512_set1_ps((float)acc->hi);
    ptrdiff_t k = 0;
    for (; k + 32 <= K; k += 32) {
        __m512 a = _mm512_loadu_ps(row + k);
        __m512 b = _mm512_loadu_ps(row + k + 16);
        s0 = _mm512_add_ps(s0, a);
        s1 = _mm512_add_ps(s1, b);
        vlo = _mm512_min_ps(vlo, _mm512_min_ps(a, b));
        vhi = _mm512_max_ps(vhi, _mm512_max_ps(a, b));
        if (cut) {
            unsigned ma = _mm512_cmp_ps_mask(a, _mm512_loadu_ps(cut + k), _CMP_GE_OQ);
            unsigned mb = _mm512_cmp_ps_mask(b, _mm512_loadu_ps(cut + k + 16), _CMP_GE_OQ);
            if (ma | mb) la_note_hits(acc, (int)(ma | (mb << 16)), k, 32);
        }
    }
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
__attribute__((target("avx2")))
static ptrdiff_t la_hits_f32_avx2(const float *row, ptrdiff_t K, float pk, const float *bar,
                                  ptrdiff_t *out) {
    ptrdiff_t j = 0, n = 0;
    __m256 vpk = _mm256_set1_ps(pk);
    for (; j + 8 <= K; j += 8) {
        __m256 m = _mm256_sub_ps(_mm256_loadu_ps(row + j), vpk);
        int bits = _mm256_movemask_ps(_mm256_cmp_ps(m, _mm256_loadu_ps(bar + j), _CMP_GE_OQ));
        while (bits) {
            int b = __builtin_ctz(bits);
            out[n++] = j + b;
            bits &= bits - 1;
        }
    }
    LA_HITS_SCALAR(float)
    return n;
}

__attribute__((target("avx2")))
static ptrdiff_t la_hits_f64_avx2(const double *row, ptrdiff_t K, double pk, const double *bar,
                                  ptrdiff_t *out) {
    ptrdiff_t j = 0, n = 0;
    __m256d vpk = _mm256_set1_pd(pk);
    for (; j + 4 <= K; j += 4) {
        __m256d m = _mm256_sub_pd(_mm256_loadu_pd(row + j), vpk);
        int bits = _mm256_movemask_pd(_mm256_cmp_pd(m, _mm256_loadu_pd(bar + j), _CMP_GE_OQ));
        while (bits) {
            int b = __builtin_ctz(bits);
            out[n++] = j + b;
            bits &= bits - 1;
        }
    }
    LA_HITS_SCALAR(double)
    return n;
}
#endif

static ptrdiff_t la_hits_f32_base(const float *row, ptrdiff_t K, float pk, const float *bar,
                                  ptrdiff_t *out) {
    ptrdiff_t j = 0, n = 0;
#if LA_X86
    __m128 vpk = _mm_set1_ps(pk);
    for (; j + 4 <= K; j += 4) {
        __m128 m = _mm_sub_ps(_mm_loadu_ps(row + j), vpk);
        int bits = _mm_movemask_ps(_mm_cmpge_ps(m, _mm_loadu_ps(bar + j)));
        while (bits) {
            int b = __builtin_ctz(bits);
            out[n++] = j + b;
            bits &= bits - 1;
        }
    }
#endif
    LA_HITS_SCALAR(float)
    return n;
}

static ptrdiff_t la_hits_f64_base(const double *row, ptrdiff_t K, double pk, const double *bar,
                                  ptrdiff_t *out) {
    ptrdiff_t j = 0, n = 0;
#if LA_X86
    __m128d vpk = _mm_set1_pd(pk);
    for (; j + 2 <= K; j += 2) {
        __m128d m = _mm_sub_pd(_mm_loadu_pd(row + j), vpk);
        int bits = _mm_movemask_pd(_mm_cmpge_pd(m, _mm_loadu_pd(bar + j)));
        while (bits) {
            int b = __builtin_ctz(bits);
            out[n++] = j + b;
            bits &= bits - 1;
        }
    }
#endif
    LA_HITS_SCALAR(double)
    return n;
}

static inline ptrdiff_t la_hits_f32(const float *row, ptrdiff_t K, float pk, const float *bar,
                                    ptrdiff_t *out) {
#if LA_X86
    if (la_has_avx2 > 0) return la_hits_f32_avx2(row, K, pk, bar, out);
#endif
    return la_hits_f32_base(row, K, pk, bar, out);
}

static inline ptrdiff_t la_hits_f64(const double *row, ptrdiff_t K, double pk, const double *bar,
                                    ptrdiff_t *out) {
#if LA_X86
    if (la_has_avx2 > 0) return la_hits_f64_avx2(row, K, pk, bar, out);
#endif
    return la_hits_f64_base(row, K, pk, bar, out);
}

#endif /* LABELAUDIT_ROWSCAN_H */
