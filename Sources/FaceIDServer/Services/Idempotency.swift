import Crypto
import Foundation

/// `Idempotency-Key` on the writes a client retries after a cut connection or a node that died (enroll, import, face
/// delete, kiosk upload and delete): the first request with a key runs; a retry with the same key and the same request
/// gets the stored answer again and changes nothing.
///
/// Exactly once, even across nodes: a request *claims* its key (a row with a fresh attempt id) before it runs, and the
/// write's own transaction marks the key applied for that attempt (`Idempotency.current`), so the write and the mark
/// commit together. A claim older than `staleAfter` that was never applied belongs to a request that died: a retry takes
/// it over with a new attempt id, and the old request, should it wake up, cannot apply any more (its mark finds another
/// attempt and rolls its write back). What the store keeps per key: the request's SHA-256 and the answer; for a day.
enum Idempotency {
    /// The claimed key of the request running in this task: the store marks it applied in the write's transaction.
    struct Mark: Sendable, Equatable {
        var companyID: Int64
        var key: String
        var attempt: String
    }

    /// What claiming a key found.
    enum Claim: Sendable, Equatable {
        /// This request runs, under `Mark`.
        case claimed(attempt: String)
        /// The answer to the same request, stored: send it again.
        case replay(status: Int, contentType: String?, body: Data)
        /// Another request with this key runs now (claimed less than `staleAfter` ago).
        case inProgress
        /// The request was applied but its answer never stored (its node stopped between the two).
        case appliedWithoutAnswer
        /// The key was used for a different request.
        case mismatch
    }

    @TaskLocal static var current: Mark?

    /// How long a claim holds off retries before it counts as dead.
    static let staleAfter: TimeInterval = 30
    /// How long keys and their answers are kept.
    static let lifetime: TimeInterval = 86_400

    static let header = "Idempotency-Key"

    /// 1…200 printable ASCII characters (a UUID, typically).
    static func validate(_ key: String) throws(ServiceError) -> String {
        guard (1...200).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) else {
            throw ServiceError.invalidIdempotencyKey
        }
        return key
    }

    /// What makes two requests the same: method, path with query, and body.
    static func fingerprint(method: String, uri: String, body: Data) -> Data {
        var hash = SHA256()
        hash.update(data: Data("\(method) \(uri)\n".utf8))
        hash.update(data: body)
        return Data(hash.finalize())
    }
}
