import Foundation
import PostgresNIO

/// Enrollment photos on PostgreSQL (`face_photos`, written in the enrollment's transaction): read by any node, deleted with
/// their face by the foreign key's cascade, so there is nothing to sweep.
extension PostgresStore: PhotoRepository {
    var fileVault: ImageVault? { nil }

    func photo(companyID: Int64, faceID: Int64, sealer: Sealer) async throws -> Data? {
        guard let sealed = try await fetch(
            "SELECT sealed FROM face_photos WHERE face_id = \(faceID) AND company_id = \(companyID)", logger: logger
        ).decode(Data.self).elements().first else { return nil }
        return try sealer.open(sealed, recordID: "image:\(faceID)")
    }

    /// The faces' deletes already took their photos (ON DELETE CASCADE); a photo dropped on its own (a test's) goes here.
    func removePhotos(companyID: Int64, faceIDs: [Int64]) async throws {
        guard !faceIDs.isEmpty else { return }
        _ = try await fetch("DELETE FROM face_photos WHERE company_id = \(companyID) AND face_id = ANY(\(faceIDs))", logger: logger)
    }

    func removeAllPhotos(companyID: Int64) async throws {
        _ = try await fetch("DELETE FROM face_photos WHERE company_id = \(companyID)", logger: logger)
    }

    func sweepPhotos(_ store: any PersonRepository) async throws -> Int { 0 }

    func photoCount(companyID: Int64, faceIDs: [Int64]) async throws -> Int {
        guard !faceIDs.isEmpty else { return 0 }
        return Int(try await fetch("SELECT count(*) FROM face_photos WHERE company_id = \(companyID) AND face_id = ANY(\(faceIDs))",
                                   logger: logger).decode(Int64.self).elements().first ?? 0)
    }
}
