import Foundation
import Hummingbird
import SwiftCSV

/// The HR side of the kiosks: `POST/GET /api/employees`, `GET/PATCH/DELETE /api/employees/{id}`, and the bulk
/// `POST /api/employees/import` (a JSON array, or CSV with a `name,timekeeper_id[,external_id]` header).
///
/// An employee is a person with a timekeeper id. Deleting (or resigning) keeps the record for payroll and removes
/// the faces — from the store, the index and, through the feed's tombstone, every kiosk.
struct EmployeesController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.post, "/api/employees", .managePersons, use: create)
        routes.on(.get, "/api/employees", .readPersons, use: list)
        routes.on(.post, "/api/employees/import", .managePersons, use: importRows)
        routes.on(.get, "/api/employees/{id}", .readPersons, use: show)
        routes.on(.patch, "/api/employees/{id}", .managePersons, use: update)
        routes.on(.delete, "/api/employees/{id}", .managePersons, use: delete)
    }

    @Sendable func create(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Created<EmployeeResponse> {
        let body = try await request.decodeJSON(EmployeeInput.self, limit: services.configuration.maxBodySize)
        let employee = try await services.store.createEmployee(
            try Self.row(body, field: ""), companyID: principal.companyID, actor: principal.actor, origin: services.origin(request, context))
        return Created(value: EmployeeResponse(employee: EmployeeView(employee)))
    }

    /// `?include_deleted=true`, `limit` ≤ 500, `cursor` from the previous page.
    @Sendable func list(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> EmployeeList {
        let limit = try request.pageLimit()
        let employees = try await services.store.employees(
            companyID: principal.companyID, includeDeleted: try request.queryFlag("include_deleted") ?? false,
            afterID: try request.queryID("cursor"), limit: limit)
        return EmployeeList(employees: employees.map(EmployeeView.init),
                            nextCursor: Page.nextCursor(count: employees.count, limit: limit, lastID: employees.last?.record.id))
    }

    @Sendable func show(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> EmployeeResponse {
        let id = try context.parameters.id("id", "Employee")
        guard let employee = try await services.store.employee(id: id, companyID: principal.companyID) else { throw ServiceError.employeeNotFound }
        return EmployeeResponse(employee: EmployeeView(employee))
    }

    /// `{name?, timekeeper_id?, external_id? (null clears), resigned?}`; `resigned: true` is the same as DELETE.
    @Sendable func update(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> EmployeeResponse {
        let id = try context.parameters.id("id", "Employee")
        let body = try await request.decodeJSON(EmployeePatch.self, limit: services.configuration.maxBodySize)
        let change = Store.EmployeeChange(
            name: try body.name.map { try Validate.name($0, field: "name") },
            timekeeperID: try body.timekeeperId.map { try Validate.name($0, field: "timekeeper_id", maximum: 64) },
            externalID: try body.externalId.map { try Validate.externalID($0) }, resigned: body.resigned)
        let employee = try await services.directory.updateEmployee(id: id, change: change, principal: principal,
                                                                   origin: services.origin(request, context))
        return EmployeeResponse(employee: EmployeeView(employee))
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Response {
        let id = try context.parameters.id("id", "Employee")
        try await services.directory.deleteEmployee(id: id, principal: principal, origin: services.origin(request, context))
        return Response(status: .noContent)
    }

    /// All rows or none: a bad row is a 400 naming it (`[3].name`, or `line 4` of a CSV).
    @Sendable func importRows(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> ImportEmployeesResponse {
        let data = try await request.bodyData(limit: services.configuration.maxBodySize)
        let isCSV = request.headers[.contentType]?.lowercased().contains("csv") ?? false
        let rows = try isCSV ? Self.csvRows(data) : APIJSON.decode([EmployeeInput].self, from: data).enumerated().map { index, input in
            try Self.row(input, field: "[\(index)].")
        }
        guard !rows.isEmpty else { throw ServiceError.invalidField("employees", "nothing to import") }
        guard rows.count <= Limits.importItems else { throw ServiceError.invalidField("employees", "at most \(Limits.importItems) per request") }
        guard Set(rows.map(\.timekeeperID)).count == rows.count else { throw ServiceError.invalidField("timekeeper_id", "repeated in the import") }
        let (created, updated) = try await services.store.importEmployees(rows, companyID: principal.companyID, actor: principal.actor,
                                                                          origin: services.origin(request, context))
        return ImportEmployeesResponse(created: created, updated: updated, unchanged: rows.count - created - updated)
    }

    static func row(_ input: EmployeeInput, field prefix: String) throws(ServiceError) -> Store.EmployeeRow {
        Store.EmployeeRow(name: try Validate.name(input.name, field: prefix + "name"),
                          timekeeperID: try Validate.name(input.timekeeperId, field: prefix + "timekeeper_id", maximum: 64),
                          externalID: try Validate.externalID(input.externalId))
    }

    static func csvRows(_ data: Data) throws(ServiceError) -> [Store.EmployeeRow] {
        // Bounded before parsing: the parser builds a dictionary per line with an entry per header column.
        guard data.count(where: { $0 == UInt8(ascii: "\n") }) <= Limits.importItems + 2 else {
            throw ServiceError.invalidField("csv", "at most \(Limits.importItems) rows per request")
        }
        guard (data.prefix { $0 != UInt8(ascii: "\n") }).count(where: { $0 == UInt8(ascii: ",") }) < 10 else {
            throw ServiceError.invalidField("csv", "expected the columns name, timekeeper_id and optionally external_id")
        }
        let csv: CSV<Named>
        do {
            csv = try CSV<Named>(string: String(decoding: data, as: UTF8.self), delimiter: .comma, loadColumns: false,
                                 rowLimit: Limits.importItems + 1)
        } catch {
            throw ServiceError.invalidField("csv", "cannot parse the CSV")
        }
        guard csv.header.contains("name"), csv.header.contains("timekeeper_id") else {
            throw ServiceError.invalidField("csv", "expected a header line with name and timekeeper_id (and optionally external_id)")
        }
        var rows: [Store.EmployeeRow] = []
        for (index, fields) in csv.rows.enumerated() {
            let input = EmployeeInput(name: fields["name"] ?? "", timekeeperId: fields["timekeeper_id"] ?? "",
                                      externalId: fields["external_id"].flatMap { $0.isEmpty ? nil : $0 })
            rows.append(try row(input, field: "line \(index + 2): "))
        }
        return rows
    }
}
