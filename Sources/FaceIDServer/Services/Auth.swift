import Foundation

/// Who may call: company registration, login with its failure limits, logout, and resolving a credential (session token
/// or API key, plus an optional kiosk device) to a `Principal` with the company's settings.
struct Auth: Sendable {
    let store: any TenancyRepository & LogRepository
    let keyRing: KeyRing
    let limiter: RateLimiter
    let limits: RateLimitConfiguration
    let clock: ServerClock
    /// New companies' settings (and those of a row that holds none).
    let defaults: CompanySettings
    let bcryptCost: Int
    /// A bcrypt hash of a random password: verified against when an email is unknown, so a login for a missing account
    /// costs the same time as one for a real account.
    let decoyPasswordHash: String

    init(store: any TenancyRepository & LogRepository, keyRing: KeyRing, limiter: RateLimiter, limits: RateLimitConfiguration, clock: ServerClock,
         defaults: CompanySettings, bcryptCost: Int) {
        (self.store, self.keyRing, self.limiter, self.limits, self.clock) = (store, keyRing, limiter, limits, clock)
        (self.defaults, self.bcryptCost) = (defaults, bcryptCost)
        decoyPasswordHash = PasswordHashing.hash(Credentials.randomBase64URL(byteCount: 16), cost: bcryptCost)
    }

    /// A signed-in caller's new session: the token (shown once) and the stored session.
    struct Session: Sendable {
        var token: String
        var session: SessionRecord
        var user: UserRecord
        var company: CompanyRecord
    }

    /// Creates a company with its owner and a first session; at most `rateLimit.registerPerHour` per source address.
    func register(companyName: String, email: String, password: String, fullName: String, origin: RequestOrigin) async throws -> Session {
        if let wait = await limiter.take("register:\(origin.remoteAddress)", limit: .atMost(limits.registerPerHour, per: .seconds(3600))) {
            throw ServiceError.rateLimited(retryAfter: wait)
        }
        let now = clock.now
        let owner = UserRecord(id: nil, companyID: 0, email: email, passwordHash: try await hashPassword(password), fullName: fullName,
                               role: .owner, disabled: false, createdAt: now)
        let token = Credentials.newSessionToken()
        let dataKey = try await keyRing.newDataKey(now: now)
        let (company, user, session) = try await store.registerCompany(
            name: companyName, owner: owner, settings: defaults, keyRing: keyRing, dataKey: dataKey, tokenHash: Credentials.hash(token),
            origin: origin, now: now)
        return Session(token: token, session: session, user: user, company: company)
    }

    /// Logs in. Failures are counted per source address and per email; at either limit even the right password is refused
    /// until the oldest failure leaves the 15-minute window.
    func login(email: String, password: String, origin: RequestOrigin) async throws -> Session {
        let failures = PasswordFailures(email: email, origin: origin, limits: limits, limiter: limiter)
        try await failures.refuseAtLimit()
        let account = try await store.account(email: email)
        let matches = try await verifyPassword(password, hash: account?.0.passwordHash ?? decoyPasswordHash)
        guard let (user, company) = account, matches, !user.disabled else {
            await failures.count()
            if let user = account?.0 {
                try await store.audit(
                    AuditEvent(action: "auth.login_failed", actor: "user:\(user.id!)", target: "user:\(user.id!)",
                               detail: ["reason": user.disabled ? "disabled" : "wrong_password"], origin: origin),
                    companyID: user.companyID)
            }
            throw ServiceError.invalidLogin
        }
        let settings = CompanySettings.decode(company.settings, fallback: defaults)
        let token = Credentials.newSessionToken()
        let session = try await store.createSession(user: user, tokenHash: Credentials.hash(token), lifetimeMinutes: settings.tokenLifetimeMinutes,
                                                    origin: origin, now: clock.now)
        return Session(token: token, session: session, user: user, company: company)
    }

