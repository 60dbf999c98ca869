import COpenBLAS

/// Many-vs-many work on OpenBLAS.
enum BLAS {
    /// `out = a · bᵀ`, with `a` (aRows, dimension), `b` (bRows, dimension), `out` (aRows, bRows),
    /// all row-major.
    static func multiplyTransposed(_ a: UnsafePointer<Float>, rows aRows: Int,
                                   _ b: UnsafePointer<Float>, rows bRows: Int,
                                   dimension: Int, into out: UnsafeMutablePointer<Float>) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                    Int32(aRows), Int32(bRows), Int32(dimension),
                    1, a, Int32(dimension), b, Int32(dimension), 0, out, Int32(bRows))
    }

    /// Runs `body` with OpenBLAS allowed `threads` threads, then restores single-threaded mode.
    /// OpenBLAS's thread count is process-wide; VectorIndex only raises it during training.
    static func withThreads<R, E: Error>(_ threads: Int, _ body: () throws(E) -> R) throws(E) -> R {
        openblas_set_num_threads(Int32(max(1, threads)))
        defer { openblas_set_num_threads(1) }
        return try body()
    }

    /// Puts OpenBLAS in single-threaded mode (the default VectorIndex runs in).
    static func useSingleThread() {
        openblas_set_num_threads(1)
    }
}
