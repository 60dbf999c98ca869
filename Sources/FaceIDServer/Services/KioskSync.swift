import Foundation
import Logging

/// The timekeeper kiosks' contract (`docs/face-sync-api.md`): face registration and deletion, the employee table with
/// encodings, the delta feed with tombstones and cursors, acknowledgements and the propagation report.
///
/// Writes return once the index has applied them. A stored face whose encoding does not open is quarantined (logged,
/// audited, counted in `/readyz`) and the rest is served: one damaged row never fails a kiosk's whole page.
struct KioskSync: Sendable {
    let store: any EmployeeRepository & FeedRepository & PersonRepository & TenancyRepository
    let index: IndexService
    let keyRing: KeyRing
    let limiter: RateLimiter
    let limits: RateLimitConfiguration
    let logger: Logger

    /// An employee as kiosks receive them: the record, the face kiosks sync, and its encoding when faces were asked for.
    struct Employee: Sendable {
        var employee: Store.Employee
        /// The encoding exactly as stored (nil without faces, or when the face was quarantined just now).
        var encoding: [Double]?
    }

    /// One feed entry: an employee's current state, or a tombstone.
    enum Change: Sendable {
        case upsert(Employee)
        case delete(employeeID: Int64)
    }

    /// A page of the feed.
    struct Page: Sendable {
        var changes: [Change]
        var next: SyncCursor
        var hasMore: Bool
        /// A snapshot page's count of active employees when it was read (`X-Total-Count`: a kiosk's progress total without
        /// asking the table, which would count as a second full sync); nil on a delta page.
        var total: Int? = nil
    }

    // MARK: Faces

    /// The path's employee when it is the caller company's: 404 when nobody's (or left), 403 when another company's.
    func ownEmployee(_ id: Int64?, companyID: Int64) async throws -> Int64 {
        guard let id else { throw ServiceError.employeeNotFound }
        switch try await store.ownership(ofEmployee: id, companyID: companyID) {
        case .own: return id
        case .otherCompany: throw ServiceError.otherCompanysEmployee
        case .missing: throw ServiceError.employeeNotFound
        }
    }

    /// Stores a kiosk's encoding as the face of employee `id` (`ownEmployee` gave it), at most
    /// `rateLimit.faceRegistrationsPerMinute` per company in any 60 s. Returns the stored registration time.
    func registerFace(employeeID id: Int64, encoding: [Double], registeredAt: Date?, settings: CompanySettings, principal: Principal,
                      origin: RequestOrigin) async throws -> Date {
        // Only when the company asked for it: otherwise the desktop contract's answers are exactly as before.
        try await Privacy.requireConsent([id], settings: settings, companyID: principal.companyID, store: store)
        if let wait = await limiter.take("face-registrations:\(principal.companyID)",
                                   limit: .atMost(limits.faceRegistrationsPerMinute, per: .seconds(60))) {
            throw ServiceError.rateLimited(retryAfter: wait)
        }
        let registered = try await store.registerKioskFace(
            employeeID: id, companyID: principal.companyID, encoding: encoding, registeredAt: registeredAt, keyRing: keyRing,
            actor: principal.actor, deviceID: principal.deviceID, origin: origin)
        try await index.catchUp(principal.companyID)
        return registered
    }

    /// Deletes every face of the employee; 404 (the contract's "no face data to delete") when there is none.
    func deleteFaces(employeeID: Int64?, principal: Principal, origin: RequestOrigin) async throws -> Int64 {
        let id: Int64
        do {
            id = try await ownEmployee(employeeID, companyID: principal.companyID)
        } catch let error as ServiceError where error.code == .notFound {
            throw ServiceError.noFaceToDelete
        }
        guard try await store.deleteKioskFaces(employeeID: id, companyID: principal.companyID, actor: principal.actor,
                                               deviceID: principal.deviceID, origin: origin) else {
            throw ServiceError.noFaceToDelete
        }
        try await index.catchUp(principal.companyID)
        return id
    }

    // MARK: The employee table

