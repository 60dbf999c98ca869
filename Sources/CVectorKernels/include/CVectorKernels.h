#ifndef CVECTORKERNELS_H
#define CVECTORKERNELS_H
#include <stdint.h>
#include <stddef.h>

/// Scans blocks of 32 vectors coded with 4-bit product quantization ("fast-scan") against
/// per-query 8-bit lookup tables, accumulating the approximate distances in 16-bit lanes.
///
/// Layout of `codes`: `blockCount` blocks of `subquantizerCount * 16` bytes. Inside a block,
/// subquantizer `m` owns the 16 bytes at `m * 16`: byte `j` holds the code of vector `j` in its
/// low nibble and the code of vector `j + 16` in its high nibble.
/// Layout of `lut`: (subquantizerCount, 16) unsigned bytes.
/// Layout of `out`: (blockCount, 32) sums, vector order within each block.
/// `subquantizerCount` must be even and at most 256 (so a sum never exceeds 65535).
void vk_fastscan_u16(const uint8_t *codes, size_t blockCount, const uint8_t *lut,
                     int subquantizerCount, uint16_t *out);

/// Returns 1 when the AVX2 kernel is in use, 0 for the portable one.
int vk_fastscan_uses_avx2(void);

#endif
