import Crypto
import Foundation
import Synchronization

/// Creates, wraps and unwraps the per-company data keys, and hands out `Sealer`s.
///
/// A data key is a random AES-256 key made at registration, stored only wrapped (AES-GCM, bound to the company id) under a
/// key-encryption key derived from the master key *and* the company's secret, which lives in the key vault, outside the
/// store (`KeyVault`). Destroying the secret shreds the company: every copy of its wrapped key, in the store and in every
/// backup of it, stops opening. Layout of a wrapped key: `fk2:`, the secret's key id (16 bytes), the AES-GCM box (60).
/// A key without the prefix is a legacy one wrapped under the master key alone; `rewrapLegacyKeys` moves those to the vault.
///
/// Unwrapped keys and the vault's secrets are cached in memory. On SQLite the cache is complete from the start (one process
/// makes every key); on PostgreSQL a company registered by another node is read from the vault on first use (`loadSealer`).
public final class KeyRing: Sendable {
    let master: MasterKey
    let vault: any KeyVault
    private let cache = Mutex<[Int64: SymmetricKey]>([:])
    private let secrets = Mutex<[Data: Data]>([:])
    private let indexKeys = Mutex<[Int64: SymmetricKey]>([:])

    init(master: MasterKey, vault: any KeyVault) {
        self.master = master
        self.vault = vault
    }

