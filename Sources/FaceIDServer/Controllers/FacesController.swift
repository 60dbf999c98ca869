import Foundation
import Hummingbird

/// `POST /faces/import` (precomputed encodings), `GET /faces/{id}`, `GET /faces/{id}/image`, `DELETE /faces/{id}`,
/// `GET /persons/{id}/faces`.
///
/// Every write goes to the store with its change-feed rows in one transaction; the index then catches up
/// before the answer, so a face is searchable when its 201 arrives.
struct FacesController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.post, "/faces/import", .importFaces, idempotent: true, use: importFaces)
        routes.on(.get, "/faces/{id}", .readPersons, use: show)
        routes.on(.get, "/faces/{id}/image", .readImages, use: image)
        routes.on(.delete, "/faces/{id}", .managePersons, idempotent: true, use: delete)
        routes.on(.get, "/persons/{id}/faces", .readPersons, use: personFaces)
    }

    /// A JSON array of `{person_id | external_id + full_name?, encoding, model?}`, or the same objects one per line (JSON
    /// lines). `model` names the encoding's model (default `dlib-resnet-v1`); an `sface-2021dec` one must be L2-normalised.
    @Sendable func importFaces(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Created<ImportResponse> {
        let data = try await request.bodyData(limit: services.configuration.maxBodySize)
        let items = try Self.parseImport(data)
        guard !items.isEmpty else { throw ServiceError.invalidField("faces", "nothing to import") }
        guard items.count <= Limits.importItems else { throw ServiceError.invalidField("faces", "at most \(Limits.importItems) per request") }
        var faces: [Store.NewFace] = []
        faces.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            let field = "[\(index)]"
            let model = try item.model.map { try RecognitionModel.named($0, field: field + ".model") } ?? .dlib
            var encoding = try FaceEncoding.validate(item.encoding, field: field + ".encoding")
            if model == .sface { encoding = try FaceEncoding.validateUnit(encoding, field: field + ".encoding") }
            if let personID = item.personId {
                faces.append(Store.NewFace(person: .id(personID), encoding: encoding, model: model))
            } else if let externalID = try Validate.externalID(item.externalId) {
                let name = try Validate.optionalName(item.fullName, field: field + ".full_name") ?? externalID
                faces.append(Store.NewFace(person: .external(externalID, fullName: name), encoding: encoding, model: model))
            } else {
                throw ServiceError.missingField(field + ".person_id")
            }
        }
        let added = try await services.enrollment.importFaces(faces, settings: context.companySettings ?? services.defaultSettings,
                                                              principal: principal, origin: services.origin(request, context))
        return Created(value: ImportResponse(imported: added.count, faceIds: added.map { $0.id! },
                                             personIds: added.map(\.personID)))
    }

    /// `?include_encoding=true` adds the 128 numbers exactly as stored — only for the desktop app (a kiosk credential with
    /// `X-App-Secret`) or an `admin` API key; each such read is audited (`face.encoding_read`).
    @Sendable func show(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> FaceResponse {
        let id = try context.parameters.id("id", "Face")
        let includeEncoding = try request.query("include_encoding", expected: "true or false") { ["true": true, "false": false][$0] } ?? false
        if includeEncoding { try services.requireEncodingAccess(request, principal) }
        guard let face = try await services.store.face(id: id, companyID: principal.companyID) else { throw ServiceError.notFound("Face") }
        var view = FaceView(face)
        if includeEncoding {
            view.encoding = try await services.directory.encoding(ofFace: face, principal: principal, origin: services.origin(request, context))
        }
        return FaceResponse(face: view)
    }

    /// The enrollment photo, when the company stores them (`store_images`); every read is audited.
    @Sendable func image(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Response {
        let id = try context.parameters.id("id", "Face")
        let image = try await services.directory.photo(ofFace: id, principal: principal, origin: services.origin(request, context))
        let type = image.starts(with: [0x89, 0x50, 0x4E, 0x47]) ? "image/png" : "image/jpeg"
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-store"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: image)))
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Response {
        let id = try context.parameters.id("id", "Face")
        try await services.enrollment.deleteFace(id: id, principal: principal, origin: services.origin(request, context))
        return Response(status: .noContent)
    }

    @Sendable func personFaces(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> FaceList {
        let id = try context.parameters.id("id", "Person")
        guard let faces = try await services.store.faces(personID: id, companyID: principal.companyID) else {
            throw ServiceError.notFound("Person")
        }
        return FaceList(faces: faces.map(FaceView.init))
    }

    static func parseImport(_ data: Data) throws(ServiceError) -> [ImportItem] {
        let text = String(decoding: data, as: UTF8.self)
        if text.drop(while: \.isWhitespace).first == "[" {
            return try APIJSON.decode([ImportItem].self, from: data)
        }
        var items: [ImportItem] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() where !line.allSatisfy(\.isWhitespace) {
            do {
                items.append(try APIJSON.decode(ImportItem.self, from: Data(line.utf8)))
            } catch {
                var error = error
                error.message = "line \(index + 1): " + error.message
                throw error
            }
        }
        return items
    }
}
