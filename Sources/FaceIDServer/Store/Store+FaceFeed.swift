import Foundation
import GRDB

/// The index's view of the one change feed (`changes`, appended by SQLite triggers: migration v10): the face rows in
/// order, each with the face's current sealed embeddings, and the published index models' rows; a snapshot of the current faces for an index rebuilt after the
/// feed was purged; and the quarantine of faces whose sealed encoding no longer opens.
extension Store {
    /// The company's face changes after `seq`, oldest first, at most `limit` entries, and where the company's feed stood
    /// when they were read (the same read transaction): a reader that got fewer than `limit` has seen every face row up to
    /// that position.
    func faceChanges(companyID: Int64, after seq: Int64, limit: Int) async throws -> (changes: [FaceChange], position: Int64) {
        try await pool.read { db in
            var changes = try Row.fetchAll(db, sql: """
                SELECT c.seq, c.faceID, c.personID, c.op, f.sealedEncoding, f.modelID, m.space, m.sealedModel FROM changes c
                LEFT JOIN faces f ON f.id = c.faceID AND c.op = 'upsert'
                LEFT JOIN indexModels m ON c.op = 'model' AND m.companyID = c.companyID AND m.seq = c.seq
                WHERE c.companyID = ? AND c.seq > ? AND (c.faceID IS NOT NULL OR c.op = 'model') ORDER BY c.seq LIMIT ?
                """, arguments: [companyID, seq, limit]
            ).map { row in
                var change = FaceChange(seq: row["seq"], faceID: row["faceID"] ?? 0, personID: row["personID"],
                                        operation: FaceOperation(rawValue: row["op"]) ?? .delete)
                if change.operation == .model, let space: String = row["space"], let sealed: Data = row["sealedModel"] {
                    change.model = PublishedModel(seq: change.seq, space: space, sealed: sealed)
                } else {
                    change.embeddings = Self.rowEmbedding(row, faceID: change.faceID)
                }
                return change
            }
            try Self.attachEmbeddings(&changes, db: db)
            return (changes, try Self.feedPosition(companyID: companyID, db: db))
        }
    }

    /// The company's current faces after `afterFaceID` (id order, at most `limit`) as upserts, and where the feed stood when
    /// they were read: an index whose feed rows were purged loads these, then follows the feed from that position.
    func faceSnapshot(companyID: Int64, afterFaceID: Int64, limit: Int) async throws -> (faces: [FaceChange], position: Int64) {
        try await pool.read { db in
            var faces = try Row.fetchAll(db, sql: """
                SELECT f.id AS faceID, f.personID, f.sealedEncoding, f.modelID FROM faces f INDEXED BY faces_company_id
                WHERE f.companyID = ? AND f.id > ? ORDER BY f.id LIMIT ?
                """, arguments: [companyID, afterFaceID, limit]
            ).map { row in
                var change = FaceChange(seq: 0, faceID: row["faceID"], personID: row["personID"], operation: .upsert)
                change.embeddings = Self.rowEmbedding(row, faceID: change.faceID)
                return change
            }
            try Self.attachEmbeddings(&faces, db: db)
            return (faces, try Self.feedPosition(companyID: companyID, db: db))
        }
    }

    /// The embedding on a face's row (`sealedEncoding` under `modelID`), when the row was found.
    private static func rowEmbedding(_ row: Row, faceID: Int64) -> [SealedEmbedding] {
        guard let sealed: Data = row["sealedEncoding"], let model = RecognitionModel(rawValue: row["modelID"] ?? "") else { return [] }
        return [SealedEmbedding(model: model, sealed: sealed, recordID: embeddingRecordID(faceID: faceID, model: model, onRow: true))]
    }

