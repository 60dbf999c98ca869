import Foundation
import Hummingbird

/// `GET /models/status`: the company's recognition model, how many faces carry each model's embedding, the progress of
/// re-embedding the stored photos after a switch, and who must re-enroll.
struct ModelsController {
    let services: AppServices

    func addRoutes(to routes: inout ProtectedRoutes) {
        routes.on(.get, "/models/status", .readSettings, use: status)
    }

    @Sendable func status(_ request: Request, context: AppRequestContext, principal: Principal) async throws -> ModelsStatus {
        let settings = context.companySettings ?? services.defaultSettings
        let counts = try await services.store.embeddingCounts(companyID: principal.companyID)
        let migration = services.migration.progress(companyID: principal.companyID)
        let running = migration.map { $0.running && $0.model == settings.model } ?? false
        // While the stored photos are re-embedded the list would name persons about to be done: it is given once finished.
        let lacking = running ? nil : try await services.store.personsLacking(settings.model, companyID: principal.companyID, limit: 100)
        var models: [ModelCount] = []
        for model in RecognitionModel.allCases {
            let with = counts.with[model] ?? 0
            models.append(ModelCount(model: model.rawValue, facesWithEmbedding: with, facesWithoutEmbedding: counts.faces - with))
        }
        var reenroll: ReenrollList?
        if let lacking {
            var persons: [ReenrollPerson] = []
            for (person, faces) in lacking.persons {
                persons.append(ReenrollPerson(id: person.id!, fullName: person.fullName, externalId: person.externalID,
                                              facesWithoutEmbedding: faces))
            }
            reenroll = ReenrollList(count: lacking.count, persons: persons)
        }
        return ModelsStatus(recognitionModel: settings.recognitionModel, models: models,
                            migration: migration.map { MigrationView($0) }, mustReenroll: reenroll)
    }
}
