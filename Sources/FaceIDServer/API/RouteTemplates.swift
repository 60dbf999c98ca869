import HTTPTypes
import Synchronization

/// The served path templates and their methods, so that a known path asked with a method it does not serve answers
/// 405 `method_not_allowed` with `Allow` (Hummingbird's router only knows "no responder", which is a 404).
///
/// Filled once by `buildRouter` after every controller has registered its routes.
final class RouteTemplates: Sendable {
    private let routes = Mutex<[(segments: [Substring], method: HTTPRequest.Method)]>([])

    func set(_ table: [RouteInfo]) {
        routes.withLock { $0 = table.map { (Self.segments($0.path), $0.method) } }
    }

    /// The methods served on `path` (a request path, no query), sorted; empty when no template matches it.
    func methods(for path: String) -> [String] {
        let asked = Self.segments(path)
        let methods = routes.withLock { routes in
            routes.filter { Self.matches($0.segments, asked) }.map(\.method.rawValue)
        }
        return Set(methods).sorted()
    }

    private static func segments(_ path: String) -> [Substring] {
        path.split(separator: "/")
    }

    /// A template segment `{name}` matches any one segment; others match exactly.
    private static func matches(_ template: [Substring], _ path: [Substring]) -> Bool {
        template.count == path.count && zip(template, path).allSatisfy { $0.hasPrefix("{") && $0.hasSuffix("}") || $0 == $1 }
    }
}
