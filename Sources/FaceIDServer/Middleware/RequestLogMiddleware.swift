import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Prometheus

/// One log line and two metrics per request: request id, route (the template, never the raw path
/// or query), status, latency and company id. Headers and bodies are never logged.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let metrics: PrometheusCollectorRegistry

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        // Hummingbird's request id: already in the logger's metadata (`hb.request.id`), echoed as `X-Request-Id`.
        let requestID = context.id
        var response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
        let route = context.endpointPath ?? "unmatched"
        let status = String(response.status.code)
        response.headers[.requestID] = requestID
        // The server's own time for the request (body encoded, compressed), for clients and `faceid-bench`.
        response.headers[Self.serverTiming] = String(format: "app;dur=%.2f", milliseconds)
        let labels = [("route", route), ("method", request.method.rawValue), ("status", status)]
        metrics.makeCounter(descriptor: Self.requests, labels: labels).increment()
        metrics.makeDurationHistogram(
            descriptor: Self.duration, labels: [("route", route), ("method", request.method.rawValue)],
            buckets: Self.buckets
        ).recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        var metadata: Logger.Metadata = [
            "route": .string(route), "method": .string(request.method.rawValue), "status": .string(status),
            "latency_ms": .string(String(format: "%.2f", milliseconds)),
        ]
        if let companyID = context.notes.companyID { metadata["company_id"] = .string(String(companyID)) }
        context.logger.info("request", metadata: metadata)
        return response
    }

    static let serverTiming = HTTPField.Name("Server-Timing")!

    // Computed: the descriptor type is not Sendable, so it cannot be a stored static.
    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "faceid", subsystem: "http", metricName: "requests", unitName: "total",
            helpText: "HTTP requests by route template, method and status.")
    }
    static var duration: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "faceid", subsystem: "http", metricName: "request_duration", unitName: "seconds",
            helpText: "HTTP request latency by route template and method.")
    }

    static let buckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
    ]
}
