import Foundation
import Logging

/// `DELETE /company`: the owner deletes their company, and with it everything it holds, beyond recovery from backups.
///
/// The order makes a crash at any point safe and the shredding come first:
/// 1. the deletion is recorded as begun (`deletedCompanies`, kept for good: that the company existed, when, by whom);
/// 2. the company's secret is destroyed in the key vault: from here no copy of its data key opens, the store's backups
///    included (`KeyRing`);
/// 3. every row of the company goes, in one transaction;
/// 4. its index collections, stored photos and audit head go.
/// A process that stops between 1 and 4 finishes the deletion at its next start (`resume`).
struct CompanyDeletion: Sendable {
    let store: any FaceIDStore
    let keyRing: KeyRing
    let index: IndexService
    let images: any PhotoRepository
    let auditHead: AuditHead
    let auth: Auth
    let clock: ServerClock
    let logger: Logger

    /// What a deletion destroyed.
    struct Report: Sendable {
        var record: DeletedCompanyRecord
        /// Rows removed per table (as they were before).
        var rows: [String: Int]
        var indexCollections: Int
    }

    /// The phrase the owner types: `delete <company name>`.
    static func confirmationPhrase(companyName: String) -> String { "delete \(companyName)" }

    /// Checks the confirmation phrase and the owner's password, then deletes the company.
    func delete(principal: Principal, password: String, confirmation: String, origin: RequestOrigin) async throws -> Report {
        guard let company = try await store.company(principal.companyID) else { throw StoreError.notFound(.company) }
        let phrase = Self.confirmationPhrase(companyName: company.name)
        guard confirmation == phrase else { throw ServiceError.confirmationMismatch(expected: phrase) }
        let user = try await auth.reauthenticate(principal, password: password, origin: origin)
        let record = try await store.beginCompanyDeletion(companyID: principal.companyID, requestedBy: "user:\(user.id!)|\(user.email)",
                                                          at: clock.now)
        return try await finish(record)
    }

    /// Steps 2–4 (each is idempotent).
    func finish(_ record: DeletedCompanyRecord) async throws -> Report {
        if let wrapped = try await store.wrappedKey(companyID: record.id) {
            try await keyRing.shred(companyID: record.id, wrappedKey: wrapped)
        }
        let rows = try await store.eraseCompany(companyID: record.id, at: clock.now)
        let collections = try index.dropCompany(record.id)
        try await images.removeAllPhotos(companyID: record.id)
        auditHead.forget(companyID: record.id)
        var done = record
        done.completedAt = clock.now
        logger.notice("company deleted; its data key is destroyed", metadata: [
            "company_id": "\(record.id)", "requested_by": "\(record.requestedBy)",
            "rows": "\(rows.values.reduce(0, +))", "index_collections": "\(collections)",
        ])
        return Report(record: done, rows: rows, indexCollections: collections)
    }

    /// At start: finishes the deletions a stopped process left half done. Returns how many.
    func resume() async throws -> Int {
        let pending = try await store.deletedCompanies().filter { $0.completedAt == nil }
        for record in pending { _ = try await finish(record) }
        return pending.count
    }
}
