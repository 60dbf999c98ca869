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

/// Like `vk_fastscan_u16` over one list of `n` vectors, but keeps only the vectors whose sum is
/// below `threshold`: their positions go to `positions` and their sums to `sums` (each with room
/// for `n` entries). Returns how many were kept.
size_t vk_fastscan_collect(const uint8_t *codes, size_t n, const uint8_t *lut, int subquantizerCount,
                           uint16_t threshold, uint32_t *positions, uint16_t *sums);

/// Asks the CPU to start loading `bytes` bytes at `address` into the cache.
void vk_prefetch(const void *address, size_t bytes);

/// Returns 1 when the AVX2 kernel is in use, 0 for the portable one.
int vk_fastscan_uses_avx2(void);


/// Squared L2 distance between two vectors of `d` floats (AVX2+FMA when the CPU has them).
float vk_l2sqr(const float *a, const float *b, size_t d);

/// Squared L2 distances from `q` to `n` contiguous vectors. Layout of `base`: (n, d).
void vk_l2sqr_ny(const float *q, const float *base, size_t n, size_t d, float *out);

/// Squared L2 distances from `q` to the vectors at `slots` of `base` (layout (*, d)).
void vk_l2sqr_gather(const float *q, const float *base, const int32_t *slots, size_t n, size_t d, float *out);

/// Returns 1 when the AVX2+FMA distance kernels are in use.
int vk_distance_uses_avx2(void);

/// Builds the 8-bit lookup tables of one IVF-PQ query (16 centroids per subquantizer).
///
/// For probed list p, the residual r = query − centroids[lists[p]] is cut into `m` sub-vectors
/// of `d / m` floats; entry (p, q, j) is the squared distance of sub-vector q to centroid j,
/// less the minimum over j (the minima summed into `biases[p]`), times one scale shared by
/// every list, rounded to a byte.
/// Layouts: `codebooks` (m, d / m, 16); `centroids` (*, d); `bytes` (probeCount, m, 16);
/// `scratch` probeCount * m * 16 floats.
/// Returns the scale (table units per squared-distance unit).
float vk_pq_tables(const float *query, const float *centroids, const int64_t *lists, size_t probeCount,
                   size_t d, size_t m, const float *codebooks, uint8_t *bytes, float *biases, float *scratch);

#endif
