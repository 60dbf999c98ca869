import Foundation
import Logging
import PostgresNIO

/// Companies, users, sessions, API keys, devices and settings on PostgreSQL: `TenancyRepository`, with the same answers
/// as the SQLite store. Every audited change appends its event in the same transaction (`appendAudit`).
extension PostgresStore: TenancyRepository {
    // MARK: Rows

    static let companyColumns = "id, name, wrapped_key, settings, created_at"
    static let userColumns = "id, company_id, email, password_hash, full_name, role, disabled, created_at"
    static let sessionColumns = "id, company_id, user_id, token_hash, created_at, expires_at, revoked_at"
    static let apiKeyColumns = "id, company_id, name, prefix, secret_hash, scopes, created_at, created_by, last_used_at, revoked_at"
    static let deviceColumns = "id, company_id, name, location, created_at, acked_seq, acked_at"

    static func companies(_ rows: some AsyncSequence<PostgresRow, any Error>) async throws -> [CompanyRecord] {
        var found: [CompanyRecord] = []
        for try await (id, name, key, settings, created) in rows.decode((Int64, String, Data, String, Date).self) {
            found.append(CompanyRecord(id: id, name: name, wrappedKey: key, settings: settings, createdAt: created))
        }
        return found
    }

    static func users(_ rows: some AsyncSequence<PostgresRow, any Error>) async throws -> [UserRecord] {
        var found: [UserRecord] = []
        for try await (id, company, email, hash, name, role, disabled, created)
            in rows.decode((Int64, Int64, String, String, String, String, Bool, Date).self) {
            found.append(UserRecord(id: id, companyID: company, email: email, passwordHash: hash, fullName: name,
                                    role: Role(rawValue: role) ?? .viewer, disabled: disabled, createdAt: created))
        }
        return found
    }

    static func sessions(_ rows: some AsyncSequence<PostgresRow, any Error>) async throws -> [SessionRecord] {
        var found: [SessionRecord] = []
        for try await (id, company, user, hash, created, expires, revoked)
            in rows.decode((Int64, Int64, Int64, Data, Date, Date, Date?).self) {
            found.append(SessionRecord(id: id, companyID: company, userID: user, tokenHash: hash, createdAt: created,
                                       expiresAt: expires, revokedAt: revoked))
        }
        return found
    }

    static func apiKeys(_ rows: some AsyncSequence<PostgresRow, any Error>) async throws -> [APIKeyRecord] {
        var found: [APIKeyRecord] = []
        for try await (id, company, name, prefix, hash, scopes, created, by, used, revoked)
            in rows.decode((Int64, Int64, String, String, Data, String, Date, String, Date?, Date?).self) {
            found.append(APIKeyRecord(id: id, companyID: company, name: name, prefix: prefix, secretHash: hash, scopes: scopes,
                                      createdAt: created, createdBy: by, lastUsedAt: used, revokedAt: revoked))
        }
        return found
    }

    static func devices(_ rows: some AsyncSequence<PostgresRow, any Error>) async throws -> [DeviceRecord] {
        var found: [DeviceRecord] = []
        for try await (id, company, name, location, created, seq, acked) in rows.decode((Int64, Int64, String, String, Date, Int64?, Date?).self) {
            found.append(DeviceRecord(id: id, companyID: company, name: name, location: location, createdAt: created,
                                      ackedSeq: seq, ackedAt: acked))
        }
        return found
    }

    // MARK: Companies and sessions

