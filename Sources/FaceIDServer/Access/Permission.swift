/// A user's role in their company, from most to least powerful.
public enum Role: String, Codable, Sendable, CaseIterable {
    case owner, admin, staff, viewer
}

/// What an API key may do. A key never has a role; its scopes map onto permissions below.
public enum Scope: String, Codable, Sendable, CaseIterable {
    case recognize, enroll, kiosk, admin
}

/// Every protected action, and — in `allowedRoles` / `allowedScopes` — who may perform it.
///
/// This is the permission matrix: the one place access is decided (`Principal.require`), and the
/// table the README prints. A route declares its permission when it is registered (`ProtectedRoutes`).
public enum Permission: String, Sendable, CaseIterable {
    /// `GET /me`, `POST /logout`.
    case readProfile
    /// `GET /users`.
    case readUsers
    /// `POST/PATCH/DELETE /users`.
    case manageUsers
    /// `POST/GET/DELETE /api-keys`.
    case manageAPIKeys
    /// `GET /devices`.
    case readDevices
    /// `POST/DELETE /devices`.
    case manageDevices
    /// `GET /settings`.
    case readSettings
    /// `PATCH /settings`.
    case manageSettings
    /// `GET /audit`, `GET /audit/verify`.
    case readAudit
    /// `GET /persons`, `GET /persons/{id}`, `GET /groups`, `GET /faces/{id}`, `GET /persons/{id}/faces`.
    case readPersons
    /// `POST /persons`, `PATCH/DELETE /persons/{id}`, `DELETE /faces/{id}`, `POST /face/enroll`.
    case managePersons
    /// `POST /groups`, `DELETE /groups/{id}`.
    case manageGroups
    /// `POST /faces/import`.
    case importFaces
    /// `POST /face/search`.
    case recognize
    /// `GET /logs` (the access log), `GET /stats/overview` (its figures).
    case readAccessLog
    /// `GET /faces/{id}?include_encoding=true` (checked inside the handler, on top of `readPersons`): the desktop app's
    /// credentials, which must also send `X-App-Secret` — or an `admin` API key (`AppServices.requireEncodingAccess`).
    case readEncodings
    /// `GET /faces/{id}/image` (stored enrollment photos).
    case readImages
    /// `GET /persons/{id}/export` (subject access: everything about a person in one document).
    case exportPersonData
    /// `DELETE /company`: the owner alone, with a session and the password asked again; no API key.
    case deleteCompany
    /// The kiosk contract: `POST/DELETE /api/employees/{id}/face`, `GET /api/employees/timekeeper[/changes]`,
    /// `POST /api/devices/{id}/ack` (each also needs `X-App-Secret`).
    case syncFaces

    /// Roles granted this permission.
    public var allowedRoles: Set<Role> {
        switch self {
        case .readProfile, .readDevices, .readSettings, .readPersons, .recognize: [.owner, .admin, .staff, .viewer]
        case .managePersons, .syncFaces, .readEncodings: [.owner, .admin, .staff]
        case .readUsers, .manageUsers, .manageAPIKeys, .manageDevices, .manageSettings, .readAudit, .manageGroups, .importFaces,
             .readAccessLog, .readImages, .exportPersonData: [.owner, .admin]
        case .deleteCompany: [.owner]
        }
    }

    /// API key scopes granted this permission.
    public var allowedScopes: Set<Scope> {
        switch self {
        case .readProfile, .readPersons: Set(Scope.allCases)
        case .managePersons: [.admin, .enroll, .kiosk]
        case .manageGroups: [.admin, .enroll]
        case .recognize: [.admin, .recognize, .kiosk]
        case .readEncodings, .syncFaces: [.admin, .kiosk]
        case .readDevices: [.admin, .kiosk]
        case .readUsers, .manageUsers, .manageAPIKeys, .manageDevices, .readSettings, .manageSettings, .readAudit, .importFaces,
             .readAccessLog, .readImages, .exportPersonData: [.admin]
        case .deleteCompany: []
        }
    }
}

extension Permission {
    /// `readAccessLog` → `read_access_log`, `manageAPIKeys` → `manage_api_keys`: a word starts at a capital after a small
    /// letter, or at the last capital of an acronym that a small letter follows.
    var wireName: String {
        let letters = Array(rawValue)
        var name = ""
        for (index, letter) in letters.enumerated() {
            if letter.isUppercase, index > 0 {
                let afterSmall = letters[index - 1].isLowercase
                let endsAcronym = index + 1 < letters.count && letters[index + 1].isLowercase && letters[index - 1].isUppercase
                if afterSmall || endsAcronym { name += "_" }
            }
            name += letter.lowercased()
        }
        return name
    }
}