    /// Adds each found face's other embeddings (`faceEmbeddings`).
    private static func attachEmbeddings(_ changes: inout [FaceChange], db: Database) throws {
        let found = Array(Set(changes.filter { !$0.embeddings.isEmpty }.map(\.faceID)))
        guard !found.isEmpty else { return }
        var extra: [Int64: [SealedEmbedding]] = [:]
        for chunk in stride(from: 0, to: found.count, by: 500).map({ Array(found[$0..<min($0 + 500, found.count)]) }) {
            let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ",")
            for row in try Row.fetchAll(db, sql: "SELECT faceID, modelID, sealedEmbedding FROM faceEmbeddings WHERE faceID IN (\(placeholders))",
                                        arguments: StatementArguments(chunk)) {
                let faceID: Int64 = row["faceID"]
                guard let model = RecognitionModel(rawValue: row["modelID"]) else { continue }
                extra[faceID, default: []].append(SealedEmbedding(
                    model: model, sealed: row["sealedEmbedding"], recordID: embeddingRecordID(faceID: faceID, model: model, onRow: false)))
            }
        }
        for i in changes.indices where !changes[i].embeddings.isEmpty {
            changes[i].embeddings += extra[changes[i].faceID] ?? []
        }
    }

    /// Where the company's feed stands: its last sequence number, never below how far it was purged (0 before any change).
    func feedPosition(companyID: Int64) async throws -> Int64 {
        try await pool.read { db in try Self.feedPosition(companyID: companyID, db: db) }
    }

    static func feedPosition(companyID: Int64, db: Database) throws -> Int64 {
        let last = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM changes WHERE companyID = ?", arguments: [companyID]) ?? 0
        return max(last, try purgedThrough(companyID: companyID, db: db))
    }

    /// How far the company's feed was purged (0: never).
    func purgedThrough(companyID: Int64) async throws -> Int64 {
        try await pool.read { db in try Self.purgedThrough(companyID: companyID, db: db) }
    }

    static func purgedThrough(companyID: Int64, db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT purgedThroughSeq FROM syncState WHERE companyID = ?", arguments: [companyID]) ?? 0
    }

    /// Every company with faces or a feed, and its wrapped data key (both found through indexes, not a scan of the feed).
    func companiesWithFaces() async throws -> [(Int64, Data)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, wrappedKey FROM companies c
                WHERE EXISTS (SELECT 1 FROM changes WHERE companyID = c.id) OR EXISTS (SELECT 1 FROM faces WHERE companyID = c.id)
                ORDER BY id
                """).map { ($0["id"], $0["wrappedKey"]) }
        }
    }

    // MARK: Quarantine

    /// Sets a damaged face aside (its sealed encoding does not open): audited `face.quarantine` once, then left out of kiosk
    /// lists. True when this call quarantined it (false: already quarantined, or the face is gone).
    func quarantine(faceID: Int64, companyID: Int64, reason: String) async throws -> Bool {
        try await pool.write { db in
            guard let face = try FaceRecord.owned(faceID, companyID: companyID, db: db) else { return false }
            try db.execute(sql: "INSERT OR IGNORE INTO quarantinedFaces (faceID, companyID, reason, at) VALUES (?, ?, ?, ?)",
                           arguments: [faceID, companyID, reason, Date()])
            guard db.changesCount > 0 else { return false }
            try AuditLog.append(
                AuditEvent(action: "face.quarantine", actor: "system", target: "face:\(faceID)",
                           detail: ["person": "person:\(face.personID)", "reason": reason], origin: .unknown),
                companyID: companyID, db: db)
            return true
        }
    }

    /// How many faces are quarantined, server-wide (`/readyz`).
    func quarantinedFaceCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM quarantinedFaces") ?? 0 }
    }

    // MARK: Following

    /// Every company's last feed sequence number (`feedHeads`, kept by a trigger on `changes`: migration v11).
    func feedHeads() async throws -> [Int64: Int64] {
        try await pool.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT companyID, lastSeq FROM feedHeads").map {
                ($0["companyID"] as Int64, $0["lastSeq"] as Int64)
            })
        }
    }

    /// Calls `wake` after every committed transaction that appended to the feed (on the store's writer; `wake` must return
    /// at once).
    func onFeedCommit(_ wake: @escaping @Sendable () -> Void) {
        pool.add(transactionObserver: FeedCommitObserver(wake: wake), extent: .databaseLifetime)
    }
}

/// Wakes the index's follower when a transaction that appended to `changes` commits.
private final class FeedCommitObserver: TransactionObserver {
    private let wake: @Sendable () -> Void
    /// Whether the current transaction appended. Touched only on the writer's serial queue.
    private var appended = false

    init(wake: @escaping @Sendable () -> Void) {
        self.wake = wake
    }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        if case .insert(let table) = eventKind { return table == "changes" }
        return false
    }

    func databaseDidChange(with event: DatabaseEvent) {
        appended = true
    }

    func databaseDidCommit(_ db: Database) {
        if appended { wake() }
        appended = false
    }

    func databaseDidRollback(_ db: Database) {
        appended = false
    }
}
