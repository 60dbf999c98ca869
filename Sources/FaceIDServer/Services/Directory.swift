import Foundation

/// Persons, groups and employees (persons with a timekeeper id). Whatever removes faces — deleting a person, an employee
/// leaving — returns once the index has dropped them, so a search never finds a face whose deletion was answered.
struct Directory: Sendable {
    let store: any PersonRepository & EmployeeRepository & TenancyRepository & LogRepository & FeedRepository
    let index: IndexService
    let keyRing: KeyRing

    /// A face's encoding exactly as stored, for the desktop app or an admin key (the caller checked that); the read is
    /// audited (`face.encoding_read`).
    func encoding(ofFace face: FaceRecord, principal: Principal, origin: RequestOrigin) async throws -> [Double] {
        guard let wrappedKey = try await store.wrappedKey(companyID: principal.companyID),
              let encoding = FaceEncoding.doubles(try await keyRing.loadSealer(companyID: principal.companyID, wrappedKey: wrappedKey)
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
                                                       sealer: try await keyRing.loadSealer(companyID: principal.companyID, wrappedKey: wrappedKey)) else {
            throw ServiceError.imageNotStored
        }
        try await store.audit(AuditEvent(action: "face.image_read", actor: principal.actor, target: "face:\(id)", origin: origin),
                              companyID: principal.companyID)
        return image
    }

    /// What deleting a person destroyed, counted before and checked after (every count of `remaining` is 0 when the
    /// answer is given), and how far kiosks have come: a kiosk whose acknowledgement reaches `feedPosition` has applied it.
    struct Erasure: Sendable {
        /// Of a set of faces: how many the store, the photo folder and this node's index hold.
        struct Counts: Encodable, Sendable, Equatable {
            var faces: Int
            var photos: Int
            var indexEntries: Int
        }

        var destroyed: Counts
        var remaining: Counts
        var feedPosition: Int64
        var kiosksApplied: [DeviceRecord]
        var kiosksPending: [DeviceRecord]
    }

    /// Deletes a person, their memberships, consent and faces — the faces' photos and index entries with them (the
    /// index applies the feed's deletes before this returns) — and reports what went.
    func deletePerson(id: Int64, principal: Principal, origin: RequestOrigin) async throws -> Erasure {
        let companyID = principal.companyID
        guard let faceIDs = try await store.faces(personID: id, companyID: companyID)?.map({ $0.id! }) else {
            throw StoreError.notFound(.person)
        }
        let destroyed = try await counts(faceIDs, companyID: companyID)
        try await store.deletePerson(id: id, companyID: companyID, actor: principal.actor, origin: origin)
        try await index.catchUp(companyID)
        let position = try await store.feedHead(companyID: companyID).lastSeq
        let devices = try await store.devices(companyID: companyID)
        return Erasure(destroyed: destroyed, remaining: try await counts(faceIDs, companyID: companyID), feedPosition: position,
                       kiosksApplied: devices.filter { ($0.ackedSeq ?? 0) >= position },
                       kiosksPending: devices.filter { ($0.ackedSeq ?? 0) < position })
    }

    /// How many of `faceIDs` the store, the photo folder and this node's index hold.
    private func counts(_ faceIDs: [Int64], companyID: Int64) async throws -> Erasure.Counts {
        Erasure.Counts(faces: try await store.existingFaces(faceIDs, companyID: companyID).count,
                       photos: try await index.images.photoCount(companyID: companyID, faceIDs: faceIDs),
                       indexEntries: try index.entries(companyID, faceIDs: faceIDs))
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
