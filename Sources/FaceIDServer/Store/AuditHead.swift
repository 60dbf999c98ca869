import Crypto
import Foundation
import GRDB
import Logging

/// The audit chain's head, kept outside the store: for each company, the id and hash of its newest audit event,
/// signed (HMAC-SHA256) with a key derived from the master key, one small file per company in `audit.headDirectory`.
///
/// The hash chain alone shows that no event was changed or removed *between* others, but not that the newest ones
/// were not cut off: someone who can write the SQLite file (and drops its triggers) can delete the tail, and what
/// remains is a valid chain. The head is the anchor the file does not hold: every committed audit append moves it,
/// and `verify` checks that the store still holds the head's event with the head's hash.
///
/// The head only ever moves forward from itself: a commit whose company's stored chain no longer holds the head's row
/// (cut off, rewritten) or whose head is missing or forged leaves the head as it is, so the next appends cannot
/// launder a cut-off tail into a fresh head; `verify` keeps reporting it.
///
/// What it proves, and what not: with the head intact, no event up to the head was altered, removed or reordered,
/// and the newest events were not cut off. It cannot forge a head without the master key, but someone who can write
/// both the data folder and the head folder may put back an *older* signed head together with an older store — keep
/// the head folder where the store's writers cannot reach it (another volume, or a path only the server account writes)
/// for that case. A crash between a commit and the head's update leaves the head one step behind: the events after
/// it are still chained, and reported as `events_after_head`.
final class AuditHead: Sendable {
    /// A company's signed head.
    struct Head: Sendable, Equatable {
        var eventID: Int64
        var hash: Data
    }

    /// A head file that does not parse, or whose signature does not verify.
    struct HeadError: Error {}

    /// How the store's chain stands against the head.
    enum Status: String, Sendable {
        /// The store holds the head's event with the head's hash.
        case anchored
        /// The company has events but no head was recorded.
        case missing
        /// The head file does not parse or its signature does not verify.
        case invalid
        /// The store no longer has the head's event: the newest events were deleted.
        case truncated
        /// The store's event at the head's id has another hash: it was rewritten.
        case mismatch
        /// Neither events nor a head (a company that has done nothing yet).
        case empty
    }

    let directory: String
    private let key: SymmetricKey

    /// - Parameter master: the head is signed with a key derived from it (HKDF-SHA256, info `faceid.audit-head.v1`).
    init(directory: String, master: MasterKey) throws {
        self.directory = directory
        key = HKDF<SHA256>.deriveKey(inputKeyMaterial: master.key, info: Data("faceid.audit-head.v1".utf8), outputByteCount: 32)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }

    private func path(_ companyID: Int64) -> String { directory + "/company-\(companyID).head" }

    /// What the signature covers: the version, the company, the event id and its hash.
    private static func message(companyID: Int64, head: Head) -> Data {
        Data("faceid.audit-head.v1|\(companyID)|\(head.eventID)|\(head.hash.hex)".utf8)
    }

