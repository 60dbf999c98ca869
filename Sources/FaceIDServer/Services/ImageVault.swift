import Foundation

/// Enrollment photos of companies with `store_images` on: one file per face, `<data>/images/<company>/<face>.sealed`,
/// AES-256-GCM with the company's data key (record id `image:<face>` in the associated data), mode 0600.
///
/// A photo is written inside its face's enrollment transaction (`Store.enroll`) and removed when the face's delete
/// is applied from the change feed (`IndexService`), so every path that deletes a face — the face, its person, a
/// kiosk delete — removes it, and a crash in between is repaired by the replay at start. `sweep` removes photos of
/// faces the store no longer has (a commit that failed after the write, a feed older than its retention, a copy
/// restored over a newer database).
struct ImageVault: PhotoRepository {
    let directory: String

    var fileVault: ImageVault? { self }

    func photo(companyID: Int64, faceID: Int64, sealer: Sealer) async throws -> Data? {
        try read(companyID: companyID, faceID: faceID, sealer: sealer)
    }

    func removePhotos(companyID: Int64, faceIDs: [Int64]) async throws {
        for faceID in faceIDs { remove(companyID: companyID, faceID: faceID) }
    }

    func removeAllPhotos(companyID: Int64) async throws {
        removeAll(companyID: companyID)
    }

    func photoCount(companyID: Int64, faceIDs: [Int64]) async throws -> Int {
        faceIDs.filter { FileManager.default.fileExists(atPath: path(companyID, $0)) }.count
    }

    private func path(_ companyID: Int64, _ faceID: Int64) -> String { "\(directory)/\(companyID)/\(faceID).sealed" }

    func write(_ image: Data, companyID: Int64, faceID: Int64, sealer: Sealer) throws {
        let folder = "\(directory)/\(companyID)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let sealed = try sealer.seal(image, recordID: "image:\(faceID)")
        let temporary = folder + "/.\(faceID).\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: temporary, contents: sealed, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown)
        }
        guard rename(temporary, path(companyID, faceID)) == 0 else {
            unlink(temporary)
            throw CocoaError(.fileWriteUnknown)
        }
    }

    /// The photo, or nil when none was stored.
    func read(companyID: Int64, faceID: Int64, sealer: Sealer) throws -> Data? {
        guard let sealed = FileManager.default.contents(atPath: path(companyID, faceID)) else { return nil }
        return try sealer.open(sealed, recordID: "image:\(faceID)")
    }

    func remove(companyID: Int64, faceID: Int64) {
        unlink(path(companyID, faceID))
    }

    /// Every photo of the company (the company turned `store_images` off).
    func removeAll(companyID: Int64) {
        try? FileManager.default.removeItem(atPath: "\(directory)/\(companyID)")
    }

    /// Removes every stored photo whose face is not in `store`; returns how many.
    func sweepPhotos(_ store: any PersonRepository) async throws -> Int {
        let companies = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var removed = 0
        for company in companies {
            guard let companyID = Int64(company) else { continue }
            let files = (try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/\(company)")) ?? []
            let faceIDs = files.compactMap { $0.hasSuffix(".sealed") ? Int64($0.dropLast(7)) : nil }
            let present = try await store.existingFaces(faceIDs, companyID: companyID)
            for faceID in faceIDs where !present.contains(faceID) {
                remove(companyID: companyID, faceID: faceID)
                removed += 1
            }
            for file in files where file.hasPrefix(".") { unlink("\(directory)/\(company)/\(file)") }  // interrupted writes
        }
        return removed
    }
}
