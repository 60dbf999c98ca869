#include "CVectorKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline uint8_t quantize(float v, float scale) {
    int q = (int)(v * scale + 0.5f);
    return (uint8_t)(q > 255 ? 255 : (q < 0 ? 0 : q));
}

static float pq_tables_portable(const float *query, const float *centroids, const int64_t *lists, size_t probeCount,
                                size_t d, size_t m, const float *codebooks, uint8_t *bytes, float *biases,
                                float *scratch) {
    const size_t ds = d / m;
    float maxRange = 0;
    for (size_t p = 0; p < probeCount; p++) {
        const float *c = centroids + (size_t)lists[p] * d;
        float bias = 0;
        for (size_t q = 0; q < m; q++) {
            float acc[16] = {0};
            for (size_t s = 0; s < ds; s++) {
                const float t = query[q * ds + s] - c[q * ds + s];
                const float *cb = codebooks + (q * ds + s) * 16;
                for (int j = 0; j < 16; j++) { float diff = t - cb[j]; acc[j] += diff * diff; }
            }
            float lo = acc[0], hi = acc[0];
            for (int j = 1; j < 16; j++) { lo = acc[j] < lo ? acc[j] : lo; hi = acc[j] > hi ? acc[j] : hi; }
            float *row = scratch + (p * m + q) * 16;
            for (int j = 0; j < 16; j++) row[j] = acc[j] - lo;
            bias += lo;
            if (hi - lo > maxRange) maxRange = hi - lo;
        }
        biases[p] = bias;
    }
    const float scale = maxRange > 0 ? 255.0f / maxRange : 1.0f;
    for (size_t i = 0; i < probeCount * m * 16; i++) bytes[i] = quantize(scratch[i], scale);
    return scale;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static inline float hmin256(__m256 v) {
    __m128 x = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_min_ps(x, _mm_movehl_ps(x, x));
    x = _mm_min_ss(x, _mm_shuffle_ps(x, x, 1));
    return _mm_cvtss_f32(x);
}

__attribute__((target("avx2,fma")))
static inline float hmax256(__m256 v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    x = _mm_max_ss(x, _mm_shuffle_ps(x, x, 1));
    return _mm_cvtss_f32(x);
}

/* Everything stays in registers: the 16 centroids of a subquantizer are two __m256 per
   coordinate, so a table row costs 2 FMAs per coordinate plus one horizontal minimum. */
__attribute__((target("avx2,fma")))
static float pq_tables_avx2(const float *query, const float *centroids, const int64_t *lists, size_t probeCount,
                            size_t d, size_t m, const float *codebooks, uint8_t *bytes, float *biases,
                            float *scratch) {
    const size_t ds = d / m;
    __m256 range = _mm256_setzero_ps();
    for (size_t p = 0; p < probeCount; p++) {
        const float *c = centroids + (size_t)lists[p] * d;
        float bias = 0;
        for (size_t q = 0; q < m; q++) {
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
            for (size_t s = 0; s < ds; s++) {
                const __m256 t = _mm256_set1_ps(query[q * ds + s] - c[q * ds + s]);
                const float *cb = codebooks + (q * ds + s) * 16;
                __m256 d0 = _mm256_sub_ps(t, _mm256_loadu_ps(cb)), d1 = _mm256_sub_ps(t, _mm256_loadu_ps(cb + 8));
                acc0 = _mm256_fmadd_ps(d0, d0, acc0);
                acc1 = _mm256_fmadd_ps(d1, d1, acc1);
            }
            const float lo = hmin256(_mm256_min_ps(acc0, acc1));
            const __m256 low = _mm256_set1_ps(lo);
            acc0 = _mm256_sub_ps(acc0, low);
            acc1 = _mm256_sub_ps(acc1, low);
            range = _mm256_max_ps(range, _mm256_max_ps(acc0, acc1));
            float *row = scratch + (p * m + q) * 16;
            _mm256_storeu_ps(row, acc0);
            _mm256_storeu_ps(row + 8, acc1);
            bias += lo;
        }
        biases[p] = bias;
    }
    const float maxRange = hmax256(range);
    const float scale = maxRange > 0 ? 255.0f / maxRange : 1.0f;
    const __m256 s = _mm256_set1_ps(scale);
    const size_t total = probeCount * m * 16;
    for (size_t i = 0; i < total; i += 16) {
        /* round to nearest (the default MXCSR mode); values are within 0...255 by construction */
        __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(scratch + i), s));
        __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(scratch + i + 8), s));
        __m256i words = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
        __m128i packed = _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
        _mm_storeu_si128((__m128i *)(bytes + i), packed);
    }
    return scale;
}
#endif

float vk_pq_tables(const float *query, const float *centroids, const int64_t *lists, size_t probeCount,
                   size_t d, size_t m, const float *codebooks, uint8_t *bytes, float *biases, float *scratch) {
#if defined(__x86_64__)
    if (vk_distance_uses_avx2()) return pq_tables_avx2(query, centroids, lists, probeCount, d, m, codebooks, bytes, biases, scratch);
#endif
    return pq_tables_portable(query, centroids, lists, probeCount, d, m, codebooks, bytes, biases, scratch);
}
