import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The `Idempotency-Key` header at the edge (`ProtectedRoutes.on(…, idempotent: true)`): claims the key, runs the handler
/// under its mark, keeps the answer; a retry gets that answer again with `Idempotent-Replayed: true`.
extension AppServices {
    static let idempotencyKeyField = HTTPField.Name(Idempotency.header)!
    static let replayedField = HTTPField.Name("Idempotent-Replayed")!

    func idempotently(_ request: Request, context: AppRequestContext, principal: Principal,
                      run: @Sendable (Request) async throws -> Response) async throws -> Response {
        guard let header = request.headers[Self.idempotencyKeyField] else { return try await run(request) }
        let key = try Idempotency.validate(header)
        let body = try await request.bodyData(limit: configuration.maxBodySize)
        var request = request
        request.body = RequestBody(buffer: ByteBuffer(bytes: body))
        let fingerprint = Idempotency.fingerprint(method: request.method.rawValue, uri: request.uri.description, body: body)
        switch try await store.claimIdempotencyKey(companyID: principal.companyID, key: key, fingerprint: fingerprint, now: clock.now) {
        case .replay(let status, let contentType, let stored):
            var headers: HTTPFields = [Self.replayedField: "true"]
            if let contentType { headers[.contentType] = contentType }
            return Response(status: HTTPResponse.Status(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: stored)))
        case .inProgress: throw ServiceError.idempotencyInProgress
        case .appliedWithoutAnswer: throw ServiceError.idempotentRequestApplied
        case .mismatch: throw ServiceError.idempotencyKeyReused
        case .claimed(let attempt):
            let mark = Idempotency.Mark(companyID: principal.companyID, key: key, attempt: attempt)
            do {
                var response = try await Idempotency.$current.withValue(mark) { try await run(request) }
                let answer = try await Self.collect(response.body)
                try await store.finishIdempotencyKey(mark, status: Int(response.status.code), contentType: response.headers[.contentType],
                                                     body: Data(buffer: answer))
                response.body = ResponseBody(byteBuffer: answer)
                return response
            } catch {
                // Nothing applied (a refusal, a failure before the write): the key is free again. Applied, it stays: a retry
                // learns the request was applied.
                try? await store.releaseIdempotencyKey(mark)
                throw error
            }
        }
    }

    /// A response body's bytes (this API's answers are one buffer).
    private static func collect(_ body: ResponseBody) async throws -> ByteBuffer {
        final class Sink: @unchecked Sendable { var buffer = ByteBuffer() }
        struct Collector: ResponseBodyWriter {
            let sink: Sink
            mutating func write(_ buffer: ByteBuffer) async throws {
                var buffer = buffer
                sink.buffer.writeBuffer(&buffer)
            }
            consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
        }
        let sink = Sink()
        try await body.write(Collector(sink: sink))
        return sink.buffer
    }
}
