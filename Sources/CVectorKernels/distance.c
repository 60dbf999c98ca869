#include "CVectorKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Portable kernel: four independent accumulators so the compiler can keep them in registers
   (without -ffast-math it may not reassociate a single running sum). */
static float l2sqr_portable(const float *a, const float *b, size_t d) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= d; i += 4) {
        float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1], d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
        s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3;
    }
    for (; i < d; i++) { float t = a[i] - b[i]; s0 += t * t; }
    return (s0 + s1) + (s2 + s3);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static inline float l2sqr_avx2(const float *a, const float *b, size_t d) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    }
    for (; i + 8 <= d; i += 8) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    }
    __m256 acc = _mm256_add_ps(acc0, acc1);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    float sum = _mm_cvtss_f32(s);
    for (; i < d; i++) { float t = a[i] - b[i]; sum += t * t; }
    return sum;
}

__attribute__((target("avx2,fma")))
static void l2sqr_ny_avx2(const float *q, const float *base, size_t n, size_t d, float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + 2 < n) _mm_prefetch((const char *)(base + (i + 2) * d), _MM_HINT_T0);
        out[i] = l2sqr_avx2(q, base + i * d, d);
    }
}

__attribute__((target("avx2,fma")))
static void l2sqr_gather_avx2(const float *q, const float *base, const int32_t *slots, size_t n, size_t d, float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + 4 < n) {
            const char *next = (const char *)(base + (size_t)slots[i + 4] * d);
            for (size_t line = 0; line < d * sizeof(float); line += 64) _mm_prefetch(next + line, _MM_HINT_T0);
        }
        out[i] = l2sqr_avx2(q, base + (size_t)slots[i] * d, d);
    }
}
#endif

static int avx2_fma(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) cached = (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
    return cached;
#else
    return 0;
#endif
}

int vk_distance_uses_avx2(void) { return avx2_fma(); }

float vk_l2sqr(const float *a, const float *b, size_t d) {
#if defined(__x86_64__)
    if (avx2_fma()) return l2sqr_avx2(a, b, d);
#endif
    return l2sqr_portable(a, b, d);
}

void vk_l2sqr_ny(const float *q, const float *base, size_t n, size_t d, float *out) {
#if defined(__x86_64__)
    if (avx2_fma()) { l2sqr_ny_avx2(q, base, n, d, out); return; }
#endif
    for (size_t i = 0; i < n; i++) out[i] = l2sqr_portable(q, base + i * d, d);
}

void vk_l2sqr_gather(const float *q, const float *base, const int32_t *slots, size_t n, size_t d, float *out) {
#if defined(__x86_64__)
    if (avx2_fma()) { l2sqr_gather_avx2(q, base, slots, n, d, out); return; }
#endif
    for (size_t i = 0; i < n; i++) out[i] = l2sqr_portable(q, base + (size_t)slots[i] * d, d);
}