    /// At most `rateLimit.fullSyncsPerHour` full syncs per kiosk (its device, else its credential).
    func limitFullSync(_ principal: Principal) async throws(ServiceError) {
        if let wait = await limiter.take("full-sync:" + principal.rateLimitKey, limit: .atMost(limits.fullSyncsPerHour, per: .seconds(3600))) {
            throw .rateLimited(retryAfter: wait)
        }
    }

    /// Where the feed stands now: deltas from this cursor cover whatever changes while a table is read.
    func head(companyID: Int64) async throws -> SyncCursor {
        .delta(companyID: companyID, seq: try await store.feedHead(companyID: companyID).lastSeq)
    }

    /// Page `page` (from 1) of the active employees by id, and their total.
    func tablePage(companyID: Int64, page: Int, pageSize: Int, includeFaces: Bool) async throws -> (total: Int, employees: [Employee]) {
        let (total, employees) = try await store.timekeeperPage(companyID: companyID, page: page, pageSize: pageSize)
        return (total, try await open(employees, companyID: companyID, includeFaces: includeFaces))
    }

    /// How many active employees the company has.
    func activeCount(companyID: Int64) async throws -> Int {
        try await store.activeEmployeeCount(companyID: companyID)
    }

    /// Up to `limit` active employees after `afterID`, by id (a whole-table answer reads the table in such parts).
    func employees(companyID: Int64, after afterID: Int64?, limit: Int, includeFaces: Bool) async throws -> [Employee] {
        let employees = try await store.employees(companyID: companyID, includeDeleted: false, afterID: afterID, limit: limit)
        return try await open(employees, companyID: companyID, includeFaces: includeFaces)
    }

    // MARK: The feed

    /// Without a cursor: a snapshot of every employee as upserts (paged), then the changes since. An unknown, another
    /// company's or purged cursor is 410 `cursor_expired`.
    func changes(cursor text: String?, limit: Int, principal: Principal) async throws -> Page {
        let companyID = principal.companyID
        let cursor = try text.map { text throws(ServiceError) in
            guard let cursor = SyncCursor(text), cursor.companyID == companyID else { throw .cursorExpired }
            return cursor
        }
        switch cursor {
        case nil:
            try await limitFullSync(principal)
            let head = try await store.feedHead(companyID: companyID)
            return try await snapshot(companyID: companyID, startSeq: head.lastSeq, afterID: nil, limit: limit)
        case .snapshot(_, let startSeq, let afterID)?:
            guard startSeq >= (try await store.feedHead(companyID: companyID)).purgedThrough else { throw ServiceError.cursorExpired }
            return try await snapshot(companyID: companyID, startSeq: startSeq, afterID: afterID, limit: limit)
        case .delta(_, let seq)?:
            let (rows, head) = try await store.employeeChanges(companyID: companyID, after: seq, limit: limit)
            guard seq >= head.purgedThrough, seq <= head.lastSeq else { throw ServiceError.cursorExpired }
            let opened = try await open(rows.compactMap(\.employee), companyID: companyID, includeFaces: true)
            let byID = Dictionary(uniqueKeysWithValues: opened.map { ($0.employee.record.id!, $0) })
            let changes = rows.map { row in byID[row.personID].map(Change.upsert) ?? .delete(employeeID: row.personID) }
            // A short page read the feed to its head (the rows after the last employee row are other faces'): the cursor moves there.
            let next = rows.count < limit ? max(head.lastSeq, seq) : rows.last!.seq
            return Page(changes: changes, next: .delta(companyID: companyID, seq: next), hasMore: next < head.lastSeq)
        }
    }

    private func snapshot(companyID: Int64, startSeq: Int64, afterID: Int64?, limit: Int) async throws -> Page {
        let employees = try await employees(companyID: companyID, after: afterID, limit: limit, includeFaces: true)
        let total = try await store.activeEmployeeCount(companyID: companyID)
        if employees.count == limit, let last = employees.last?.employee.record.id {
            return Page(changes: employees.map(Change.upsert), next: .snapshot(companyID: companyID, startSeq: startSeq, afterID: last),
                        hasMore: true, total: total)
        }
        let head = try await store.feedHead(companyID: companyID)
        return Page(changes: employees.map(Change.upsert), next: .delta(companyID: companyID, seq: startSeq), hasMore: head.lastSeq > startSeq,
                    total: total)
    }

