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

void vk_prefetch(const void *address, size_t bytes) {
#if defined(__x86_64__)
    for (size_t line = 0; line < bytes; line += 64) _mm_prefetch((const char *)address + line, _MM_HINT_T0);
#else
    (void)address;
    (void)bytes;
#endif
}

#if defined(__x86_64__)
/* One block of 32 vectors into 32 sums, then the positions whose sum is below the threshold,
   found with a vector compare and a bit mask. FAISS's accumulation trick: the shuffled bytes are
   added as 16-bit lanes (low byte + 256 × high byte) and, separately, shifted right by 8 (the
   high byte); the low-byte sums are recovered at the end as total − (high << 8). */
__attribute__((target("avx2")))
static size_t fastscan_collect_avx2(const uint8_t *codes, size_t n, const uint8_t *lut, int M,
                                    uint16_t threshold, uint32_t *positions, uint16_t *sums) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m128i limit = _mm_set1_epi16((short)(threshold ^ 0x8000));
    const __m128i flip = _mm_set1_epi16((short)0x8000);
    size_t kept = 0;
    const size_t blocks = (n + 31) / 32;
    const size_t blockBytes = (size_t)M * 16;
    for (size_t b = 0; b < blocks; b++) {
        const uint8_t *block = codes + b * blockBytes;
        if (b + 1 < blocks) {
            /* the hardware prefetcher is slow to ramp up on short lists: fetch the next block now */
            for (size_t line = 0; line < blockBytes; line += 64) _mm_prefetch((const char *)(block + blockBytes + line), _MM_HINT_T0);
        }
        __m256i loAll = _mm256_setzero_si256(), loHigh = _mm256_setzero_si256();
        __m256i hiAll = _mm256_setzero_si256(), hiHigh = _mm256_setzero_si256();
        for (int m = 0; m < M; m += 2) {
            __m256i c = _mm256_loadu_si256((const __m256i *)(block + m * 16));
            __m256i t = _mm256_loadu_si256((const __m256i *)(lut + m * 16));
            __m256i lo = _mm256_shuffle_epi8(t, _mm256_and_si256(c, low4));
            __m256i hi = _mm256_shuffle_epi8(t, _mm256_and_si256(_mm256_srli_epi16(c, 4), low4));
            loAll = _mm256_add_epi16(loAll, lo);
            loHigh = _mm256_add_epi16(loHigh, _mm256_srli_epi16(lo, 8));
            hiAll = _mm256_add_epi16(hiAll, hi);
            hiHigh = _mm256_add_epi16(hiHigh, _mm256_srli_epi16(hi, 8));
        }
        /* even byte lanes (vectors 0,2,4.. of each half) = all − (high << 8); odd = high */
        __m256i loEven = _mm256_sub_epi16(loAll, _mm256_slli_epi16(loHigh, 8));
        __m256i hiEven = _mm256_sub_epi16(hiAll, _mm256_slli_epi16(hiHigh, 8));
        /* lane 0 (even subquantizers) + lane 1 (odd subquantizers) */
        __m128i e0 = _mm_add_epi16(_mm256_castsi256_si128(loEven), _mm256_extracti128_si256(loEven, 1));
        __m128i o0 = _mm_add_epi16(_mm256_castsi256_si128(loHigh), _mm256_extracti128_si256(loHigh, 1));
        __m128i e1 = _mm_add_epi16(_mm256_castsi256_si128(hiEven), _mm256_extracti128_si256(hiEven, 1));
        __m128i o1 = _mm_add_epi16(_mm256_castsi256_si128(hiHigh), _mm256_extracti128_si256(hiHigh, 1));
        /* interleave back to vector order: e holds vectors 0,2,..,14 and o holds 1,3,..,15 */
        __m128i v0 = _mm_unpacklo_epi16(e0, o0), v1 = _mm_unpackhi_epi16(e0, o0);
        __m128i v2 = _mm_unpacklo_epi16(e1, o1), v3 = _mm_unpackhi_epi16(e1, o1);
        /* unsigned 16-bit compare through the sign flip */
        unsigned mask =
            (unsigned)_mm_movemask_epi8(_mm_packs_epi16(_mm_cmplt_epi16(_mm_xor_si128(v0, flip), limit),
                                                        _mm_cmplt_epi16(_mm_xor_si128(v1, flip), limit))) |
            ((unsigned)_mm_movemask_epi8(_mm_packs_epi16(_mm_cmplt_epi16(_mm_xor_si128(v2, flip), limit),
                                                         _mm_cmplt_epi16(_mm_xor_si128(v3, flip), limit))) << 16);
        if (!mask) continue;
        uint16_t all[32];
        _mm_storeu_si128((__m128i *)(all + 0), v0);
        _mm_storeu_si128((__m128i *)(all + 8), v1);
        _mm_storeu_si128((__m128i *)(all + 16), v2);
        _mm_storeu_si128((__m128i *)(all + 24), v3);
        while (mask) {
            unsigned j = (unsigned)__builtin_ctz(mask);
            mask &= mask - 1;
            size_t position = b * 32 + j;
            if (position >= n) break;
            positions[kept] = (uint32_t)position;
            sums[kept] = all[j];
            kept++;
        }
    }
    return kept;
}
#endif

size_t vk_fastscan_collect(const uint8_t *codes, size_t n, const uint8_t *lut, int subquantizerCount,
                           uint16_t threshold, uint32_t *positions, uint16_t *sums) {
#if defined(__x86_64__)
    if (avx2_available()) return fastscan_collect_avx2(codes, n, lut, subquantizerCount, threshold, positions, sums);
#endif
    size_t kept = 0;
    uint16_t all[32];
    for (size_t b = 0; b * 32 < n; b++) {
        fastscan_portable(codes + b * (size_t)subquantizerCount * 16, 1, lut, subquantizerCount, all);
        for (size_t j = 0; j < 32 && b * 32 + j < n; j++) {
            if (all[j] < threshold) {
                positions[kept] = (uint32_t)(b * 32 + j);
                sums[kept] = all[j];
                kept++;
            }
        }
    }
    return kept;
}

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
