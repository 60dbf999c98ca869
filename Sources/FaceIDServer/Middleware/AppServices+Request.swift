import Hummingbird

/// What handlers take from a request through the shared parts: the caller's origin, a rate-limit token.
extension AppServices {
    /// The caller's address and user agent, for the audit log and per-address limits.
    func origin(_ request: Request, _ context: AppRequestContext) -> RequestOrigin {
        request.origin(context, trustForwardedFor: configuration.trustForwardedFor)
    }

    /// Takes a token or throws 429 with `Retry-After`.
    func limit(_ key: String, _ limit: RateLimiter.Limit) async throws(ServiceError) {
        if let retryAfter = await limiter.take(key, limit: limit) { throw .rateLimited(retryAfter: retryAfter) }
    }
}
