import CompressNIO
import Foundation
import HTTPTypes
import Hummingbird

/// The timekeeper desktop app's contract (`docs/face-sync-api.md`) over HTTP: `KioskSync` holds its rules; this parses,
/// streams the employee table and writes the kiosk JSON (gzip on request).
///
/// Every route here except the propagation report also needs `X-App-Secret`, the desktop app's shared secret.
struct KioskController {
    let services: AppServices
    var sync: KioskSync { services.kioskSync }

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.post, "/api/employees/{id}/face", .syncFaces, idempotent: true, use: registerFace)
        routes.on(.delete, "/api/employees/{id}/face", .syncFaces, idempotent: true, use: deleteFace)
        routes.on(.get, "/api/employees/timekeeper", .syncFaces, use: timekeeper)
        routes.on(.get, "/api/employees/timekeeper/changes", .syncFaces, use: changes)
        routes.on(.post, "/api/devices/{id}/ack", .syncFaces, use: acknowledge)
        routes.on(.get, "/api/employees/{id}/face/propagation", .readDevices, use: propagation)
    }

    // MARK: Faces

    @Sendable func registerFace(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> KioskFaceRegistered {
        try services.requireAppSecret(request)
        // An unknown employee is answered before the body is read.
        let id = try await sync.ownEmployee(Int64(context.parameters.get("id") ?? ""), companyID: principal.companyID)
        let body = try await KioskFaceBody.decode(request.bodyData(limit: services.configuration.maxBodySize))
        let registered = try await sync.registerFace(employeeID: id, encoding: body.encoding, registeredAt: body.registeredAt,
                                                     settings: context.companySettings ?? services.defaultSettings,
                                                     principal: principal, origin: services.origin(request, context))
        return KioskFaceRegistered(employeeId: id, registeredAt: Timestamp.format(registered))
    }

    @Sendable func deleteFace(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> KioskFaceDeleted {
        try services.requireAppSecret(request)
        let id = try await sync.deleteFaces(employeeID: Int64(context.parameters.get("id") ?? ""), principal: principal,
                                            origin: services.origin(request, context))
        return KioskFaceDeleted(employeeId: id)
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
        if (page ?? 1) == 1 { try await sync.limitFullSync(principal) }
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        headers[Self.syncCursor] = try await sync.head(companyID: principal.companyID).text
        guard page != nil || pageSize != nil else {
            return try await wholeTable(request, companyID: principal.companyID, includeFaces: includeFaces, headers: headers)
        }
        let (number, size) = (page ?? 1, pageSize ?? Limits.tablePageSizeDefault)
        let (total, employees) = try await sync.tablePage(companyID: principal.companyID, page: number, pageSize: size,
                                                          includeFaces: includeFaces)
        headers[Self.totalCount] = String(total)
        if number * size < total {
            headers[Self.link] = "<\(request.uri.path)?include_faces=\(includeFaces)&page=\(number + 1)&page_size=\(size)>; rel=\"next\""
        }
        return try Self.json(KioskJSON.array(employees.map { TimekeeperEmployee($0, includeFaces: includeFaces) }), request: request,
                             headers: headers)
    }

    /// Employees read (and sealed encodings opened) per step of a whole-table answer.
    static let streamChunk = 1000

    /// Every active employee, read `streamChunk` at a time by id and written as each part is ready, so a table of any size
    /// costs the server one part of memory. `X-Total-Count` is the count when the answer began.
    private func wholeTable(_ request: Request, companyID: Int64, includeFaces: Bool, headers: HTTPFields) async throws -> Response {
        var headers = headers
        headers[Self.totalCount] = String(try await sync.activeCount(companyID: companyID))
        headers[.vary] = "Accept-Encoding"
        let gzip = Self.acceptsGzip(request)
        if gzip { headers[.contentEncoding] = "gzip" }
        let (sync, logger) = (sync, services.logger)
        let body = ResponseBody { writer in
            var afterID: Int64?
            do {
                let output = try StreamedJSON(gzip: gzip)
                try await output.write([UInt8(ascii: "[")], last: false, to: &writer)
                while true {
                    let employees = try await sync.employees(companyID: companyID, after: afterID, limit: Self.streamChunk,
                                                             includeFaces: includeFaces)
                    let views = employees.map { TimekeeperEmployee($0, includeFaces: includeFaces) }
                    try await output.write(KioskJSON.elements(views, first: afterID == nil), last: false, to: &writer)
                    guard employees.count == Self.streamChunk, let last = employees.last?.employee.record.id else { break }
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

    /// `?cursor=…&limit=…`: without a cursor a snapshot of every employee as upserts (paged), then the changes since. A
    /// snapshot page carries `X-Total-Count`.
    @Sendable func changes(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Response {
        try services.requireAppSecret(request)
        let limit = try request.query("limit", in: Limits.feedPage) ?? Limits.feedPageDefault
        let page = try await sync.changes(cursor: request.query("cursor"), limit: limit, principal: principal)
        let changes = page.changes.map { change -> Change in
            switch change {
            case .upsert(let employee): .upsert(TimekeeperEmployee(employee, includeFaces: true))
            case .delete(let id): .delete(id)
            }
        }
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if let total = page.total { headers[Self.totalCount] = String(total) }
        return try Self.json(KioskJSON.page(ChangesPage(changes: changes, nextCursor: page.next.text, hasMore: page.hasMore)),
                             request: request, headers: headers)
    }

    /// `{cursor}`: the device applied everything up to that cursor.
    @Sendable func acknowledge(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> AckResponse {
        try services.requireAppSecret(request)
        let id = try context.parameters.id("id", "Device")
        let body = try await request.decodeJSON(AckRequest.self, limit: 64 << 10)
        let (cursor, at) = try await sync.acknowledge(deviceID: id, cursor: body.cursor, principal: principal)
        return AckResponse(deviceId: id, ackedCursor: cursor.text, ackedAt: Timestamp.format(at))
    }

    /// Which kiosks applied the employee's latest change (a deletion included) and which have not yet.
    @Sendable func propagation(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> PropagationResponse {
        let id = try context.parameters.id("id", "Employee")
        let report = try await sync.propagation(employeeID: id, companyID: principal.companyID)
        let views = report.devices.map { device, applied in
            DevicePropagation(id: device.id!, name: device.name, location: device.location,
                              ackedCursor: device.ackedSeq.map { SyncCursor.delta(companyID: principal.companyID, seq: $0).text },
                              ackedAt: device.ackedAt.map(Timestamp.format), applied: applied)
        }
        let state = report.employee.record.deletedAt == nil ? (report.employee.face == nil ? "no_face" : "face_registered") : "deleted"
        return PropagationResponse(
            employeeId: id, state: state,
            latestChange: LatestChange(cursor: report.latest.text, at: report.latestAtMicros.map { Timestamp.format(micros: $0) }),
            devices: views, applied: views.filter(\.applied).map(\.id), pending: views.filter { !$0.applied }.map(\.id))
    }

    // MARK: Helpers

    static let totalCount = HTTPField.Name("X-Total-Count")!
    static let link = HTTPField.Name("Link")!
    static let syncCursor = HTTPField.Name("X-Sync-Cursor")!

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

