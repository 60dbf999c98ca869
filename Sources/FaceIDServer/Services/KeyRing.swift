import Crypto
import Foundation
import Synchronization

/// Creates, wraps and unwraps the per-company data keys, and hands out `Sealer`s.
///
/// A data key is a random AES-256 key made at registration, stored only wrapped
/// (AES-GCM under the master key, bound to the company id). Unwrapped keys are cached in memory.
public final class KeyRing: Sendable {
    let master: MasterKey
    private let cache = Mutex<[Int64: SymmetricKey]>([:])

    public init(master: MasterKey) {
        self.master = master
    }

    /// A key for `purpose` derived from the master key (HKDF-SHA256), equal on every node that shares the master key.
    func derivedKey(_ purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: master.key, info: Data("faceid \(purpose)".utf8), outputByteCount: 32)
    }

    /// A new data key for `companyID` and its wrapped form (what the store keeps).
    func makeDataKey(companyID: Int64) throws -> Data {
        let dataKey = SymmetricKey(size: .bits256)
        let wrapped = try dataKey.withUnsafeBytes { raw in
            try AES.GCM.seal(Data(raw), using: master.key, authenticating: Self.wrapContext(companyID)).combined!
        }
        cache.withLock { $0[companyID] = dataKey }
        return wrapped
    }

    /// The sealer of `companyID`, unwrapping `wrappedKey` unless it is cached.
    func sealer(companyID: Int64, wrappedKey: Data) throws(ServiceError) -> Sealer {
        if let key = cache.withLock({ $0[companyID] }) {
            return Sealer(companyID: companyID, key: key)
        }
        do {
            let box = try AES.GCM.SealedBox(combined: wrappedKey)
            let raw = try AES.GCM.open(box, using: master.key, authenticating: Self.wrapContext(companyID))
            let key = SymmetricKey(data: raw)
            cache.withLock { $0[companyID] = key }
            return Sealer(companyID: companyID, key: key)
        } catch {
            // A wrong master key or a damaged row: the server's fault, never the client's.
            throw ServiceError.serverFault("company data key cannot be unwrapped (wrong master key?)")
        }
    }

    /// Checks the master key against the store: it must unwrap a company's data key (any one proves it; a
    /// store without companies has nothing to check). Run before anything opens the index.
    /// - Throws: `ConfigurationError` for `crypto.masterKey` when no stored key unwraps.
    func verify(against store: any StoreLifecycle) async throws {
        let wrappedKeys = try await store.wrappedKeys()
        guard !wrappedKeys.isEmpty else { return }
        for (companyID, wrapped) in wrappedKeys where (try? sealer(companyID: companyID, wrappedKey: wrapped)) != nil {
            return
        }
        throw ConfigurationError(
            key: "crypto.masterKey",
            message: """
                the stored data does not open: no company data key can be unwrapped (wrong master key?). \
                Start with the master key this data folder was created with.
                """)
    }

    /// Forgets a company's key (its deletion destroys the wrapped key in the store).
    func forget(companyID: Int64) {
        _ = cache.withLock { $0.removeValue(forKey: companyID) }
    }

    private static func wrapContext(_ companyID: Int64) -> Data {
        Data("faceid.datakey.v1|company:\(companyID)".utf8)
    }
}

/// Seals and opens a company's records with its data key (AES-256-GCM).
///
/// The associated data binds the company and the record id, so a sealed value copied to another
/// record or company fails to open. Layout of a sealed value: version byte `1`, nonce (12), ciphertext, tag (16).
public struct Sealer: Sendable {
    public let companyID: Int64
    let key: SymmetricKey

    /// Seals `plaintext` for the record `recordID` (e.g. `"face:42"`).
    public func seal(_ plaintext: Data, recordID: String) throws -> Data {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: context(recordID))
        return Data([1]) + box.combined!
    }

    /// Opens what `seal` produced for the same record; throws when the bytes or the binding differ.
    public func open(_ sealed: Data, recordID: String) throws -> Data {
        guard sealed.first == 1 else { throw ServiceError.serverFault("unknown sealed-record version") }
        let box = try AES.GCM.SealedBox(combined: sealed.dropFirst())
        return try AES.GCM.open(box, using: key, authenticating: context(recordID))
    }

    private func context(_ recordID: String) -> Data {
        Data("faceid.record.v1|company:\(companyID)|record:\(recordID)".utf8)
    }
}
