import HTTPTypes
import Hummingbird

/// One registered endpoint and the permission it requires (nil: public).
public struct RouteInfo: Sendable, Hashable {
    public var method: HTTPRequest.Method
    public var path: String
    public var permission: Permission?
}

/// Registers routes that need a caller, each with its `Permission`: the single place where
/// access is enforced (then the company's and the credential's rate limits are taken).
///
/// Every route is served twice with one handler: at its path for API callers (`Authorization` / `X-API-Key`), and under
/// `/console/api` for the browser console (its cookie, plus the CSRF token on writes: `ConsoleSessionMiddleware`). The
/// console thus calls exactly the documented API, under the same permission matrix.
struct ProtectedRoutes {
    static let consolePrefix = "/console/api"
    let groups: [RouterGroup<AppRequestContext>]
    let services: AppServices
    private(set) var table: [RouteInfo] = []

    init(router: Router<AppRequestContext>, services: AppServices) {
        groups = [
            router.group().add(middleware: AuthenticationMiddleware(services: services)),
            router.group(RouterPath(Self.consolePrefix)).add(middleware: ConsoleSessionMiddleware(services: services)),
        ]
        self.services = services
    }

    /// - Parameter idempotent: the route honours `Idempotency-Key` (`AppServices.idempotently`).
    mutating func on(
        _ method: HTTPRequest.Method, _ path: String, _ permission: Permission, idempotent: Bool = false,
        use handler: @escaping @Sendable (Request, AppRequestContext, Principal) async throws -> some ResponseGenerator
    ) {
        table.append(RouteInfo(method: method, path: path, permission: permission))
        let services = services
        let handle: @Sendable (Request, AppRequestContext) async throws -> Response = { request, context in
            let principal = try context.requirePrincipal()
            try principal.require(permission)
            let perMinute = context.companySettings?.requestsPerMinute ?? services.configuration.rateLimits.companyPerMinute
            try await services.limit("company:\(principal.companyID)", .perMinute(perMinute))
            try await services.limit(principal.rateLimitKey, .perMinute(services.configuration.rateLimits.credentialPerMinute))
            guard idempotent else { return try await handler(request, context, principal).response(from: request, context: context) }
            return try await services.idempotently(request, context: context, principal: principal) { request in
                try await handler(request, context, principal).response(from: request, context: context)
            }
        }
        for group in groups { group.on(RouterPath(path), method: method, use: handle) }
    }
}

extension Request {
    /// The client address (the first `X-Forwarded-For` hop when the server is configured to trust it) and user agent.
    func origin(_ context: AppRequestContext, trustForwardedFor: Bool) -> RequestOrigin {
        var address = context.remoteAddress?.ipAddress ?? ""
        if trustForwardedFor, let forwarded = headers[.forwardedFor]?.split(separator: ",").first {
            address = forwarded.trimmingCharacters(in: .whitespaces)
        }
        return RequestOrigin(remoteAddress: address, userAgent: headers[.userAgent] ?? "")
    }
}

extension Parameters {
    /// A numeric path id; anything else cannot name a resource, so it is a 404, like an id of another company.
    func id(_ name: String, _ what: String) throws(ServiceError) -> Int64 {
        guard let text = self.get(name), let id = Int64(text) else { throw ServiceError.notFound(what) }
        return id
    }
}
