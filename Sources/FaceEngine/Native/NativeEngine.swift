import CFaceEngine
import Dispatch

/// Owns one native engine handle — an `fe_engine` (dlib's models and networks) or an `fe_sface` (YuNet and SFace
/// through OpenCV); exactly one `deinit` destroys it. Neither is thread-safe, so each native engine runs its calls on
/// its own serial queue.
final class NativeEngine: @unchecked Sendable {
    // @unchecked Sendable: `handle` is only used on `queue`, one call at a time.
    private let handle: OpaquePointer
    private let destroy: (OpaquePointer) -> Void
    private let queue: DispatchQueue

    /// - Parameters:
    ///   - create: makes the handle (+1: this object owns it), returning the C status and message on failure.
    ///   - destroy: frees it, once, from `deinit`.
    private init(label: String, create: (inout OpaquePointer?, inout [CChar]) -> fe_status,
                 destroy: @escaping (OpaquePointer) -> Void) throws(FaceEngineError) {
        var engine: OpaquePointer?
        var message = [CChar](repeating: 0, count: 512)
        let status = create(&engine, &message)
        guard status == FE_OK, let engine else {
            throw Self.error(status, message)
        }
        handle = engine
        self.destroy = destroy
        queue = DispatchQueue(label: label, qos: .userInitiated)
    }

    /// dlib's engine on the models of `modelDirectory`.
    convenience init(modelDirectory: String, index: Int) throws(FaceEngineError) {
        try self.init(label: "faceid.face-engine.\(index)", create: { engine, message in
            fe_engine_create(modelDirectory, &engine, &message, message.count)
        }, destroy: { fe_engine_destroy($0) })
    }

    /// The SFace engine on the converted YuNet and SFace files.
    convenience init(detectorPath: String, recognizerPath: String, index: Int) throws(FaceEngineError) {
        try self.init(label: "faceid.sface-engine.\(index)", create: { engine, message in
            fe_sface_create(detectorPath, recognizerPath, &engine, &message, message.count)
        }, destroy: { fe_sface_destroy($0) })
    }

    deinit {
        destroy(handle)
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

    /// Maps a C status and message to a typed error.
    static func error(_ status: fe_status, _ message: [CChar]) -> FaceEngineError {
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        switch status {
        case FE_ERR_EMPTY_IMAGE: return .emptyImage
        case FE_ERR_UNSUPPORTED_FORMAT: return .unsupportedFormat
        case FE_ERR_CORRUPT_IMAGE: return .corruptImage(text)
        case FE_ERR_IMAGE_TOO_LARGE: return .imageTooLarge(text)
        case FE_ERR_INVALID_ARGUMENT: return .invalidArgument(text)
        case FE_ERR_MODEL: return .modelUnavailable(file: text, reason: "the native library could not load it")
        default: return .internalFailure(text)
        }
    }
}