    func registerCompany(name: String, owner: UserRecord, settings: CompanySettings, keyRing: KeyRing, dataKey: KeyRing.NewDataKey, tokenHash: Data,
                         origin: RequestOrigin, now: Date) async throws -> (CompanyRecord, UserRecord, SessionRecord) {
        do {
            return try await transaction { connection in
                let companyID = try await connection.run("""
                    INSERT INTO companies (name, wrapped_key, settings, created_at) VALUES (\(name), \(Data()), \(settings.encoded()), \(now))
                    RETURNING id
                    """, logger: logger).decode(Int64.self).elements()[0]
                let wrapped = try keyRing.wrap(dataKey, companyID: companyID)
                _ = try await connection.run("UPDATE companies SET wrapped_key = \(wrapped) WHERE id = \(companyID)", logger: logger)
                let userID = try await connection.run("""
                    INSERT INTO users (company_id, email, password_hash, full_name, role, disabled, created_at)
                    VALUES (\(companyID), \(owner.email), \(owner.passwordHash), \(owner.fullName), \(owner.role.rawValue), \(owner.disabled), \(now))
                    RETURNING id
                    """, logger: logger).decode(Int64.self).elements()[0]
                let expires = now.addingTimeInterval(TimeInterval(settings.tokenLifetimeMinutes * 60))
                let sessionID = try await connection.run("""
                    INSERT INTO sessions (company_id, user_id, token_hash, created_at, expires_at)
                    VALUES (\(companyID), \(userID), \(tokenHash), \(now), \(expires)) RETURNING id
                    """, logger: logger).decode(Int64.self).elements()[0]
                try await appendAudit(AuditEvent(action: "company.register", actor: "user:\(userID)", target: "company:\(companyID)",
                                                 detail: ["email": owner.email], origin: origin),
                                      companyID: companyID, on: connection, now: now)
                var user = owner
                (user.id, user.companyID) = (userID, companyID)
                return (CompanyRecord(id: companyID, name: name, wrappedKey: wrapped, settings: settings.encoded(), createdAt: now), user,
                        SessionRecord(id: sessionID, companyID: companyID, userID: userID, tokenHash: tokenHash, createdAt: now,
                                      expiresAt: expires, revokedAt: nil))
            }
        } catch PostgresError.Code.uniqueViolation {
            throw StoreError.emailTaken
        }
    }

    func companyIDs() async throws -> [Int64] {
        try await fetch("SELECT id FROM companies ORDER BY id", logger: logger).decode(Int64.self).elements()
    }

    func company(_ companyID: Int64) async throws -> CompanyRecord? {
        try await Self.companies(try await fetch(
            "SELECT \(unescaped: Self.companyColumns) FROM companies WHERE id = \(companyID)", logger: logger)).first
    }

    func account(email: String) async throws -> (UserRecord, CompanyRecord)? {
        guard let user = try await Self.users(try await fetch(
            "SELECT \(unescaped: Self.userColumns) FROM users WHERE lower(email) = lower(\(email))", logger: logger)).first,
              let company = try await company(user.companyID) else { return nil }
        return (user, company)
    }

    func createSession(user: UserRecord, tokenHash: Data, lifetimeMinutes: Int, origin: RequestOrigin, now: Date) async throws -> SessionRecord {
        try await transaction { connection in
            let expires = now.addingTimeInterval(TimeInterval(lifetimeMinutes * 60))
            let id = try await connection.run("""
                INSERT INTO sessions (company_id, user_id, token_hash, created_at, expires_at)
                VALUES (\(user.companyID), \(user.id!), \(tokenHash), \(now), \(expires)) RETURNING id
                """, logger: logger).decode(Int64.self).elements()[0]
            try await appendAudit(AuditEvent(action: "auth.login", actor: "user:\(user.id!)", origin: origin),
                                  companyID: user.companyID, on: connection, now: now)
            return SessionRecord(id: id, companyID: user.companyID, userID: user.id!, tokenHash: tokenHash, createdAt: now,
                                 expiresAt: expires, revokedAt: nil)
        }
    }

    func liveSession(tokenHash: Data, now: Date) async throws -> (SessionRecord, UserRecord, CompanyRecord)? {
        guard let session = try await Self.sessions(try await fetch(
            "SELECT \(unescaped: Self.sessionColumns) FROM sessions WHERE token_hash = \(tokenHash)", logger: logger)).first,
              session.revokedAt == nil, session.expiresAt > now,
              let user = try await user(id: session.userID, companyID: session.companyID), !user.disabled,
              let company = try await company(session.companyID) else { return nil }
        return (session, user, company)
    }

