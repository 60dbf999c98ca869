import Foundation
import Hummingbird

/// `POST /persons`, `GET /persons`, `GET /persons/{id}`, `PATCH /persons/{id}`, `DELETE /persons/{id}`,
/// and `POST /groups`, `GET /groups`, `DELETE /groups/{id}`. Membership is a person's `groups` (by name).
struct PersonsController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.post, "/persons", .managePersons, use: create)
        routes.on(.get, "/persons", .readPersons, use: list)
        routes.on(.get, "/persons/{id}", .readPersons, use: show)
        routes.on(.patch, "/persons/{id}", .managePersons, use: update)
        routes.on(.delete, "/persons/{id}", .managePersons, use: delete)
        routes.on(.post, "/groups", .manageGroups, use: createGroup)
        routes.on(.get, "/groups", .readPersons, use: listGroups)
        routes.on(.delete, "/groups/{id}", .manageGroups, use: deleteGroup)
    }

    @Sendable func create(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Created<PersonResponse> {
        let body = try await request.decodeJSON(CreatePersonRequest.self, limit: services.configuration.maxBodySize)
        let now = Date()
        let record = PersonRecord(
            id: nil, companyID: principal.companyID, externalID: try Validate.externalID(body.externalId),
            fullName: try Validate.name(body.fullName, field: "full_name"), tags: PersonRecord.encodeTags(try Validate.tags(body.tags ?? [])),
            metadata: try Validate.metadata(body.metadata ?? [:]), createdAt: now, updatedAt: now)
        let groups = try (body.groups ?? []).map { try Validate.name($0, field: "groups", maximum: 100) }
        let person = try await services.store.createPerson(record, groups: groups, actor: principal.actor,
                                                           origin: services.origin(request, context))
        return Created(value: PersonResponse(person: PersonView(person)))
    }

    @Sendable func list(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> PersonPage {
        let limit = try request.pageLimit()
        let filter = Store.PersonFilter(
            group: request.query("group"), tag: request.query("tag"),
            externalID: request.query("external_id"), name: request.query("name"),
            afterID: try request.queryID("cursor"), limit: limit)
        let persons = try await services.store.persons(companyID: principal.companyID, filter: filter)
        return PersonPage(persons: persons.map(PersonView.init),
                          nextCursor: Page.nextCursor(count: persons.count, limit: limit, lastID: persons.last?.record.id))
    }

    @Sendable func show(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> PersonResponse {
        let id = try context.parameters.id("id", "Person")
        guard let person = try await services.store.person(id: id, companyID: principal.companyID) else { throw ServiceError.notFound("Person") }
        return PersonResponse(person: PersonView(person))
    }

    @Sendable func update(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> PersonResponse {
        let id = try context.parameters.id("id", "Person")
        let body = try await request.decodeJSON(UpdatePersonRequest.self, limit: services.configuration.maxBodySize)
        var change = Store.PersonChange()
        if let externalID = body.externalId { change.externalID = .some(try Validate.externalID(externalID)) }
        if let name = body.fullName { change.fullName = try Validate.name(name, field: "full_name") }
        if let tags = body.tags { change.tags = try Validate.tags(tags) }
        if let groups = body.groups { change.groups = try groups.map { try Validate.name($0, field: "groups", maximum: 100) } }
        if let metadata = body.metadata { change.metadata = try Validate.metadata(metadata) }
        let person = try await services.store.updatePerson(
            id: id, companyID: principal.companyID, change: change, actor: principal.actor, origin: services.origin(request, context))
        return PersonResponse(person: PersonView(person))
    }

    /// Deletes the person and answers what was destroyed (the erasure proof) and which kiosks have applied it so far.
    @Sendable func delete(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> ErasureResponse {
        let id = try context.parameters.id("id", "Person")
        return ErasureResponse(personId: id, try await services.directory.deletePerson(id: id, principal: principal,
                                                                                       origin: services.origin(request, context)))
    }

    @Sendable func createGroup(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Created<GroupResponse> {
        let body = try await request.decodeJSON(CreateGroupRequest.self, limit: services.configuration.maxBodySize)
        let record = GroupRecord(
            id: nil, companyID: principal.companyID, name: try Validate.name(body.name, field: "name", maximum: 100),
            description: try Validate.optionalName(body.description, field: "description") ?? "", createdAt: Date())
        let group = try await services.store.createGroup(record, actor: principal.actor, origin: services.origin(request, context))
        return Created(value: GroupResponse(group: GroupView(group, personCount: 0)))
    }

    @Sendable func listGroups(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> GroupList {
        GroupList(groups: try await services.store.groups(companyID: principal.companyID).map { GroupView($0.0, personCount: $0.1) })
    }

    @Sendable func deleteGroup(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> Response {
        let id = try context.parameters.id("id", "Group")
        try await services.store.deleteGroup(id: id, companyID: principal.companyID, actor: principal.actor,
                                             origin: services.origin(request, context))
        return Response(status: .noContent)
    }
}
