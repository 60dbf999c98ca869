#include "CVectorKernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static void fastscan_portable(const uint8_t *codes, size_t blockCount, const uint8_t *lut,
                              int M, uint16_t *out) {
    for (size_t b = 0; b < blockCount; b++) {
        const uint8_t *block = codes + b * (size_t)M * 16;
        uint16_t acc[32];
        memset(acc, 0, sizeof acc);
        for (int m = 0; m < M; m++) {
            const uint8_t *c = block + m * 16;
            const uint8_t *t = lut + m * 16;
            for (int j = 0; j < 16; j++) {
                acc[j] += t[c[j] & 15];
                acc[j + 16] += t[c[j] >> 4];
            }
        }
        memcpy(out + b * 32, acc, sizeof acc);
    }
}

#if defined(__x86_64__)
/* Two subquantizers per 256-bit step: lane 0 holds subquantizer m, lane 1 holds m + 1, so one
   pshufb looks up 16 vectors in two tables at once. */
__attribute__((target("avx2")))
static void fastscan_avx2(const uint8_t *codes, size_t blockCount, const uint8_t *lut,
                          int M, uint16_t *out) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i zero = _mm256_setzero_si256();
    for (size_t b = 0; b < blockCount; b++) {
        const uint8_t *block = codes + b * (size_t)M * 16;
        __m256i accLo0 = zero, accLo1 = zero, accHi0 = zero, accHi1 = zero;
        for (int m = 0; m < M; m += 2) {
            __m256i c = _mm256_loadu_si256((const __m256i *)(block + m * 16));
            __m256i t = _mm256_loadu_si256((const __m256i *)(lut + m * 16));
            __m256i lo = _mm256_shuffle_epi8(t, _mm256_and_si256(c, low4));
            __m256i hi = _mm256_shuffle_epi8(t, _mm256_and_si256(_mm256_srli_epi16(c, 4), low4));
            /* widen the bytes to 16 bits: vectors 0-7 / 8-15 (low nibbles), 16-23 / 24-31 (high) */
            accLo0 = _mm256_add_epi16(accLo0, _mm256_unpacklo_epi8(lo, zero));
            accLo1 = _mm256_add_epi16(accLo1, _mm256_unpackhi_epi8(lo, zero));
            accHi0 = _mm256_add_epi16(accHi0, _mm256_unpacklo_epi8(hi, zero));
            accHi1 = _mm256_add_epi16(accHi1, _mm256_unpackhi_epi8(hi, zero));
        }
        /* lane 0 (even subquantizers) + lane 1 (odd subquantizers) */
        __m128i v0 = _mm_add_epi16(_mm256_castsi256_si128(accLo0), _mm256_extracti128_si256(accLo0, 1));
        __m128i v1 = _mm_add_epi16(_mm256_castsi256_si128(accLo1), _mm256_extracti128_si256(accLo1, 1));
        __m128i v2 = _mm_add_epi16(_mm256_castsi256_si128(accHi0), _mm256_extracti128_si256(accHi0, 1));
        __m128i v3 = _mm_add_epi16(_mm256_castsi256_si128(accHi1), _mm256_extracti128_si256(accHi1, 1));
        uint16_t *o = out + b * 32;
        _mm_storeu_si128((__m128i *)(o + 0), v0);
        _mm_storeu_si128((__m128i *)(o + 8), v1);
        _mm_storeu_si128((__m128i *)(o + 16), v2);
        _mm_storeu_si128((__m128i *)(o + 24), v3);
    }
}
#endif

static int avx2_available(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    return cached;
#else
    return 0;
#endif
}

int vk_fastscan_uses_avx2(void) { return avx2_available(); }

void vk_fastscan_u16(const uint8_t *codes, size_t blockCount, const uint8_t *lut,
                     int subquantizerCount, uint16_t *out) {
#if defined(__x86_64__)
    if (avx2_available()) {
        fastscan_avx2(codes, blockCount, lut, subquantizerCount, out);
        return;
    }
#endif
    fastscan_portable(codes, blockCount, lut, subquantizerCount, out);
}