    func liveAPIKey(secretHash: Data, now: Date) async throws -> (APIKeyRecord, CompanyRecord)? {
        guard let key = try await Self.apiKeys(try await fetch(
            "SELECT \(unescaped: Self.apiKeyColumns) FROM api_keys WHERE secret_hash = \(secretHash)", logger: logger)).first,
              key.revokedAt == nil, let company = try await company(key.companyID) else { return nil }
        if key.lastUsedAt.map({ now.timeIntervalSince($0) > 60 }) ?? true {
            _ = try await fetch("UPDATE api_keys SET last_used_at = \(now) WHERE id = \(key.id!) AND company_id = \(key.companyID)",
                                       logger: logger)
        }
        return (key, company)
    }

    func revokeSession(companyID: Int64, sessionID: Int64, actor: String, origin: RequestOrigin) async throws {
        try await transaction { connection in
            _ = try await connection.run("""
                UPDATE sessions SET revoked_at = now() WHERE id = \(sessionID) AND company_id = \(companyID) AND revoked_at IS NULL
                """, logger: logger)
            try await appendAudit(AuditEvent(action: "auth.logout", actor: actor, origin: origin), companyID: companyID, on: connection,
                                  now: Date())
        }
    }

    // MARK: Users

    func users(companyID: Int64) async throws -> [UserRecord] {
        try await Self.users(try await fetch(
            "SELECT \(unescaped: Self.userColumns) FROM users WHERE company_id = \(companyID) ORDER BY id", logger: logger))
    }

    func user(id: Int64, companyID: Int64) async throws -> UserRecord? {
        try await Self.users(try await fetch(
            "SELECT \(unescaped: Self.userColumns) FROM users WHERE id = \(id) AND company_id = \(companyID)", logger: logger)).first
    }

    func createUser(_ user: UserRecord, actor: String, origin: RequestOrigin) async throws -> UserRecord {
        do {
            return try await transaction { connection in
                var user = user
                user.id = try await connection.run("""
                    INSERT INTO users (company_id, email, password_hash, full_name, role, disabled, created_at)
                    VALUES (\(user.companyID), \(user.email), \(user.passwordHash), \(user.fullName), \(user.role.rawValue), \(user.disabled),
                            \(user.createdAt)) RETURNING id
                    """, logger: logger).decode(Int64.self).elements()[0]
                try await appendAudit(AuditEvent(action: "user.create", actor: actor, target: "user:\(user.id!)",
                                                 detail: ["email": user.email, "role": user.role.rawValue], origin: origin),
                                      companyID: user.companyID, on: connection, now: Date())
                return user
            }
        } catch PostgresError.Code.uniqueViolation {
            throw StoreError.emailTaken
        }
    }

