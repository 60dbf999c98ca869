import CFaceEngine
import Dispatch

/// Owns one `fe_engine` (the models and networks); exactly one `deinit` destroys it. dlib objects
/// are not thread-safe, so each native engine runs its calls on its own serial queue.
final class NativeEngine: @unchecked Sendable {
    // @unchecked Sendable: `handle` is only used on `queue`, one call at a time.
    private let handle: OpaquePointer
    private let queue: DispatchQueue

    init(modelDirectory: String, index: Int) throws(FaceEngineError) {
        var engine: OpaquePointer?
        var message = [CChar](repeating: 0, count: 512)
        let status = fe_engine_create(modelDirectory, &engine, &message, message.count)
        guard status == FE_OK, let engine else {
            throw Self.error(status, message)
        }
        handle = engine
        queue = DispatchQueue(label: "faceid.face-engine.\(index)", qos: .userInitiated)
    }

    deinit {
        fe_engine_destroy(handle)
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
        case FE_ERR_MODEL: return .modelUnavailable(file: text, reason: "dlib could not load it")
        default: return .internalFailure(text)
        }
    }
}
