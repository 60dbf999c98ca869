#include "CVectorKernels.h"
#include <math.h>

/* The body is written once as plain loops and compiled twice: for the baseline and, inlined
   into a target("avx2,fma") wrapper, for AVX2 (the 16-wide inner loops vectorise). */
static inline __attribute__((always_inline))
float pq_tables_body(const float *query, const float *centroids, const int64_t *lists, size_t probeCount,
                     size_t d, size_t m, const float *codebooks, uint8_t *bytes, float *biases, float *scratch) {
    const size_t ds = d / m;
    float residual[4096];
    float maxRange = 0;
    for (size_t p = 0; p < probeCount; p++) {
        const float *c = centroids + (size_t)lists[p] * d;
        for (size_t j = 0; j < d; j++) residual[j] = query[j] - c[j];
        float bias = 0;
        for (size_t q = 0; q < m; q++) {
            float acc[16] = {0};
            for (size_t s = 0; s < ds; s++) {
                const float t = residual[q * ds + s];
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
    const size_t total = probeCount * m * 16;
    for (size_t i = 0; i < total; i++) {
        int v = (int)(scratch[i] * scale + 0.5f);
        bytes[i] = (uint8_t)(v > 255 ? 255 : v);
    }
    return scale;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static float pq_tables_avx2(const float *query, const float *centroids, const int64_t *lists, size_t probeCount,
                            size_t d, size_t m, const float *codebooks, uint8_t *bytes, float *biases, float *scratch) {
    return pq_tables_body(query, centroids, lists, probeCount, d, m, codebooks, bytes, biases, scratch);
}
#endif

static float pq_tables_portable(const float *query, const float *centroids, const int64_t *lists, size_t probeCount,
                                size_t d, size_t m, const float *codebooks, uint8_t *bytes, float *biases, float *scratch) {
    return pq_tables_body(query, centroids, lists, probeCount, d, m, codebooks, bytes, biases, scratch);
}

float vk_pq_tables(const float *query, const float *centroids, const int64_t *lists, size_t probeCount,
                   size_t d, size_t m, const float *codebooks, uint8_t *bytes, float *biases, float *scratch) {
#if defined(__x86_64__)
    if (vk_distance_uses_avx2()) return pq_tables_avx2(query, centroids, lists, probeCount, d, m, codebooks, bytes, biases, scratch);
#endif
    return pq_tables_portable(query, centroids, lists, probeCount, d, m, codebooks, bytes, biases, scratch);
}