    /// The company's row is locked first, so two changes of its owners take turns and the last enabled owner stays.
    func updateUser(id: Int64, companyID: Int64, change: Store.UserChange, actor: String, origin: RequestOrigin,
                    check: @Sendable (UserRecord) throws -> Void) async throws -> UserRecord {
        try await transaction { connection in
            _ = try await connection.run("SELECT id FROM companies WHERE id = \(companyID) FOR NO KEY UPDATE", logger: logger)
            guard let before = try await Self.users(try await connection.run(
                "SELECT \(unescaped: Self.userColumns) FROM users WHERE id = \(id) AND company_id = \(companyID)", logger: logger)).first else {
                throw StoreError.notFound(.user)
            }
            try check(before)
            var user = before
            if let role = change.role { user.role = role }
            if let disabled = change.disabled { user.disabled = disabled }
            if let name = change.fullName { user.fullName = name }
            let losesOwnership = before.role == .owner && !before.disabled && (user.role != .owner || user.disabled)
            if losesOwnership, try await enabledOwnerCount(companyID: companyID, on: connection) <= 1 { throw StoreError.lastOwner }
            _ = try await connection.run("""
                UPDATE users SET role = \(user.role.rawValue), disabled = \(user.disabled), full_name = \(user.fullName) WHERE id = \(id)
                """, logger: logger)
            if user.disabled && !before.disabled {
                _ = try await connection.run("""
                    UPDATE sessions SET revoked_at = now() WHERE user_id = \(id) AND company_id = \(companyID) AND revoked_at IS NULL
                    """, logger: logger)
            }
            var detail: [String: String] = [:]
            if before.role != user.role { detail["role"] = "\(before.role.rawValue)->\(user.role.rawValue)" }
            if before.disabled != user.disabled { detail["disabled"] = String(user.disabled) }
            if before.fullName != user.fullName { detail["full_name"] = "changed" }
            try await appendAudit(AuditEvent(action: before.role != user.role ? "user.role_change" : "user.update", actor: actor,
                                             target: "user:\(id)", detail: detail, origin: origin),
                                  companyID: companyID, on: connection, now: Date())
            return user
        }
    }

    func deleteUser(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin,
                    check: @Sendable (UserRecord) throws -> Void) async throws {
        try await transaction { connection in
            _ = try await connection.run("SELECT id FROM companies WHERE id = \(companyID) FOR NO KEY UPDATE", logger: logger)
            guard let user = try await Self.users(try await connection.run(
                "SELECT \(unescaped: Self.userColumns) FROM users WHERE id = \(id) AND company_id = \(companyID)", logger: logger)).first else {
                throw StoreError.notFound(.user)
            }
            try check(user)
            if user.role == .owner && !user.disabled, try await enabledOwnerCount(companyID: companyID, on: connection) <= 1 {
                throw StoreError.lastOwner
            }
            _ = try await connection.run("DELETE FROM users WHERE id = \(id)", logger: logger)
            try await appendAudit(AuditEvent(action: "user.delete", actor: actor, target: "user:\(id)", detail: ["email": user.email],
                                             origin: origin),
                                  companyID: companyID, on: connection, now: Date())
        }
    }

    private func enabledOwnerCount(companyID: Int64, on connection: PostgresConnection) async throws -> Int {
        try await connection.run("""
            SELECT count(*)::bigint FROM users WHERE company_id = \(companyID) AND role = 'owner' AND NOT disabled
            """, logger: logger).decode(Int64.self).elements().first.map(Int.init) ?? 0
    }

    // MARK: API keys and devices

    func createAPIKey(_ key: APIKeyRecord, origin: RequestOrigin) async throws -> APIKeyRecord {
        try await transaction { connection in
            var key = key
            key.id = try await connection.run("""
                INSERT INTO api_keys (company_id, name, prefix, secret_hash, scopes, created_at, created_by)
                VALUES (\(key.companyID), \(key.name), \(key.prefix), \(key.secretHash), \(key.scopes), \(key.createdAt), \(key.createdBy))
                RETURNING id
                """, logger: logger).decode(Int64.self).elements()[0]
            try await appendAudit(AuditEvent(action: "api_key.create", actor: key.createdBy, target: "api_key:\(key.id!)",
                                             detail: ["name": key.name, "scopes": key.scopes, "prefix": key.prefix], origin: origin),
                                  companyID: key.companyID, on: connection, now: Date())
            return key
        }
    }

    func apiKeys(companyID: Int64) async throws -> [APIKeyRecord] {
        try await Self.apiKeys(try await fetch(
            "SELECT \(unescaped: Self.apiKeyColumns) FROM api_keys WHERE company_id = \(companyID) ORDER BY id", logger: logger))
    }