    private func signature(companyID: Int64, head: Head) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Self.message(companyID: companyID, head: head), using: key))
    }

    /// Whether the folder holds any company's head.
    var holdsAnyHead: Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).contains { $0.hasSuffix(".head") }
    }

    /// Replaces the company's head: a temporary file, written and flushed to disk (a power loss must not leave an
    /// empty head, which would read as forged), renamed over the old one; mode 0600.
    func record(_ head: Head, companyID: Int64) throws {
        let text = "\(head.eventID) \(head.hash.hex) \(signature(companyID: companyID, head: head).hex)\n"
        let temporary = path(companyID) + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary]) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == bytes.count, synced == 0, rename(temporary, path(companyID)) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path(companyID)])
        }
    }

    /// The company's head: nil when none was recorded; `.failure` when the file is damaged or its signature is wrong.
    /// Removes a deleted company's head (its chain went with it).
    func forget(companyID: Int64) {
        try? FileManager.default.removeItem(atPath: path(companyID))
    }

    func read(companyID: Int64) -> Result<Head, HeadError>? {
        guard let data = FileManager.default.contents(atPath: path(companyID)) else { return nil }
        let fields = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard fields.count == 3, let eventID = Int64(fields[0]), let hash = Data(hex: fields[1]), let mac = Data(hex: fields[2]) else {
            return .failure(HeadError())
        }
        let head = Head(eventID: eventID, hash: hash)
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Self.message(companyID: companyID, head: head), using: key) else {
            return .failure(HeadError())
        }
        return .success(head)
    }

    /// The store's chain against `recorded` (what `read` gave), inside a read of the store: the status and the events
    /// newer than the head.
    static func check(_ recorded: Result<Head, HeadError>?, companyID: Int64, db: Database) throws -> (status: Status, eventsAfterHead: Int) {
        let newest = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM auditEvents WHERE companyID = ?", arguments: [companyID])
        switch recorded {
        case nil:
            return (newest == nil ? .empty : .missing, 0)
        case .failure?:
            return (.invalid, 0)
        case .success(let head)?:
            guard let stored = try Data.fetchOne(db, sql: "SELECT hash FROM auditEvents WHERE id = ? AND companyID = ?",
                                                 arguments: [head.eventID, companyID]) else { return (.truncated, 0) }
            guard stored == head.hash else { return (.mismatch, 0) }
            let after = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM auditEvents WHERE companyID = ? AND id > ?",
                                         arguments: [companyID, head.eventID]) ?? 0
            return (.anchored, after)
        }
    }

    /// Records the head of every company that has events (the first start with a head folder: trust on first use);
    /// returns how many.
    func anchorAll(db: Database) throws -> Int {
        let rows = try Row.fetchAll(db, sql: """
            SELECT companyID, id, hash FROM auditEvents WHERE id IN (SELECT MAX(id) FROM auditEvents GROUP BY companyID)
            """)
        for row in rows { try record(Head(eventID: row["id"], hash: row["hash"]), companyID: row["companyID"]) }
        return rows.count
    }

    /// Whether the head may move to `newest` after a commit that appended rows from `firstNew` on: only when the stored
    /// chain still holds the current head's row with its hash, or — for a company without a head — when the company had
    /// no events before this commit (a new company). Nil when it may; else why not.
    func refusal(companyID: Int64, firstNew: Int64, db: Database) throws -> String? {
        switch read(companyID: companyID) {
        case nil:
            let older = try Int64.fetchOne(db, sql: "SELECT MIN(id) FROM auditEvents WHERE companyID = ? AND id < ?",
                                           arguments: [companyID, firstNew])
            return older == nil ? nil : "the head is missing"
        case .failure?:
            return "the head file does not verify"
        case .success(let head)?:
            let stored = try Data.fetchOne(db, sql: "SELECT hash FROM auditEvents WHERE id = ? AND companyID = ?",
                                           arguments: [head.eventID, companyID])
            return stored == head.hash ? nil : "the store no longer holds the head's event as it was"
        }
    }
}

/// Moves each company's head after every committed transaction that appended audit events (on the store's writer).
/// A head that may not move (see `AuditHead.refusal`) stays where it is, and the refusal is logged as an error.
final class AuditHeadObserver: TransactionObserver {
    private let head: AuditHead
    private let logger: Logger
    /// Rows of `auditEvents` inserted by the current transaction. Touched only on the writer's serial queue.
    private var inserted: [Int64] = []

    init(head: AuditHead, logger: Logger) {
        self.head = head
        self.logger = logger
    }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        if case .insert(let table) = eventKind { return table == "auditEvents" }
        return false
    }

    func databaseDidChange(with event: DatabaseEvent) {
        inserted.append(event.rowID)
    }

    func databaseDidCommit(_ db: Database) {
        defer { inserted.removeAll() }
        guard let first = inserted.min(), let last = inserted.max() else { return }
        do {
            // Each company's newest event among those just committed.
            let rows = try Row.fetchAll(db, sql: """
                SELECT companyID, MAX(id) AS id FROM auditEvents WHERE id BETWEEN ? AND ? GROUP BY companyID
                """, arguments: [first, last])
            for row in rows {
                let companyID: Int64 = row["companyID"], id: Int64 = row["id"]
                if let refusal = try head.refusal(companyID: companyID, firstNew: first, db: db) {
                    logger.error("the audit head of company \(companyID) stays where it is: \(refusal); GET /audit/verify reports it")
                    continue
                }
                guard let hash = try Data.fetchOne(db, sql: "SELECT hash FROM auditEvents WHERE id = ?", arguments: [id]) else { continue }
                try head.record(AuditHead.Head(eventID: id, hash: hash), companyID: companyID)
            }
        } catch {
            logger.error("the audit head could not be recorded", metadata: ["error": "\(error)"])
        }
    }

    func databaseDidRollback(_ db: Database) {
        inserted.removeAll()
    }
}

extension Data {
    /// Lower-case hexadecimal.
    var hex: String { map { String(format: "%02x", $0) }.joined() }

    /// Bytes from hexadecimal text; nil unless every pair is hex.
    init?(hex: some StringProtocol) {
        guard hex.utf8.count.isMultiple(of: 2) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.utf8.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.init(bytes)
    }
}
