import Foundation
import GRDB
import Logging

/// Companies, users, sessions, API keys and devices. Every company-owned row is read and written
/// with its `companyID` in the query; ids of another company find nothing (404 upstream).
extension Store {
    // MARK: Companies and sessions

    /// Creates a company, its wrapped data key, its owner and a first session, with the audit event — one transaction.
    func registerCompany(
        name: String, owner: UserRecord, settings: CompanySettings, keyRing: KeyRing, dataKey: KeyRing.NewDataKey,
        tokenHash: Data, origin: RequestOrigin, now: Date
    ) async throws -> (CompanyRecord, UserRecord, SessionRecord) {
        try await pool.write { db in
            if try UserRecord.filter(Column("email").collating(.nocase) == owner.email).fetchCount(db) > 0 {
                throw StoreError.emailTaken
            }
            var company = CompanyRecord(id: nil, name: name, wrappedKey: Data(), settings: settings.encoded(), createdAt: now)
            try company.insert(db)
            let companyID = company.id!
            company.wrappedKey = try keyRing.wrap(dataKey, companyID: companyID)
            try company.update(db)
            var user = owner
            user.companyID = companyID
            try user.insert(db)
            var session = SessionRecord(
                id: nil, companyID: companyID, userID: user.id!, tokenHash: tokenHash, createdAt: now,
                expiresAt: now.addingTimeInterval(TimeInterval(settings.tokenLifetimeMinutes * 60)), revokedAt: nil)
            try session.insert(db)
            try AuditLog.append(
                AuditEvent(action: "company.register", actor: "user:\(user.id!)", target: "company:\(companyID)",
                           detail: ["email": user.email], origin: origin),
                companyID: companyID, db: db, now: now)
            return (company, user, session)
        }
    }

    /// Every company's id.
    func companyIDs() async throws -> [Int64] {
        try await pool.read { db in try Int64.fetchAll(db, sql: "SELECT id FROM companies ORDER BY id") }
    }

    func company(_ companyID: Int64) async throws -> CompanyRecord? {
        try await pool.read { db in try CompanyRecord.fetchOne(db, key: companyID) }
    }

    /// The account with `email` (any company: emails are unique across the server), for login.
    func account(email: String) async throws -> (UserRecord, CompanyRecord)? {
        try await pool.read { db in
            guard let user = try UserRecord.filter(Column("email").collating(.nocase) == email).fetchOne(db),
                  let company = try CompanyRecord.fetchOne(db, key: user.companyID) else { return nil }
            return (user, company)
        }
    }

    /// Starts a session for `user` and audits the login.
    func createSession(user: UserRecord, tokenHash: Data, lifetimeMinutes: Int, origin: RequestOrigin, now: Date) async throws -> SessionRecord {
        try await pool.write { db in
            var session = SessionRecord(
                id: nil, companyID: user.companyID, userID: user.id!, tokenHash: tokenHash, createdAt: now,
                expiresAt: now.addingTimeInterval(TimeInterval(lifetimeMinutes * 60)), revokedAt: nil)
            try session.insert(db)
            try AuditLog.append(AuditEvent(action: "auth.login", actor: "user:\(user.id!)", origin: origin),
                                companyID: user.companyID, db: db, now: now)
            return session
        }
    }

    /// A live session (not revoked, not expired, user enabled) with its user and company.
    func liveSession(tokenHash: Data, now: Date) async throws -> (SessionRecord, UserRecord, CompanyRecord)? {
        try await pool.read { db in
            guard let session = try SessionRecord.filter(Column("tokenHash") == tokenHash).fetchOne(db),
                  session.revokedAt == nil, session.expiresAt > now,
                  let user = try UserRecord.filter(Column("id") == session.userID && Column("companyID") == session.companyID).fetchOne(db),
                  !user.disabled,
                  let company = try CompanyRecord.fetchOne(db, key: session.companyID) else { return nil }
            return (session, user, company)
        }
    }