    func revokeAPIKey(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws {
        try await transaction { connection in
            let revoked = try await connection.run("""
                UPDATE api_keys SET revoked_at = now() WHERE id = \(id) AND company_id = \(companyID) AND revoked_at IS NULL RETURNING id
                """, logger: logger).decode(Int64.self).elements()
            guard !revoked.isEmpty else { throw StoreError.notFound(.apiKey) }
            try await appendAudit(AuditEvent(action: "api_key.revoke", actor: actor, target: "api_key:\(id)", origin: origin),
                                  companyID: companyID, on: connection, now: Date())
        }
    }

    func createDevice(_ device: DeviceRecord, actor: String, origin: RequestOrigin) async throws -> DeviceRecord {
        try await transaction { connection in
            var device = device
            device.id = try await connection.run("""
                INSERT INTO devices (company_id, name, location, created_at)
                VALUES (\(device.companyID), \(device.name), \(device.location), \(device.createdAt)) RETURNING id
                """, logger: logger).decode(Int64.self).elements()[0]
            try await appendAudit(AuditEvent(action: "device.create", actor: actor, target: "device:\(device.id!)",
                                             detail: ["name": device.name, "location": device.location], origin: origin),
                                  companyID: device.companyID, on: connection, now: Date())
            return device
        }
    }

    func devices(companyID: Int64) async throws -> [DeviceRecord] {
        try await Self.devices(try await fetch(
            "SELECT \(unescaped: Self.deviceColumns) FROM devices WHERE company_id = \(companyID) ORDER BY id", logger: logger))
    }

    func device(id: Int64, companyID: Int64) async throws -> DeviceRecord? {
        try await Self.devices(try await fetch(
            "SELECT \(unescaped: Self.deviceColumns) FROM devices WHERE id = \(id) AND company_id = \(companyID)", logger: logger)).first
    }

    func deleteDevice(id: Int64, companyID: Int64, actor: String, origin: RequestOrigin) async throws {
        try await transaction { connection in
            guard let name = try await connection.run(
                "DELETE FROM devices WHERE id = \(id) AND company_id = \(companyID) RETURNING name", logger: logger
            ).decode(String.self).elements().first else { throw StoreError.notFound(.device) }
            try await appendAudit(AuditEvent(action: "device.delete", actor: actor, target: "device:\(id)", detail: ["name": name],
                                             origin: origin),
                                  companyID: companyID, on: connection, now: Date())
        }
    }

    // MARK: Settings and keys

    func companySettings(fallback: CompanySettings) async throws -> [(Int64, CompanySettings)] {
        try await Self.companies(try await fetch("SELECT \(unescaped: Self.companyColumns) FROM companies ORDER BY id", logger: logger))
            .map { ($0.id!, CompanySettings.decode($0.settings, fallback: fallback)) }
    }

    func companySettings(companyID: Int64, fallback: CompanySettings) async throws -> CompanySettings? {
        try await company(companyID).map { CompanySettings.decode($0.settings, fallback: fallback) }
    }

    func updateSettings(companyID: Int64, fallback: CompanySettings, actor: String, origin: RequestOrigin,
                        change: @Sendable (CompanySettings) throws -> CompanySettings) async throws -> (before: CompanySettings, after: CompanySettings) {
        try await transaction { connection in
            guard let stored = try await connection.run("SELECT settings FROM companies WHERE id = \(companyID) FOR NO KEY UPDATE",
                                                          logger: logger).decode(String.self).elements().first else {
                throw StoreError.notFound(.company)
            }
            let before = CompanySettings.decode(stored, fallback: fallback)
            let after = try change(before)
            _ = try await connection.run("UPDATE companies SET settings = \(after.encoded()) WHERE id = \(companyID)", logger: logger)
            try await appendAudit(AuditEvent(action: "settings.update", actor: actor, target: "company:\(companyID)",
                                             detail: ["settings": after.auditText()], origin: origin),
                                  companyID: companyID, on: connection, now: Date())
            return (before, after)
        }
    }

    func wrappedKey(companyID: Int64) async throws -> Data? {
        try await fetch("SELECT wrapped_key FROM companies WHERE id = \(companyID)", logger: logger).decode(Data.self).elements().first
    }
}