    /// Asks a signed-in user for their password again before an irreversible act. Failures count against the same limits as
    /// the login's (per address and per email), so this is no way around them; each is audited.
    /// - Throws: `sessionRequired` for an API key, `reauthenticationFailed` for a wrong password, `rateLimited` at the limit.
    func reauthenticate(_ principal: Principal, password: String, origin: RequestOrigin) async throws -> UserRecord {
        guard let userID = principal.userID else { throw ServiceError.sessionRequiredToDeleteCompany }
        guard let user = try await store.user(id: userID, companyID: principal.companyID) else { throw ServiceError.invalidToken }
        let failures = PasswordFailures(email: user.email, origin: origin, limits: limits, limiter: limiter)
        try await failures.refuseAtLimit()
        guard try await verifyPassword(password, hash: user.passwordHash) else {
            await failures.count()
            try await store.audit(AuditEvent(action: "auth.reauthentication_failed", actor: principal.actor, target: "user:\(userID)",
                                             detail: [:], origin: origin), companyID: principal.companyID)
            throw ServiceError.reauthenticationFailed
        }
        return user
    }

    /// Revokes the caller's session (an API key cannot log out).
    func logout(_ principal: Principal, origin: RequestOrigin) async throws {
        guard case .session(let sessionID, _, _) = principal.credential else { throw ServiceError.sessionRequired }
        try await store.revokeSession(companyID: principal.companyID, sessionID: sessionID, actor: principal.actor, origin: origin)
    }

    /// The caller behind `secret` (a session token, or an API key by its prefix) and `deviceID` (`X-Device-Id`, which must
    /// name a device of the company): 401 `invalid_token` for an unknown, revoked or expired credential.
    func authenticate(secret: String, deviceID: String?) async throws -> (Principal, CompanySettings) {
        let hash = Credentials.hash(secret)
        var principal: Principal
        let company: CompanyRecord
        if secret.hasPrefix(Credentials.apiKeyPrefix) {
            guard let (key, found) = try await store.liveAPIKey(secretHash: hash, now: clock.now) else { throw ServiceError.invalidToken }
            principal = Principal(companyID: found.id!, credential: .apiKey(id: key.id!, scopes: key.scopeSet))
            company = found
        } else {
            guard let (session, user, found) = try await store.liveSession(tokenHash: hash, now: clock.now) else {
                throw ServiceError.invalidToken
            }
            principal = Principal(companyID: found.id!, credential: .session(id: session.id!, userID: user.id!, role: user.role))
            company = found
        }
        if let deviceID {
            guard let id = Int64(deviceID), try await store.device(id: id, companyID: principal.companyID) != nil else {
                throw ServiceError.unknownDevice
            }
            principal.deviceID = id
        }
        return (principal, CompanySettings.decode(company.settings, fallback: defaults))
    }

    /// bcrypt off the event loop and the cooperative pool.
    func hashPassword(_ password: String) async throws -> String {
        try await PasswordHashing.hashOffLoop(password, cost: bcryptCost)
    }

    func verifyPassword(_ password: String, hash: String) async throws -> Bool {
        try await PasswordHashing.verifyOffLoop(password, hash: hash)
    }
}

/// Wrong passwords, counted per source address and per email over 15 minutes (the login and the password asked again
/// share them): at either limit even the right password is refused until the oldest failure leaves the window.
private struct PasswordFailures {
    let addressKey: String
    let emailKey: String
    let addressLimit: RateLimiter.Limit
    let emailLimit: RateLimiter.Limit
    let limiter: RateLimiter

    init(email: String, origin: RequestOrigin, limits: RateLimitConfiguration, limiter: RateLimiter) {
        let window = Duration.seconds(15 * 60)
        addressKey = "login-failures-address:\(origin.remoteAddress)"
        emailKey = "login-failures-email:\(email.lowercased())"
        addressLimit = .atMost(limits.loginFailuresPerAddress, per: window)
        emailLimit = .atMost(limits.loginFailuresPerEmail, per: window)
        self.limiter = limiter
    }

    /// - Throws: `rateLimited` when either count is at its limit.
    func refuseAtLimit() async throws {
        var retry = await limiter.check(addressKey, limit: addressLimit)
        if retry == nil { retry = await limiter.check(emailKey, limit: emailLimit) }
        if let retry { throw ServiceError.rateLimited(retryAfter: retry) }
    }

    /// Counts one failure against both.
    func count() async {
        _ = await limiter.take(addressKey, limit: addressLimit)
        _ = await limiter.take(emailKey, limit: emailLimit)
    }
}
