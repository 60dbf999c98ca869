import FaceEngine
import Foundation
import VectorIndex

/// Faces in and out: photo enrollment (the quality gate, the duplicate guard, person creation), imports of
/// precomputed encodings, and face removal. Every write returns once the index has applied it, so a face is searchable
/// (or gone) when the caller gets the answer.
struct Enrollment: Sendable {
    let store: any PersonRepository
    let index: IndexService
    let faces: FaceEngineProvider
    let keyRing: KeyRing
    let recognition: Recognition
    /// The settings of a company whose row holds none.
    let defaults: CompanySettings

    /// Whose face a photo is.
    enum Subject: Sendable {
        case existing(personID: Int64)
        /// A person created with the face, in `groups` (by name).
        case new(PersonRecord, groups: [String])
    }

    /// One photo enrollment.
    struct Photo: Sendable {
        var image: Data
        var subject: Subject
        var reference: Bool
        /// Enroll the largest face of a photo showing several (else 422 `multiple_faces`).
        var selectLargest: Bool
        /// Skip the duplicate guard; honoured for owners, admins and callers who may manage settings.
        var allowDuplicate: Bool
    }

    /// Enrolls the photo's subject under the company's model; every model's embedding of the face is stored.
    /// - Returns: the person, the stored face and the face as found (box, quality, embeddings).
    func enroll(_ photo: Photo, settings: CompanySettings, principal: Principal, origin: RequestOrigin) async throws
        -> (person: Store.Person, face: FaceRecord, found: PhotoFace) {
        let face = try await check(photo, settings: settings, principal: principal)
        var personID: Int64?
        var newPerson: PersonRecord?
        var groups: [String] = []
        switch photo.subject {
        case .existing(let id): personID = id
        case .new(let record, let names): (newPerson, groups) = (record, names)
        }
        let (person, record) = try await store.enroll(
            companyID: principal.companyID, embeddings: face.embeddings, personID: personID, newPerson: newPerson, groups: groups,
            reference: photo.reference, keyRing: keyRing,
            photo: Store.KeptPhoto(data: photo.image, vault: index.images.fileVault, fallback: defaults),
            actor: principal.actor, origin: origin)
        try await index.catchUp(principal.companyID)
        return (person, record, face)
    }

    /// Everything an enrollment checks before it stores: the person exists, the photo shows one face passing the quality
    /// gate, and the duplicate guard lets it in. A dry run stops here.
    /// - Returns: the face as found (box, quality, every model's embedding).
    func check(_ photo: Photo, settings: CompanySettings, principal: Principal) async throws -> PhotoFace {
        if case .existing(let personID) = photo.subject {
            // A missing person is a 404 before any photo work (and before the duplicate guard could answer 409).
            guard try await store.person(id: personID, companyID: principal.companyID) != nil else { throw StoreError.notFound(.person) }
            try await Privacy.requireConsent([personID], settings: settings, companyID: principal.companyID, store: store)
        } else {
            try await Privacy.requireConsent([nil], settings: settings, companyID: principal.companyID, store: store)
        }
        let analysis = try await faces.analyze(photo.image, model: settings.model, also: Set(RecognitionModel.allCases))
        let face = try Self.select(analysis, largest: photo.selectLargest)
        let mayOverride = principal.role == .owner || principal.role == .admin || principal.can(.manageSettings)
        if !(photo.allowDuplicate && mayOverride) {
            try await duplicateGuard(face, subject: photo.subject, settings: settings, companyID: principal.companyID)
        }
        return face
    }

    /// The face to enroll, or 422 with the quality gate's reason.
    ///
    /// The photo's subject is its largest face. Another face makes the photo ambiguous (`multiple_faces`) when it is at
    /// least two thirds of the subject's size (shorter sides) and lies wholly inside the frame, not touching its edge: a
    /// bystander further back, or one the frame cuts — which YuNet finds in many LFW photos (Tony_Blair_0001: a 60-px
    /// face at the left edge beside the 92-px subject) and HOG mostly misses — does not.
    static func select(_ analysis: PhotoAnalysis, largest: Bool) throws(ServiceError) -> PhotoFace {
        guard let face = analysis.largestFace else { throw .noFace }
        let side = min(face.box.width, face.box.height)
        let subjects = 1 + analysis.faces.filter { other in
            other.box != face.box && 3 * min(other.box.width, other.box.height) >= 2 * side && other.quality.borderMargin > 0
        }.count
        if subjects > 1 && !largest { throw .multipleFaces(subjects) }
        if let reason = face.quality.reasons.first(where: { $0 != .multipleFaces }) { throw .poorQuality(reason, face.quality) }
        return face
    }

    /// 409 `duplicate_face` when the nearest face of another person is within the model's duplicate distance: the
    /// company's setting for its model, each other model's default for the faces only that model finds.
    private func duplicateGuard(_ face: PhotoFace, subject: Subject, settings: CompanySettings, companyID: Int64) async throws {
        try await index.catchUp(companyID)
        var nearest: [SearchResult] = []
        for model in RecognitionModel.allCases {
            guard let vector = face.embeddings[model] else { continue }
            let found: [SearchResult]
            let limit: Double
            if model == settings.model {
                found = try index.search(companyID, .all(model), encoding: vector, k: 5)
                limit = settings.duplicateDistance
            } else {
                found = try await recognition.searchOnly(model, companyID: companyID, vector: vector, k: 5, allow: nil)
                limit = model.defaultDuplicateDistance
            }
            nearest += found.filter { Double($0.distance) <= limit }
        }
        guard !nearest.isEmpty else { return }
        var ownPersonID: Int64?
        if case .existing(let id) = subject { ownPersonID = id }
        let owners = try await store.persons(ofFaces: nearest.map { Int64($0.id) }, companyID: companyID)
        if let hit = nearest.first(where: { owners[Int64($0.id)].map { $0.record.id != ownPersonID } ?? false }),
           let other = owners[Int64(hit.id)] {
            throw ServiceError.duplicateFace(personID: other.record.id!, fullName: other.record.fullName,
                                             distance: Recognition.rounded(hit.distance))
        }
    }

    /// Adds precomputed encodings (validated), all or nothing; searchable on return.
    func importFaces(_ faces: [Store.NewFace], settings: CompanySettings, principal: Principal, origin: RequestOrigin) async throws
        -> [FaceRecord] {
        if settings.requireConsent {
            // The persons the import names that exist (an unknown id stays the store's 404); an external id that names
            // nobody creates a person, who cannot have consented yet.
            var persons: [Int64?] = []
            for reference in Set(faces.map(\.person)) {
                switch reference {
                case .id(let id):
                    if try await store.person(id: id, companyID: principal.companyID) != nil { persons.append(id) }
                case .external(let externalID, _):
                    let found = try await store.persons(companyID: principal.companyID,
                                                        filter: Store.PersonFilter(externalID: externalID, limit: 1))
                    persons.append(found.first?.record.id)
                }
            }
            try await Privacy.requireConsent(persons, settings: settings, companyID: principal.companyID, store: store)
        }
        let added = try await store.addFaces(faces, companyID: principal.companyID, source: "import", reference: false, keyRing: keyRing,
                                             actor: principal.actor, origin: origin)
        try await index.catchUp(principal.companyID)
        return added
    }

    /// Deletes a face (audited); gone from the index on return.
    func deleteFace(id: Int64, principal: Principal, origin: RequestOrigin) async throws {
        try await store.deleteFace(id: id, companyID: principal.companyID, actor: principal.actor, origin: origin)
        try await index.catchUp(principal.companyID)
    }
}
