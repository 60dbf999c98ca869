import Foundation
import Synchronization

@testable import FaceIDServer

/// A key vault in memory, for tests about something else (the store contract): it forgets everything with the process.
final class MemoryKeyVault: KeyVault {
    private let stored = Mutex<[Data: Data]>([:])

    func secrets() async throws -> [Data: Data] { stored.withLock { $0 } }
    func secret(keyID: Data) async throws -> Data? { stored.withLock { $0[keyID] } }
    func insert(keyID: Data, secret: Data, at: Date) async throws { stored.withLock { $0[keyID] = secret } }
    func destroy(keyID: Data) async throws { _ = stored.withLock { $0.removeValue(forKey: keyID) } }
}
