import Foundation

/// Persons, groups and employees (persons with a timekeeper id). Whatever removes faces — deleting a person, an employee
/// leaving — returns once the index has dropped them, so a search never finds a face whose deletion was answered.
struct Directory: Sendable {
    let store: any PersonRepository & EmployeeRepository & TenancyRepository & LogRepository
    let index: IndexService
    let keyRing: KeyRing

    /// A face's encoding exactly as stored, for the desktop app or an admin key (the caller checked that); the read is
    /// audited (`face.encoding_read`).
    func encoding(ofFace face: FaceRecord, principal: Principal, origin: RequestOrigin) async throws -> [Double] {
        guard let wrappedKey = try await store.wrappedKey(companyID: principal.companyID),
              let encoding = FaceEncoding.doubles(try keyRing.sealer(companyID: principal.companyID, wrappedKey: wrappedKey)
                  .open(face.sealedEncoding, recordID: "face:\(face.id!)")) else {
            throw ServiceError.serverFault("face encoding cannot be opened")
        }
        try await store.audit(AuditEvent(action: "face.encoding_read", actor: principal.actor, target: "face:\(face.id!)", origin: origin),
                              companyID: principal.companyID)
        return encoding
    }

    /// The enrollment photo of a face, when the company keeps them; the read is audited (`face.image_read`).
    func photo(ofFace id: Int64, principal: Principal, origin: RequestOrigin) async throws -> Data {
        guard try await store.face(id: id, companyID: principal.companyID) != nil else { throw StoreError.notFound(.face) }
        guard let wrappedKey = try await store.wrappedKey(companyID: principal.companyID),
              let image = try await index.images.photo(companyID: principal.companyID, faceID: id,
                                                       sealer: try keyRing.sealer(companyID: principal.companyID, wrappedKey: wrappedKey)) else {
            throw ServiceError.imageNotStored
        }
        try await store.audit(AuditEvent(action: "face.image_read", actor: principal.actor, target: "face:\(id)", origin: origin),
                              companyID: principal.companyID)
        return image
    }

    /// Deletes a person, their memberships and their faces.
    func deletePerson(id: Int64, principal: Principal, origin: RequestOrigin) async throws {
        try await store.deletePerson(id: id, companyID: principal.companyID, actor: principal.actor, origin: origin)
        try await index.catchUp(principal.companyID)
    }

    /// Applies an HR change; `resigned: true` removes the employee's faces (the record stays, for payroll).
    func updateEmployee(id: Int64, change: Store.EmployeeChange, principal: Principal, origin: RequestOrigin) async throws -> Store.Employee {
        let employee = try await store.updateEmployee(id: id, companyID: principal.companyID, change: change, actor: principal.actor,
                                                      origin: origin)
        try await index.catchUp(principal.companyID)
        return employee
    }

    /// The employee leaves: the record stays (payroll), the faces leave the store, the index and — as a tombstone — every kiosk.
    func deleteEmployee(id: Int64, principal: Principal, origin: RequestOrigin) async throws {
        try await store.deleteEmployee(id: id, companyID: principal.companyID, actor: principal.actor, origin: origin)
        try await index.catchUp(principal.companyID)
    }
}
