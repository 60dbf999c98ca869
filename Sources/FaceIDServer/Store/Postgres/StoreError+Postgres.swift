import PostgresNIO

extension StoreError {
    /// A PostgreSQL failure that says the store is out of reach for a moment — the connection lost or refused, the server
    /// restarting, a serialization failure or deadlock victim — as `unavailable` (the client retries); nil for anything else.
    static func transient(_ error: PSQLError) -> StoreError? {
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed, .queryCancelled:
            return .unavailable("PostgreSQL: \(error.code)")
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            // 08: connection exceptions; 57P01–57P03: the server shutting down or starting; 40001: serialization failure;
            // 40P01: deadlock (the victim's transaction rolled back); 53: insufficient resources (e.g. too many connections).
            if state.hasPrefix("08") || ["57P01", "57P02", "57P03", "40001", "40P01"].contains(state) || state.hasPrefix("53") {
                return .unavailable("PostgreSQL SQLSTATE \(state)")
            }
            return nil
        default:
            return nil
        }
    }
}