    /// Records that device `deviceID` applied everything up to `cursor`. A kiosk acknowledges for itself (its
    /// `X-Device-Id`); a caller who may manage devices, for any.
    func acknowledge(deviceID: Int64, cursor text: String, principal: Principal) async throws -> (cursor: SyncCursor, at: Date) {
        if !principal.can(.manageDevices) {
            guard let device = principal.deviceID else { throw ServiceError.deviceRequired }
            guard device == deviceID else { throw ServiceError.otherDevice }
        }
        guard let cursor = SyncCursor(text), cursor.companyID == principal.companyID else {
            throw ServiceError.invalidField("cursor", "not a cursor of this company")
        }
        guard case .delta(_, let seq) = cursor else {
            throw ServiceError.invalidField("cursor", "a snapshot is not finished: acknowledge the next_cursor of its last page")
        }
        let device = try await store.acknowledge(deviceID: deviceID, companyID: principal.companyID, seq: seq)
        return (.delta(companyID: principal.companyID, seq: device.ackedSeq ?? seq), device.ackedAt ?? Date())
    }

    /// Which kiosks applied the employee's latest change (a deletion included) and which have not yet.
    struct Propagation: Sendable {
        var employee: Store.Employee
        var latest: SyncCursor
        /// When the latest change was made, microseconds since 1970 (nil once its feed rows were purged).
        var latestAtMicros: Int64?
        /// Every device of the company, with whether it applied the latest change.
        var devices: [(device: DeviceRecord, applied: Bool)]
    }

    func propagation(employeeID: Int64, companyID: Int64) async throws -> Propagation {
        guard let (latest, devices) = try await store.propagation(employeeID: employeeID, companyID: companyID),
              let employee = try await store.employee(id: employeeID, companyID: companyID) else {
            throw ServiceError.employeeNotFound
        }
        return Propagation(
            employee: employee, latest: .delta(companyID: companyID, seq: latest.seq),
            latestAtMicros: latest.atMicros,
            devices: devices.map { ($0, $0.ackedSeq.map { $0 >= latest.seq } ?? false) })
    }

    // MARK: Opening encodings

    /// The employees with their faces' encodings opened (when `includeFaces`). A face that does not open is quarantined
    /// and its employee served without it.
    private func open(_ employees: [Store.Employee], companyID: Int64, includeFaces: Bool) async throws -> [Employee] {
        guard includeFaces, employees.contains(where: { $0.face != nil }) else {
            return employees.map { Employee(employee: $0, encoding: nil) }
        }
        guard let wrappedKey = try await store.wrappedKey(companyID: companyID) else { throw StoreError.notFound(.company) }
        let sealer = try await keyRing.loadSealer(companyID: companyID, wrappedKey: wrappedKey)
        var opened: [Employee] = []
        opened.reserveCapacity(employees.count)
        for var employee in employees {
            guard let face = employee.face else {
                opened.append(Employee(employee: employee, encoding: nil))
                continue
            }
            if let sealedValues = try? sealer.open(face.sealedEncoding, recordID: "face:\(face.id!)"),
               let values = FaceEncoding.doubles(sealedValues) {
                opened.append(Employee(employee: employee, encoding: values))
            } else {
                try await Quarantine(store: store, logger: logger).setAside(faceID: face.id!, companyID: companyID,
                                                                             reason: "the sealed encoding does not open")
                employee.face = nil
                opened.append(Employee(employee: employee, encoding: nil))
            }
        }
        return opened
    }
}

/// Stored faces whose sealed encoding does not open: set aside once (logged at error level, audited
/// `face.quarantine`), then left out of kiosk lists and of the index, and counted in `/readyz`.
struct Quarantine: Sendable {
    let store: any PersonRepository
    let logger: Logger

    func setAside(faceID: Int64, companyID: Int64, reason: String) async throws {
        if try await store.quarantine(faceID: faceID, companyID: companyID, reason: reason) {
            logger.error("a stored face is damaged and was quarantined", metadata: [
                "company_id": "\(companyID)", "face_id": "\(faceID)", "reason": .string(reason),
            ])
        }
    }
}
