import CFaceEngine
import Dispatch

/// Owns one `fe_sface` (YuNet as a `cv::dnn::Net` and a `cv::FaceRecognizerSF`); exactly one `deinit` destroys it.
/// OpenCV networks are not thread-safe, so each native engine runs its calls on its own serial queue.
final class NativeSFaceEngine: @unchecked Sendable {
    // @unchecked Sendable: `handle` is only used on `queue`, one call at a time.
    private let handle: OpaquePointer
    private let queue: DispatchQueue

    init(detectorPath: String, recognizerPath: String, index: Int) throws(FaceEngineError) {
        var engine: OpaquePointer?
        var message = [CChar](repeating: 0, count: 512)
        let status = fe_sface_create(detectorPath, recognizerPath, &engine, &message, message.count)
        guard status == FE_OK, let engine else {
            throw NativeEngine.error(status, message)
        }
        handle = engine
        queue = DispatchQueue(label: "faceid.sface-engine.\(index)", qos: .userInitiated)
    }

    deinit {
        fe_sface_destroy(handle)
    }

    /// Runs `body` with the handle on this engine's queue, off the caller's executor.
    func run<R: Sendable>(_ body: @escaping @Sendable (OpaquePointer) throws(FaceEngineError) -> R) async throws(FaceEngineError) -> R {
        let result: Result<R, FaceEngineError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(FaceEngineError) {
                    continuation.resume(returning: .success(try body(self.handle)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}
