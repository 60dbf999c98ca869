import Foundation
import Hummingbird

struct ModelsStatus: ResponseEncodable, Sendable {
    var success = true
    var recognitionModel: String
    var models: [ModelCount]
    /// The last re-embedding job since the server started, if any.
    var migration: MigrationView?
    /// Persons with faces lacking the company model's embedding (absent while a job runs).
    var mustReenroll: ReenrollList?
}

struct ModelCount: Encodable, Sendable {
    var model: String
    var facesWithEmbedding: Int
    var facesWithoutEmbedding: Int
}

struct MigrationView: Encodable, Sendable {
    var model: String
    var state: String
    var embedded: Int
    var withoutPhoto: Int
    var noFace: Int
    var startedAt: String
    var finishedAt: String?

    init(_ progress: ModelMigration.Progress) {
        model = progress.model.rawValue
        state = progress.running ? "running" : "finished"
        embedded = progress.embedded
        withoutPhoto = progress.withoutPhoto
        noFace = progress.noFace
        startedAt = Timestamp.format(progress.startedAt)
        finishedAt = progress.finishedAt.map(Timestamp.format)
    }
}

struct ReenrollList: Encodable, Sendable {
    /// Persons in all; `persons` lists the first 100 by id.
    var count: Int
    var persons: [ReenrollPerson]
}

struct ReenrollPerson: Encodable, Sendable {
    var id: Int64
    var fullName: String
    var externalId: String?
    var facesWithoutEmbedding: Int
}