    /// A key for `purpose` derived from the master key (HKDF-SHA256), equal on every node that shares the master key.
    func derivedKey(_ purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: master.key, info: Data("faceid \(purpose)".utf8), outputByteCount: 32)
    }

    /// Reads every secret of the vault (at start, before `verify`).
    func loadSecrets() async throws {
        let all = try await vault.secrets()
        secrets.withLock { $0.merge(all) { _, new in new } }
    }

    /// A new data key, its secret already durable in the vault: the store wraps it (`wrap`) in the company's transaction.
    /// A transaction that then fails leaves an unused secret behind (32 bytes, opening nothing).
    struct NewDataKey: Sendable {
        let keyID: Data
        let key: SymmetricKey
    }

    func newDataKey(now: Date = Date()) async throws -> NewDataKey {
        let keyID = SymmetricKey(size: .bits128).withUnsafeBytes { Data($0) }
        let secret = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        try await vault.insert(keyID: keyID, secret: secret, at: now)
        secrets.withLock { $0[keyID] = secret }
        return NewDataKey(keyID: keyID, key: SymmetricKey(size: .bits256))
    }

    /// The wrapped form of `dataKey` for `companyID`: what the store keeps.
    func wrap(_ dataKey: NewDataKey, companyID: Int64) throws -> Data {
        guard let secret = secrets.withLock({ $0[dataKey.keyID] }) else {
            throw ServiceError.serverFault("a new data key's secret is not in the key vault")
        }
        let box = try dataKey.key.withUnsafeBytes { raw in
            try AES.GCM.seal(Data(raw), using: Self.keyEncryptionKey(master: master, secret: secret),
                             authenticating: Self.vaultedContext(companyID, keyID: dataKey.keyID)).combined!
        }
        cache.withLock { $0[companyID] = dataKey.key }
        return Self.prefix + dataKey.keyID + box
    }

    /// How a stored key is wrapped.
    enum Wrapping: Equatable {
        /// Under the master key alone (before the key vault).
        case legacy
        /// Under the master key and the vault's secret `keyID`.
        case vaulted(keyID: Data)
    }

    static func wrapping(of wrapped: Data) -> Wrapping {
        guard wrapped.count == prefix.count + 16 + 60, wrapped.starts(with: prefix) else { return .legacy }
        return .vaulted(keyID: Data(wrapped.dropFirst(prefix.count).prefix(16)))
    }

    /// The sealer of `companyID`, unwrapping `wrappedKey` unless it is cached. Synchronous (inside SQLite's transactions):
    /// the secret must be in memory, as it always is on SQLite; callers that may meet another node's new company use
    /// `loadSealer`.
    func sealer(companyID: Int64, wrappedKey: Data) throws(ServiceError) -> Sealer {
        if let key = cache.withLock({ $0[companyID] }) {
            return Sealer(companyID: companyID, key: key)
        }
        let opened: Data
        switch Self.wrapping(of: wrappedKey) {
        case .legacy:
            do {
                opened = try AES.GCM.open(AES.GCM.SealedBox(combined: wrappedKey), using: master.key,
                                          authenticating: Self.legacyContext(companyID))
            } catch {
                // A wrong master key or a damaged row: the server's fault, never the client's.
                throw ServiceError.serverFault("company data key cannot be unwrapped (wrong master key?)")
            }
        case .vaulted(let keyID):
            guard let secret = secrets.withLock({ $0[keyID] }) else {
                // Destroyed with its company (a backup of the store put back), or a vault that is not this store's.
                throw ServiceError.serverFault("company \(companyID)'s data key has no secret in the key vault (a deleted company?)")
            }
            do {
                opened = try AES.GCM.open(AES.GCM.SealedBox(combined: wrappedKey.dropFirst(Self.prefix.count + 16)),
                                          using: Self.keyEncryptionKey(master: master, secret: secret),
                                          authenticating: Self.vaultedContext(companyID, keyID: keyID))
            } catch {
                throw ServiceError.serverFault("company data key cannot be unwrapped (wrong master key?)")
            }
        }
        let key = SymmetricKey(data: opened)
        cache.withLock { $0[companyID] = key }
        return Sealer(companyID: companyID, key: key)
    }

    /// `sealer`, first reading the company's secret from the vault when this process has not seen it (PostgreSQL: a company
    /// another node registered).
    func loadSealer(companyID: Int64, wrappedKey: Data) async throws -> Sealer {
        if cache.withLock({ $0[companyID] }) == nil, case .vaulted(let keyID) = Self.wrapping(of: wrappedKey),
           secrets.withLock({ $0[keyID] }) == nil, let secret = try await vault.secret(keyID: keyID) {
            secrets.withLock { $0[keyID] = secret }
        }
        return try sealer(companyID: companyID, wrappedKey: wrappedKey)
    }

    /// Whether the company's secret is gone from the vault: a deleted company whose rows came back with an older store.
    func isShredded(companyID: Int64, wrappedKey: Data) async throws -> Bool {
        guard cache.withLock({ $0[companyID] }) == nil, case .vaulted(let keyID) = Self.wrapping(of: wrappedKey),
              secrets.withLock({ $0[keyID] }) == nil else { return false }
        guard let secret = try await vault.secret(keyID: keyID) else { return true }
        secrets.withLock { $0[keyID] = secret }
        return false
    }

    /// The key of the company's index collections, derived from its data key (HKDF-SHA256), if this process holds that;
    /// `prepareIndexKey` loads it.
    func indexKey(companyID: Int64) -> SymmetricKey? {
        if let key = indexKeys.withLock({ $0[companyID] }) { return key }
        guard let dataKey = cache.withLock({ $0[companyID] }) else { return nil }
        let key = HKDF<SHA256>.deriveKey(inputKeyMaterial: dataKey, info: Data("faceid.index.v2|company:\(companyID)".utf8),
                                         outputByteCount: 32)
        indexKeys.withLock { $0[companyID] = key }
        return key
    }

    /// Loads the company's data key (for its index key) unless it is held already. False when the company is gone or its
    /// secret destroyed: its collections cannot be opened or written.
    func prepareIndexKey(companyID: Int64, wrappedKey: Data?) async throws -> Bool {
        if cache.withLock({ $0[companyID] }) != nil { return true }
        guard let wrappedKey, try await !isShredded(companyID: companyID, wrappedKey: wrappedKey) else { return false }
        _ = try await loadSealer(companyID: companyID, wrappedKey: wrappedKey)
        return true
    }

    /// Destroys the company's secret in the vault and forgets its key: crypto-shredding. A legacy key has no secret to
    /// destroy (`rewrapLegacyKeys` runs at every start, so only a store older than the vault still holds one).
    func shred(companyID: Int64, wrappedKey: Data) async throws {
        if case .vaulted(let keyID) = Self.wrapping(of: wrappedKey) {
            try await vault.destroy(keyID: keyID)
            _ = secrets.withLock { $0.removeValue(forKey: keyID) }
        }
        _ = cache.withLock { $0.removeValue(forKey: companyID) }
        _ = indexKeys.withLock { $0.removeValue(forKey: companyID) }
    }

    /// Moves every legacy key into the vault: the same data key (nothing sealed with it changes), wrapped anew under a new
    /// secret. Compare-and-set, so nodes starting together rewrap each key once. Returns how many were rewrapped.
    func rewrapLegacyKeys(in store: any StoreLifecycle) async throws -> Int {
        var rewrapped = 0
        for (companyID, wrapped) in try await store.wrappedKeys() where Self.wrapping(of: wrapped) == .legacy {
            // One that does not open (a damaged row) stays as it is: `verify` passed on the others.
            guard let sealer = try? sealer(companyID: companyID, wrappedKey: wrapped) else { continue }
            let fresh = try await newDataKey()
            let rewrap = try wrap(NewDataKey(keyID: fresh.keyID, key: sealer.key), companyID: companyID)
            if try await store.replaceWrappedKey(companyID: companyID, old: wrapped, new: rewrap) {
                rewrapped += 1
            } else {
                // Another node rewrapped it first; the same data key, so the cache stays right.
                try await vault.destroy(keyID: fresh.keyID)
            }
        }
        return rewrapped
    }

    /// Checks the master key and the vault against the store: they must unwrap a company's data key (any one proves it; a
    /// store without companies has nothing to check). Companies whose secret is gone (deleted, and the store put back from
    /// a backup) are counted, not fatal. Run after `loadSecrets`, before anything opens the index.
    /// - Throws: `ConfigurationError` when no stored key unwraps.
    /// - Returns: the ids of the companies whose secret is not in the vault.
    @discardableResult
    func verify(against store: any StoreLifecycle) async throws -> [Int64] {
        let wrappedKeys = try await store.wrappedKeys()
        var shredded: [Int64] = []
        var opened = false
        for (companyID, wrapped) in wrappedKeys {
            if case .vaulted(let keyID) = Self.wrapping(of: wrapped), secrets.withLock({ $0[keyID] }) == nil {
                shredded.append(companyID)
            } else if (try? sealer(companyID: companyID, wrappedKey: wrapped)) != nil {
                opened = true
            }
        }
        if !opened, shredded.count == wrappedKeys.count, !wrappedKeys.isEmpty {
            throw ConfigurationError(
                key: "crypto.masterKey",
                message: """
                    the stored data does not open: the key vault holds no company's secret. Start with the key vault that goes \
                    with this store (\(SQLiteKeyVault.fileName) in the data folder, or the faceid_keys schema on PostgreSQL), \
                    restored from its own backup.
                    """)
        }
        guard opened || wrappedKeys.isEmpty else {
            throw ConfigurationError(
                key: "crypto.masterKey",
                message: """
                    the stored data does not open: no company data key can be unwrapped (wrong master key?). Start with the \
                    master key this data folder was created with.
                    """)
        }
        return shredded
    }

    private static let prefix = Data("fk2:".utf8)

    private static func keyEncryptionKey(master: MasterKey, secret: Data) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: master.key, salt: secret, info: Data("faceid.datakey.v2".utf8), outputByteCount: 32)
    }

    private static func legacyContext(_ companyID: Int64) -> Data {
        Data("faceid.datakey.v1|company:\(companyID)".utf8)
    }

    private static func vaultedContext(_ companyID: Int64, keyID: Data) -> Data {
        Data("faceid.datakey.v2|company:\(companyID)|key:".utf8) + keyID
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
