import Foundation
import Hummingbird

struct ConsentRequest: Decodable {
    /// RFC 3339 or Unix seconds.
    var obtainedAt: String
    /// `written` or `electronic`.
    var method: String
    var documentVersion: String
}

struct ConsentView: Encodable, Sendable {
    var obtainedAt: String
    var method: String
    var documentVersion: String
    var recordedBy: String
    var recordedAt: String

    init(_ record: ConsentRecord) {
        obtainedAt = Timestamp.format(record.obtainedAt)
        method = record.method
        documentVersion = record.documentVersion
        recordedBy = record.recordedBy
        recordedAt = Timestamp.format(record.recordedAt)
    }
}

struct ConsentResponse: ResponseEncodable, Sendable {
    var success = true
    var personId: Int64
    /// Absent: no consent recorded.
    var consent: ConsentView?
}

/// `GET /persons/{id}/export`: one document with everything about the person; faces' metadata only, never an embedding.
struct PersonExport: ResponseEncodable, Sendable {
    var success = true
    var exportedAt: String
    var person: PersonView
    var consent: ConsentView?
    var faces: [FaceView]
    /// Every search that matched or came nearest to the person, newest first.
    var accessLog: [AccessEntryView]
    /// Every audit event about the person or one of their current faces, oldest first.
    var audit: [AuditEventView]

    init(_ export: Privacy.Export, at: Date) {
        exportedAt = Timestamp.format(at)
        person = PersonView(export.person)
        consent = export.consent.map(ConsentView.init)
        faces = export.faces.map(FaceView.init)
        accessLog = export.accessLog.map(AccessEntryView.init)
        audit = export.audit.map(AuditEventView.init)
    }
}

/// `DELETE /persons/{id}`: what was destroyed, what remains of it (zeros: checked after the deletion), and the kiosks.
struct ErasureResponse: ResponseEncodable, Sendable {
    struct Kiosks: Encodable, Sendable {
        /// The kiosk feed position that carries the deletion; `GET /devices` shows each kiosk's `acknowledged` position.
        var feedPosition: Int64
        var applied: [Int64]
        var pending: [Int64]
    }

    var success = true
    var personId: Int64
    var destroyed: Directory.Erasure.Counts
    var remaining: Directory.Erasure.Counts
    var kiosks: Kiosks

    init(personId: Int64, _ erasure: Directory.Erasure) {
        self.personId = personId
        (destroyed, remaining) = (erasure.destroyed, erasure.remaining)
        kiosks = Kiosks(feedPosition: erasure.feedPosition, applied: erasure.kiosksApplied.map { $0.id! },
                        pending: erasure.kiosksPending.map { $0.id! })
    }
}

/// `GET /privacy/retention`: the schedule, in words and numbers, and what it destroys within 30 days.
struct RetentionResponse: ResponseEncodable, Sendable {
    struct DuePerson: Encodable, Sendable {
        var id: Int64
        var fullName: String
        var externalId: String?
        var timekeeperId: String?
        var faces: Int
        var lastInteractionAt: String
        var destroyOn: String
    }

    var success = true
    var biometricRetentionDays: Int
    var schedule: String
    var dueWithin30Days: Int
    var persons: [DuePerson]

    enum CodingKeys: String, CodingKey {
        case success, biometricRetentionDays, schedule, persons
        case dueWithin30Days = "due_within_30_days"
    }

    init(days: Int, due: (count: Int, persons: [Store.IdlePerson])) {
        biometricRetentionDays = days
        schedule = """
            A person's faces and stored photos are destroyed \(days) days after their last interaction (an enrollment, a kiosk \
            upload or a search that matched them), checked daily; kiosks receive the deletion through the sync feed. An \
            employee who resigns or is deleted loses them at once.
            """
        dueWithin30Days = due.count
        persons = due.persons.map { person in
            DuePerson(id: person.id, fullName: person.fullName, externalId: person.externalID, timekeeperId: person.timekeeperID,
                      faces: person.faces, lastInteractionAt: Timestamp.format(person.lastSeen),
                      destroyOn: Timestamp.format(person.lastSeen.addingTimeInterval(Double(days) * 86_400)))
        }
    }
}

/// `DELETE /company`.
struct DeleteCompanyRequest: Decodable {
    /// The signed-in owner's password, asked again.
    var password: String
    /// `delete <company name>`, exactly.
    var confirmation: String
}

/// What a company's deletion destroyed.
struct CompanyDeletionResponse: ResponseEncodable, Sendable {
    var success = true
    var companyId: Int64
    var deletedAt: String
    /// Always `destroyed`: the company's secret is gone from the key vault, so no copy of its data key opens any more.
    var dataKey = "destroyed"
    /// Rows removed per table, as they were before.
    var rowsDeleted: [String: Int]
    var indexCollections: Int

    init(_ report: CompanyDeletion.Report) {
        companyId = report.record.id
        deletedAt = Timestamp.format(report.record.completedAt ?? report.record.requestedAt)
        rowsDeleted = report.rows
        indexCollections = report.indexCollections
    }
}
