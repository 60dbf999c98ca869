import Foundation
import Hummingbird

/// `POST /devices`, `GET /devices`, `DELETE /devices/{id}`: the company's kiosks.
struct DevicesController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.post, "/devices", .manageDevices, use: create)
        routes.on(.get, "/devices", .readDevices, use: list)
        routes.on(.delete, "/devices/{id}", .manageDevices, use: delete)
    }

    @Sendable func create(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Created<DeviceResponse> {
        let body = try await request.decodeJSON(CreateDeviceRequest.self, limit: services.configuration.maxBodySize)
        let device = DeviceRecord(
            id: nil, companyID: principal.companyID, name: try Validate.name(body.name, field: "name"),
            location: try Validate.optionalName(body.location, field: "location") ?? "", createdAt: Date())
        let created = try await services.store.createDevice(device, actor: principal.actor, origin: services.origin(request, context))
        return Created(value: DeviceResponse(device: DeviceView(created)))
    }

    @Sendable func list(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> DeviceList {
        let head = try await services.store.feedHead(companyID: principal.companyID).lastSeq
        let devices = try await services.store.devices(companyID: principal.companyID)
        return DeviceList(devices: devices.map { DeviceView($0, feedHead: head) }, feedHead: head)
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Response {
        let id = try context.parameters.id("id", "Device")
        try await services.store.deleteDevice(id: id, companyID: principal.companyID, actor: principal.actor,
                                              origin: services.origin(request, context))
        return Response(status: .noContent)
    }
}