    /// A live (unrevoked) API key with its company; records `lastUsedAt` at most once a minute.
    func liveAPIKey(secretHash: Data, now: Date) async throws -> (APIKeyRecord, CompanyRecord)? {
        let found = try await pool.read { db -> (APIKeyRecord, CompanyRecord)? in
            guard let key = try APIKeyRecord.filter(Column("secretHash") == secretHash).fetchOne(db), key.revokedAt == nil,
                  let company = try CompanyRecord.fetchOne(db, key: key.companyID) else { return nil }
            return (key, company)
        }
        if let (key, _) = found, (key.lastUsedAt.map { now.timeIntervalSince($0) > 60 } ?? true) {
            try await pool.write { db in
                try db.execute(sql: "UPDATE apiKeys SET lastUsedAt = ? WHERE id = ? AND companyID = ?",
                               arguments: [now, key.id, key.companyID])
            }
        }
        return found
    }

    func revokeSession(companyID: Int64, sessionID: Int64, actor: String, origin: RequestOrigin) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE sessions SET revokedAt = ? WHERE id = ? AND companyID = ? AND revokedAt IS NULL",
                           arguments: [Date(), sessionID, companyID])
            try AuditLog.append(AuditEvent(action: "auth.logout", actor: actor, origin: origin), companyID: companyID, db: db)
        }
    }

    /// Appends one audit event on its own (e.g. a failed login, which changes nothing else).
    func audit(_ event: AuditEvent, companyID: Int64) async throws {
        try await pool.write { db in try AuditLog.append(event, companyID: companyID, db: db) }
    }

    // MARK: Users

    /// What `PATCH /users/{id}` changes; nil keeps the current value.
    struct UserChange: Sendable {
        var role: Role?
        var disabled: Bool?
        var fullName: String?
    }

    func users(companyID: Int64) async throws -> [UserRecord] {
        try await pool.read { db in try UserRecord.filter(Column("companyID") == companyID).order(Column("id")).fetchAll(db) }
    }

    func user(id: Int64, companyID: Int64) async throws -> UserRecord? {
        try await pool.read { db in try Self.user(id: id, companyID: companyID, db: db) }
    }

    private static func user(id: Int64, companyID: Int64, db: Database) throws -> UserRecord? {
        try UserRecord.owned(id, companyID: companyID, db: db)
    }

    func createUser(_ user: UserRecord, actor: String, origin: RequestOrigin) async throws -> UserRecord {
        try await pool.write { db in
            if try UserRecord.filter(Column("email").collating(.nocase) == user.email).fetchCount(db) > 0 {
                throw StoreError.emailTaken
            }
            var user = user
            try user.insert(db)
            try AuditLog.append(
                AuditEvent(action: "user.create", actor: actor, target: "user:\(user.id!)",
                           detail: ["email": user.email, "role": user.role.rawValue], origin: origin),
                companyID: user.companyID, db: db)
            return user
        }
    }

    /// Applies a role / disabled / name change. `check` sees the current row and may refuse (403);
    /// the last enabled owner can be neither demoted nor disabled (409). Disabling ends the user's sessions.
    func updateUser(
        id: Int64, companyID: Int64, change: UserChange, actor: String, origin: RequestOrigin,
        check: @Sendable (UserRecord) throws -> Void
    ) async throws -> UserRecord {
        try await pool.write { db in
            guard var user = try Self.user(id: id, companyID: companyID, db: db) else { throw StoreError.notFound(.user) }
            try check(user)
            let before = user
            if let role = change.role { user.role = role }
            if let disabled = change.disabled { user.disabled = disabled }
            if let name = change.fullName { user.fullName = name }
            let losesOwnership = before.role == .owner && !before.disabled && (user.role != .owner || user.disabled)
            if losesOwnership, try Self.enabledOwnerCount(companyID: companyID, db: db) <= 1 { throw StoreError.lastOwner }
            try user.update(db)
            if user.disabled && !before.disabled {
                try db.execute(sql: "UPDATE sessions SET revokedAt = ? WHERE userID = ? AND companyID = ? AND revokedAt IS NULL",
                               arguments: [Date(), id, companyID])
            }
            var detail: [String: String] = [:]
            if before.role != user.role { detail["role"] = "\(before.role.rawValue)->\(user.role.rawValue)" }
            if before.disabled != user.disabled { detail["disabled"] = String(user.disabled) }
            if before.fullName != user.fullName { detail["full_name"] = "changed" }
            let action = before.role != user.role ? "user.role_change" : "user.update"
            try AuditLog.append(AuditEvent(action: action, actor: actor, target: "user:\(id)", detail: detail, origin: origin),
                                companyID: companyID, db: db)
            return user
        }
    }

    func deleteUser(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin,
                    check: @Sendable (UserRecord) throws -> Void) async throws {
        try await pool.write { db in
            guard let user = try Self.user(id: id, companyID: companyID, db: db) else { throw StoreError.notFound(.user) }
            try check(user)
            if user.role == .owner && !user.disabled, try Self.enabledOwnerCount(companyID: companyID, db: db) <= 1 {
                throw StoreError.lastOwner
            }
            _ = try UserRecord.deleteOne(db, key: id)
            try AuditLog.append(
                AuditEvent(action: "user.delete", actor: actor, target: "user:\(id)", detail: ["email": user.email], origin: origin),
                companyID: companyID, db: db)
        }
    }

    private static func enabledOwnerCount(companyID: Int64, db: Database) throws -> Int {
        try UserRecord.filter(Column("companyID") == companyID && Column("role") == Role.owner.rawValue && Column("disabled") == false)
            .fetchCount(db)
    }

    // MARK: API keys

    func createAPIKey(_ key: APIKeyRecord, origin: RequestOrigin) async throws -> APIKeyRecord {
        try await pool.write { db in
            var key = key
            try key.insert(db)
            try AuditLog.append(
                AuditEvent(action: "api_key.create", actor: key.createdBy, target: "api_key:\(key.id!)",
                           detail: ["name": key.name, "scopes": key.scopes, "prefix": key.prefix], origin: origin),
                companyID: key.companyID, db: db)
            return key
        }
    }

    func apiKeys(companyID: Int64) async throws -> [APIKeyRecord] {
        try await pool.read { db in try APIKeyRecord.filter(Column("companyID") == companyID).order(Column("id")).fetchAll(db) }
    }

    func revokeAPIKey(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws {
        try await pool.write { db in
            guard var key = try APIKeyRecord.owned(id, companyID: companyID, db: db),
                  key.revokedAt == nil else { throw StoreError.notFound(.apiKey) }
            key.revokedAt = Date()
            try key.update(db)
            try AuditLog.append(AuditEvent(action: "api_key.revoke", actor: actor, target: "api_key:\(id)", origin: origin),
                                companyID: companyID, db: db)
        }
    }

    // MARK: Devices

    func createDevice(_ device: DeviceRecord, actor: String, origin: RequestOrigin) async throws -> DeviceRecord {
        try await pool.write { db in
            var device = device
            try device.insert(db)
            try AuditLog.append(
                AuditEvent(action: "device.create", actor: actor, target: "device:\(device.id!)",
                           detail: ["name": device.name, "location": device.location], origin: origin),
                companyID: device.companyID, db: db)
            return device
        }
    }

    func devices(companyID: Int64) async throws -> [DeviceRecord] {
        try await pool.read { db in try DeviceRecord.filter(Column("companyID") == companyID).order(Column("id")).fetchAll(db) }
    }

    func device(id: Int64, companyID: Int64) async throws -> DeviceRecord? {
        try await pool.read { db in try DeviceRecord.owned(id, companyID: companyID, db: db) }
    }

    func deleteDevice(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws {
        try await deleteOwned(DeviceRecord.self, id: id, companyID: companyID, entity: .device, audit: "device", name: \.name,
                              actor: actor, origin: origin)
    }

    // MARK: Settings

    /// Every company's settings.
    func companySettings(fallback: CompanySettings) async throws -> [(Int64, CompanySettings)] {
        try await pool.read { db in
            try CompanyRecord.fetchAll(db).map { ($0.id!, CompanySettings.decode($0.settings, fallback: fallback)) }
        }
    }

    func companySettings(companyID: Int64, fallback: CompanySettings) async throws -> CompanySettings? {
        try await pool.read { db in
            try CompanyRecord.fetchOne(db, key: companyID).map { CompanySettings.decode($0.settings, fallback: fallback) }
        }
    }

    /// Applies `change` to the stored settings in one transaction; returns them before and after (what the caller acts on
    /// — a model switch — is decided from the same row the change was applied to, not from an earlier read).
    func updateSettings(companyID: Int64, fallback: CompanySettings, actor: String, origin: RequestOrigin,
                        change: @Sendable (CompanySettings) throws -> CompanySettings) async throws -> (before: CompanySettings, after: CompanySettings) {
        try await pool.write { db in
            guard var company = try CompanyRecord.fetchOne(db, key: companyID) else { throw StoreError.notFound(.company) }
            let before = CompanySettings.decode(company.settings, fallback: fallback)
            let after = try change(before)
            company.settings = after.encoded()
            try company.update(db)
            try AuditLog.append(
                AuditEvent(action: "settings.update", actor: actor, target: "company:\(companyID)",
                           detail: ["settings": after.auditText()], origin: origin),
                companyID: companyID, db: db)
            return (before, after)
        }
    }

    // MARK: Audit

    struct AuditFilter: Sendable {
        var from: Date?
        var to: Date?
        var actor: String?
        var action: String?
        /// What the event is about, exactly (`person:12`, `face:40`, `user:3`).
        var target: String?
        /// Only events with a smaller id (the cursor of the previous page).
        var beforeID: Int64?
        var limit: Int
    }

    /// Newest first.
    func auditEvents(companyID: Int64, filter: AuditFilter) async throws -> [AuditRecord] {
        try await pool.read { db in
            var request = AuditRecord.filter(Column("companyID") == companyID)
            if let from = filter.from { request = request.filter(Column("atMicros") >= Int64(from.timeIntervalSince1970 * 1e6)) }
            if let to = filter.to { request = request.filter(Column("atMicros") <= Int64(to.timeIntervalSince1970 * 1e6)) }
            if let actor = filter.actor { request = request.filter(Column("actor") == actor || Column("actor").like(actor + "|%")) }
            if let action = filter.action { request = request.filter(Column("action") == action) }
            if let target = filter.target { request = request.filter(Column("target") == target) }
            if let beforeID = filter.beforeID { request = request.filter(Column("id") < beforeID) }
            return try request.order(Column("id").desc).limit(filter.limit).fetchAll(db)
        }
    }

    /// Every company's wrapped data key, by company id (the master key check at start).
    func wrappedKeys() async throws -> [(companyID: Int64, wrapped: Data)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, wrappedKey FROM companies WHERE length(wrappedKey) > 0 ORDER BY id")
                .map { (companyID: $0["id"], wrapped: $0["wrappedKey"]) }
        }
    }

    /// The company's chain walked link by link, and checked against its head (`AuditHead`). The head is read before
    /// the store (it only ever moves after a commit), so a commit in between cannot look like a cut-off tail.
    func verifyAudit(companyID: Int64, head: AuditHead) async throws
        -> (chain: AuditLog.Verification, head: AuditHead.Status, eventsAfterHead: Int) {
        let recorded = head.read(companyID: companyID)
        return try await pool.read { db in
            let chain = try AuditLog.verify(companyID: companyID, db: db)
            let (status, after) = try AuditHead.check(recorded, companyID: companyID, db: db)
            return (chain, status, after)
        }
    }

    /// Starts keeping the audit chain's head in `directory`, moved by every committed audit append from now on.
    ///
    /// The first start with a head folder records every company's current head (trust on first use) and notes in the
    /// store that heads exist. A later start that finds the folder without heads does not trust the store again: every
    /// company with events then reports `missing` until the folder is restored.
    func publishAuditHead(directory: String, node: String = "local", master: MasterKey, logger: Logger) throws -> AuditHead {
        let head = try AuditHead(directory: directory, master: master)
        if !head.holdsAnyHead {
            try pool.write { db in
                if let established = try Date.fetchOne(db, sql: "SELECT establishedAt FROM auditHeadState WHERE id = 1") {
                    logger.error("""
                        the audit head folder \(directory) holds no heads, but heads were recorded since \(established): \
                        every audit chain reports its head missing; restore the folder from a backup
                        """)
                } else {
                    let count = try head.anchorAll(db: db)
                    try db.execute(sql: "INSERT INTO auditHeadState (id, establishedAt) VALUES (1, ?)", arguments: [Date()])
                    if count > 0 { logger.notice("recorded the audit heads of \(count) companies in \(directory) (first use)") }
                }
            }
        }
        pool.add(transactionObserver: AuditHeadObserver(head: head, logger: logger), extent: .databaseLifetime)
        return head
    }
}
