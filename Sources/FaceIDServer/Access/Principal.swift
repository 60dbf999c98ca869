import Foundation

/// Who is calling: a logged-in user (session token) or an API key, always inside one company.
public struct Principal: Sendable {
    public enum Credential: Sendable {
        case session(id: Int64, userID: Int64, role: Role)
        case apiKey(id: Int64, scopes: Set<Scope>)
    }

    public let companyID: Int64
    public let credential: Credential
    /// The registered kiosk named by `X-Device-Id`, when the caller sent one that belongs to its company.
    public var deviceID: Int64?

    /// Whether the matrix in `Permission` grants `permission` to this caller.
    public func can(_ permission: Permission) -> Bool {
        switch credential {
        case .session(_, _, let role): permission.allowedRoles.contains(role)
        case .apiKey(_, let scopes): !permission.allowedScopes.isDisjoint(with: scopes)
        }
    }

    /// Throws 403 unless `can(permission)`.
    public func require(_ permission: Permission) throws(ServiceError) {
        guard can(permission) else { throw ServiceError.forbidden }
    }

    /// The user behind a session, if any.
    public var userID: Int64? {
        if case .session(_, let userID, _) = credential { return userID }
        return nil
    }

    /// The user's role, if a session.
    public var role: Role? {
        if case .session(_, _, let role) = credential { return role }
        return nil
    }

    /// How the audit log names this caller: `user:3`, `api_key:7`, plus `device:2` when a kiosk said so.
    public var actor: String {
        let base = switch credential {
        case .session(_, let userID, _): "user:\(userID)"
        case .apiKey(let id, _): "api_key:\(id)"
        }
        return deviceID.map { base + "|device:\($0)" } ?? base
    }

    /// The rate-limit bucket of this credential (the device when one is named).
    var rateLimitKey: String {
        if let deviceID { return "device:\(deviceID)" }
        return switch credential {
        case .session(let id, _, _): "session:\(id)"
        case .apiKey(let id, _): "api_key:\(id)"
        }
    }
}
