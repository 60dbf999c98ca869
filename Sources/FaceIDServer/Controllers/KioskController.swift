import CompressNIO
import Foundation
import HTTPTypes
import Hummingbird

/// The timekeeper desktop app's contract (`docs/face-sync-api.md`): face upload and delete, the employee list with
/// encodings, and the delta feed with tombstones, acknowledgements and the propagation report.
///
/// Every route here except the propagation report also needs `X-App-Secret`, the desktop app's shared secret.
struct KioskController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.post, "/api/employees/{id}/face", .syncFaces, use: registerFace)
        routes.on(.delete, "/api/employees/{id}/face", .syncFaces, use: deleteFace)
        routes.on(.get, "/api/employees/timekeeper", .syncFaces, use: timekeeper)
        routes.on(.get, "/api/employees/timekeeper/changes", .syncFaces, use: changes)
        routes.on(.post, "/api/devices/{id}/ack", .syncFaces, use: acknowledge)
        routes.on(.get, "/api/employees/{id}/face/propagation", .readDevices, use: propagation)
    }

    // MARK: Faces

    @Sendable func registerFace(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> KioskFaceRegistered {
        try services.requireAppSecret(request)
        let id = try await ownEmployee(context, principal)
        let body = try await KioskFaceBody.decode(request.bodyData(limit: services.configuration.maxBodySize))
        try services.limit("face-registrations:\(principal.companyID)",
                           .atMost(services.configuration.rateLimits.faceRegistrationsPerMinute, per: .seconds(60)))
        let registered = try await services.store.registerKioskFace(
            employeeID: id, companyID: principal.companyID, encoding: body.encoding, registeredAt: body.registeredAt, keyRing: services.keyRing,
            actor: principal.actor, deviceID: principal.deviceID, origin: services.origin(request, context))
        try await services.index.catchUp(principal.companyID)
        return KioskFaceRegistered(employeeId: id, registeredAt: Timestamp.format(registered))
    }

    @Sendable func deleteFace(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> KioskFaceDeleted {
        try services.requireAppSecret(request)
        let id: Int64
        do {
            id = try await ownEmployee(context, principal)
        } catch let error as ServiceError where error.code == .notFound {
            throw ServiceError.noFaceToDelete
        }
        guard try await services.store.deleteKioskFaces(employeeID: id, companyID: principal.companyID, actor: principal.actor,
                                                        deviceID: principal.deviceID, origin: services.origin(request, context)) else {
            throw ServiceError.noFaceToDelete
        }
        try await services.index.catchUp(principal.companyID)
        return KioskFaceDeleted(employeeId: id)
    }

    /// The path's employee when it is the caller company's: 404 when nobody's (or left), 403 when another company's.
    private func ownEmployee(_ context: AppRequestContext, _ principal: Principal) async throws -> Int64 {
        guard let id = Int64(context.parameters.get("id") ?? "") else { throw ServiceError.employeeNotFound }
        switch try await services.store.ownership(ofEmployee: id, companyID: principal.companyID) {
        case .own: return id
        case .otherCompany: throw ServiceError.otherCompanysEmployee
        case .missing: throw ServiceError.employeeNotFound
        }
    }

    // MARK: Full list

    /// `?include_faces=true`: every active employee in one JSON array, streamed as it is read (gzip on request).
    /// `&page=1&page_size=500`: one page, with `Link: <…>; rel="next"` while more follow. Either way `X-Total-Count` and
    /// `X-Sync-Cursor` (where the feed stood before the first row was read: deltas from it cover what changed meanwhile).
    @Sendable func timekeeper(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Response {
        try services.requireAppSecret(request)
        let includeFaces = try request.queryFlag("include_faces") ?? false
        let page = try request.query("page", in: Limits.tablePage)
        let pageSize = try request.query("page_size", expected: "an integer") { Int($0) }
        if let pageSize, !Limits.tablePageSize.contains(pageSize) {
            throw ServiceError.invalidQuery(
                "page_size", "expected 1…\(Limits.tablePageSize.upperBound); omit page and page_size to receive every employee in one answer, "
                    + "or page through them by following the Link header (rel=\"next\") until it is absent")
        }
        if (page ?? 1) == 1 { try limitFullSync(principal) }
        let head = try await services.store.feedHead(companyID: principal.companyID)
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        headers[Self.syncCursor] = SyncCursor.delta(companyID: principal.companyID, seq: head.lastSeq).text
        guard page != nil || pageSize != nil else {
            return try await wholeTable(request, companyID: principal.companyID, includeFaces: includeFaces, headers: headers)
        }
        let (number, size) = (page ?? 1, pageSize ?? Limits.tablePageSizeDefault)
        let (total, employees) = try await services.store.timekeeperPage(companyID: principal.companyID, page: number, pageSize: size)
        let views = try await timekeeperViews(employees, companyID: principal.companyID, includeFaces: includeFaces)
        headers[Self.totalCount] = String(total)
        if number * size < total {
            headers[Self.link] = "<\(request.uri.path)?include_faces=\(includeFaces)&page=\(number + 1)&page_size=\(size)>; rel=\"next\""
        }
        return try Self.json(KioskJSON.array(views), request: request, headers: headers)
    }

    /// Employees read (and sealed encodings opened) per step of a whole-table answer.
    static let streamChunk = 1000

    /// Every active employee, read `streamChunk` at a time by id and written as each part is ready, so a table of any size
    /// costs the server one part of memory. `X-Total-Count` is the count when the answer began.
    private func wholeTable(_ request: Request, companyID: Int64, includeFaces: Bool, headers: HTTPFields) async throws -> Response {
        var headers = headers
        headers[Self.totalCount] = String(try await services.store.activeEmployeeCount(companyID: companyID))
        headers[.vary] = "Accept-Encoding"
        let gzip = Self.acceptsGzip(request)
        if gzip { headers[.contentEncoding] = "gzip" }
        let logger = services.logger
        let body = ResponseBody { writer in
            var afterID: Int64?
            do {
                let output = try StreamedJSON(gzip: gzip)
                try await output.write([UInt8(ascii: "[")], last: false, to: &writer)
                while true {
                    let employees = try await services.store.employees(
                        companyID: companyID, includeDeleted: false, afterID: afterID, limit: Self.streamChunk)
                    let views = try await timekeeperViews(employees, companyID: companyID, includeFaces: includeFaces)
                    try await output.write(KioskJSON.elements(views, first: afterID == nil), last: false, to: &writer)
                    guard employees.count == Self.streamChunk, let last = employees.last?.record.id else { break }
                    afterID = last
                }
                try await output.write([UInt8(ascii: "]")], last: true, to: &writer)
                try await writer.finish(nil)
            } catch {
                // The 200 and its headers are gone: the connection is cut, so the kiosk sees a broken body, never a short
                // table that parses. The reason goes to the log, at error level.
                logger.error("the employee table stream broke off", metadata: [
                    "company_id": "\(companyID)", "after_employee": "\(afterID.map(String.init) ?? "start")",
                    "error": "\(String(describing: type(of: error)))",
                ])
                throw error
            }
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    // MARK: Delta feed

    /// `?cursor=…&limit=…`: without a cursor a snapshot of every employee as upserts (paged), then the changes since.
    @Sendable func changes(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Response {
        try services.requireAppSecret(request)
        let limit = try request.query("limit", in: Limits.feedPage) ?? Limits.feedPageDefault
        let companyID = principal.companyID
        try await services.store.purgeFeed(companyID: companyID, olderThan: Date().addingTimeInterval(-Double(services.configuration.tombstoneDays) * 86_400))
        let cursor = try request.query("cursor").map { text throws(ServiceError) in
            guard let cursor = SyncCursor(text), cursor.companyID == companyID else { throw ServiceError.cursorExpired }
            return cursor
        }
        let page: ChangesPage
        switch cursor {
        case nil:
            try limitFullSync(principal)
            let head = try await services.store.feedHead(companyID: companyID)
            page = try await snapshot(companyID: companyID, startSeq: head.lastSeq, afterID: nil, limit: limit)
        case .snapshot(_, let startSeq, let afterID)?:
            guard startSeq >= (try await services.store.feedHead(companyID: companyID)).purgedThrough else { throw ServiceError.cursorExpired }
            page = try await snapshot(companyID: companyID, startSeq: startSeq, afterID: afterID, limit: limit)
        case .delta(_, let seq)?:
            let (rows, head) = try await services.store.employeeChanges(companyID: companyID, after: seq, limit: limit)
            guard seq >= head.purgedThrough, seq <= head.lastSeq else { throw ServiceError.cursorExpired }
            let views = try await timekeeperViews(rows.compactMap(\.employee), companyID: companyID, includeFaces: true)
            let byID = Dictionary(uniqueKeysWithValues: views.map { ($0.id, $0) })
            let changes = rows.map { row in byID[row.personID].map(Change.upsert) ?? .delete(row.personID) }
            let next = rows.last?.seq ?? seq
            page = ChangesPage(changes: changes, nextCursor: SyncCursor.delta(companyID: companyID, seq: next).text,
                               hasMore: next < head.lastSeq)
        }
        return try Self.json(KioskJSON.page(page), request: request, headers: [.contentType: "application/json; charset=utf-8"])
    }

    private func snapshot(companyID: Int64, startSeq: Int64, afterID: Int64?, limit: Int) async throws -> ChangesPage {
        let employees = try await services.store.employees(companyID: companyID, includeDeleted: false, afterID: afterID, limit: limit)
        let views = try await timekeeperViews(employees, companyID: companyID, includeFaces: true)
        if employees.count == limit, let last = employees.last?.record.id {
            return ChangesPage(changes: views.map(Change.upsert),
                               nextCursor: SyncCursor.snapshot(companyID: companyID, startSeq: startSeq, afterID: last).text, hasMore: true)
        }
        let head = try await services.store.feedHead(companyID: companyID)
        return ChangesPage(changes: views.map(Change.upsert), nextCursor: SyncCursor.delta(companyID: companyID, seq: startSeq).text,
                           hasMore: head.lastSeq > startSeq)
    }

    /// `{cursor}`: the device applied everything up to that cursor.
    @Sendable func acknowledge(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> AckResponse {
        try services.requireAppSecret(request)
        let id = try context.parameters.id("id", "Device")
        // A kiosk acknowledges for itself (its X-Device-Id); an admin may for any device.
        if !principal.can(.manageDevices) {
            guard let device = principal.deviceID else { throw ServiceError.deviceRequired }
            guard device == id else { throw ServiceError.otherDevice }
        }
        let body = try await request.decodeJSON(AckRequest.self, limit: 64 << 10)
        guard let cursor = SyncCursor(body.cursor), cursor.companyID == principal.companyID else {
            throw ServiceError.invalidField("cursor", "not a cursor of this company")
        }
        guard case .delta(_, let seq) = cursor else {
            throw ServiceError.invalidField("cursor", "a snapshot is not finished: acknowledge the next_cursor of its last page")
        }
        let device = try await services.store.acknowledge(deviceID: id, companyID: principal.companyID, seq: seq)
        return AckResponse(deviceId: id, ackedCursor: SyncCursor.delta(companyID: principal.companyID, seq: device.ackedSeq ?? seq).text,
                           ackedAt: Timestamp.format(device.ackedAt ?? Date()))
    }

    /// Which kiosks applied the employee's latest change (a deletion included) and which have not yet.
    @Sendable func propagation(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> PropagationResponse {
        let id = try context.parameters.id("id", "Employee")
        guard let (latest, devices) = try await services.store.propagation(employeeID: id, companyID: principal.companyID),
              let employee = try await services.store.employee(id: id, companyID: principal.companyID) else {
            throw ServiceError.employeeNotFound
        }
        let views = devices.map { device in
            DevicePropagation(id: device.id!, name: device.name, location: device.location,
                              ackedCursor: device.ackedSeq.map { SyncCursor.delta(companyID: principal.companyID, seq: $0).text },
                              ackedAt: device.ackedAt.map(Timestamp.format), applied: device.ackedSeq.map { $0 >= latest.seq } ?? false)
        }
        let state = employee.record.deletedAt == nil ? (employee.face == nil ? "no_face" : "face_registered") : "deleted"
        return PropagationResponse(
            employeeId: id, state: state,
            latestChange: LatestChange(cursor: SyncCursor.delta(companyID: principal.companyID, seq: latest.seq).text,
                                       at: latest.atMicros.map { Timestamp.format(micros: $0) }),
            devices: views, applied: views.filter(\.applied).map(\.id), pending: views.filter { !$0.applied }.map(\.id))
    }

    // MARK: Helpers

    static let totalCount = HTTPField.Name("X-Total-Count")!
    static let link = HTTPField.Name("Link")!
    static let syncCursor = HTTPField.Name("X-Sync-Cursor")!

    /// At most `rateLimit.fullSyncsPerHour` full syncs per kiosk (its device, else its credential).
    private func limitFullSync(_ principal: Principal) throws(ServiceError) {
        try services.limit("full-sync:" + principal.rateLimitKey,
                           .atMost(services.configuration.rateLimits.fullSyncsPerHour, per: .seconds(3600)))
    }

    private func timekeeperViews(_ employees: [Store.Employee], companyID: Int64, includeFaces: Bool) async throws -> [TimekeeperEmployee] {
        guard includeFaces, employees.contains(where: { $0.face != nil }) else {
            return employees.map { TimekeeperEmployee($0, encoding: nil, includeFaces: includeFaces) }
        }
        guard let wrappedKey = try await services.store.wrappedKey(companyID: companyID) else { throw ServiceError.serverFault("no company key") }
        let sealer = try services.keyRing.sealer(companyID: companyID, wrappedKey: wrappedKey)
        return try employees.map { employee in
            let encoding = try employee.face.map { face in
                guard let values = FaceEncoding.doubles(try sealer.open(face.sealedEncoding, recordID: "face:\(face.id!)")) else {
                    throw ServiceError.serverFault("face \(face.id!) does not open")
                }
                return values
            }
            return TimekeeperEmployee(employee, encoding: encoding, includeFaces: true)
        }
    }

    static func acceptsGzip(_ request: Request) -> Bool {
        request.headers[.acceptEncoding]?.lowercased().contains("gzip") == true
    }

    /// The kiosk JSON, gzip-compressed (fastest level: the encodings are most of it) when the client accepts it.
    static func json(_ bytes: [UInt8], request: Request, headers: HTTPFields) throws -> Response {
        var buffer = ByteBuffer(bytes: bytes)
        var headers = headers
        headers[.vary] = "Accept-Encoding"
        if acceptsGzip(request) {
            buffer = try buffer.compress(with: .gzip(configuration: .init(compressionLevel: .fastestCompression)))
            headers[.contentEncoding] = "gzip"
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: buffer))
    }
}

/// A sync cursor: opaque to kiosks (base64url), a feed sequence number on the server — never a client clock.
enum SyncCursor: Equatable {
    /// After every change up to `seq`.
    case delta(companyID: Int64, seq: Int64)
    /// Inside a snapshot taken at `startSeq`, after employee `afterID`.
    case snapshot(companyID: Int64, startSeq: Int64, afterID: Int64)

    var companyID: Int64 {
        switch self {
        case .delta(let companyID, _), .snapshot(let companyID, _, _): companyID
        }
    }

    var text: String {
        let plain = switch self {
        case .delta(let companyID, let seq): "d.\(companyID).\(seq)"
        case .snapshot(let companyID, let startSeq, let afterID): "s.\(companyID).\(startSeq).\(afterID)"
        }
        return Data(plain.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    init?(_ text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard text.count <= 100, let data = Data(base64Encoded: base64), let plain = String(data: data, encoding: .utf8) else { return nil }
        let parts = plain.split(separator: ".", omittingEmptySubsequences: false)
        let numbers = parts.dropFirst().compactMap { Int64($0) }
        guard numbers.count == parts.count - 1, numbers.allSatisfy({ $0 >= 0 }) else { return nil }
        switch (parts.first, numbers.count) {
        case ("d", 2): self = .delta(companyID: numbers[0], seq: numbers[1])
        case ("s", 3): self = .snapshot(companyID: numbers[0], startSeq: numbers[1], afterID: numbers[2])
        default: return nil
        }
    }
}

/// `{"face_encoding": "[0.1, …]" | [0.1, …], "registered_at"?: RFC 3339}`.
struct KioskFaceBody {
    /// Exactly as sent: stored as float64 and returned unchanged.
    var encoding: [Double]
    var registeredAt: Date?

    private struct Wire: Decodable {
        var faceEncoding: EncodingValue?
        var registeredAt: TimeValue?
    }

    /// RFC 3339 text, or Unix seconds as a number or text.
    private enum TimeValue: Decodable {
        case text(String)
        case seconds(Double)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let seconds = try? container.decode(Double.self) {
                self = .seconds(seconds)
            } else {
                self = .text(try container.decode(String.self))
            }
        }

        var date: Date? {
            switch self {
            case .text(let text): Timestamp.parse(text)
            case .seconds(let seconds): seconds.isFinite ? Date(timeIntervalSince1970: seconds) : nil
            }
        }
    }

    /// The JSON string of an array, or the array itself.
    private enum EncodingValue: Decodable {
        case text(String)
        case numbers([Double])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .text(text)
            } else {
                self = .numbers(try container.decode([Double].self))
            }
        }
    }

    /// Any malformed body, and any encoding other than exactly 128 finite numbers, is the contract's one 400.
    static func decode(_ data: Data) throws(ServiceError) -> KioskFaceBody {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let wire = try? decoder.decode(Wire.self, from: data), let value = wire.faceEncoding else { throw .invalidFaceEncoding }
        var registeredAt: Date?
        if let value = wire.registeredAt {
            // Within 2000…3000: anything else is a kiosk clock gone wrong (and would not fit the store's milliseconds).
            guard let date = value.date, (946_684_800...32_503_680_000).contains(date.timeIntervalSince1970) else {
                throw .invalidField("registered_at", "expected an RFC 3339 time or Unix seconds, between 2000 and 3000")
            }
            registeredAt = date
        }
        let numbers: [Double]
        switch value {
        case .numbers(let array):
            numbers = array
        case .text(let text):
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard trimmed.hasPrefix("["), trimmed.hasSuffix("]") else { throw .invalidFaceEncoding }
            var parsed: [Double] = []
            for part in trimmed.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false) {
                guard let number = Double(part.trimmingCharacters(in: .whitespaces)) else { throw .invalidFaceEncoding }
                parsed.append(number)
            }
            numbers = parsed
        }
        // Exactly 128 finite numbers within the bound every encoding has (a huge one would overflow distances).
        guard numbers.count == FaceEncoding.dimension, numbers.allSatisfy({ $0.isFinite && abs($0) < 1e6 }) else { throw .invalidFaceEncoding }
        return KioskFaceBody(encoding: numbers, registeredAt: registeredAt)
    }
}

struct KioskFaceRegistered: ResponseEncodable, Sendable {
    var success = true
    var employeeId: Int64
    var registeredAt: String
    var message = "Face encoding registered successfully"
}

struct KioskFaceDeleted: ResponseEncodable, Sendable {
    var success = true
    var employeeId: Int64
    var message = "Face encoding deleted successfully"
}

struct AckRequest: Decodable {
    var cursor: String
}

struct AckResponse: ResponseEncodable, Sendable {
    var success = true
    var deviceId: Int64
    var ackedCursor: String
    var ackedAt: String
}

struct LatestChange: Encodable, Sendable {
    var cursor: String
    /// Nil when the change is older than the feed's retention (its row was purged).
    var at: String?
}

struct DevicePropagation: Encodable, Sendable {
    var id: Int64
    var name: String
    var location: String
    var ackedCursor: String?
    var ackedAt: String?
    var applied: Bool
}

struct PropagationResponse: ResponseEncodable, Sendable {
    var success = true
    var employeeId: Int64
    /// `face_registered`, `no_face` or `deleted`.
    var state: String
    var latestChange: LatestChange
    var devices: [DevicePropagation]
    var applied: [Int64]
    var pending: [Int64]
}

/// A response body written in parts, gzip-compressed as it goes (fastest level) when the client accepts it.
private struct StreamedJSON {
    private let compressor: (any NIOCompressor)?

    /// Starts a gzip stream when `gzip`; otherwise bytes pass through as they are.
    init(gzip: Bool) throws {
        guard gzip else {
            compressor = nil
            return
        }
        let compressor = CompressionAlgorithm.gzip(configuration: .init(compressionLevel: .fastestCompression)).compressor
        compressor.window = ByteBufferAllocator().buffer(capacity: 64 << 10)
        try compressor.startStream()
        self.compressor = compressor
    }

    /// Writes `bytes`; `last` ends the compressed stream.
    func write(_ bytes: [UInt8], last: Bool, to writer: inout any ResponseBodyWriter) async throws {
        var buffer = ByteBuffer(bytes: bytes)
        guard let compressor else {
            try await writer.write(buffer)
            return
        }
        try await buffer.compressStream(with: compressor, flush: last ? .finish : .no) { try await writer.write($0) }
        if last { try compressor.finishStream() }
    }
}
