import Foundation
import Logging
import Synchronization

/// Switching a company's recognition model: the stored enrollment photos (`store_images`) of every face without an
/// embedding of the new model are run through it in the background, the embedding stored with a feed row, and the
/// index follows. `GET /models/status` reports the progress; faces without a stored photo are listed there as the
/// persons who must re-enroll (until then a photo search still finds them with their own model).
///
/// One job per company. A job stops when the company's model changes again (a new job starts for the new model) and at
/// shutdown; `resumeAll` at start finishes what a restart interrupted.
final class ModelMigration: Sendable {
    /// What a company's last job did.
    struct Progress: Sendable {
        var model: RecognitionModel
        var running: Bool
        /// Faces that received the model's embedding.
        var embedded = 0
        /// Faces without a stored photo: their persons must re-enroll.
        var withoutPhoto = 0
        /// Faces whose stored photo shows no face to the model's detector.
        var noFace = 0
        var startedAt = Date()
        var finishedAt: Date?
    }

    private struct Job {
        /// Which start made it: a cancelled job's last updates must not land on the one that replaced it.
        var token: UInt64
        var progress: Progress
        var task: Task<Void, Never>?
    }

    private let jobs = Mutex<[Int64: Job]>([:])
    private let tokens = Atomic<UInt64>(0)
    private let store: any TenancyRepository & PersonRepository
    private let index: IndexService
    private let faces: FaceEngineProvider
    private let keyRing: KeyRing
    private let defaults: CompanySettings
    private let logger: Logger
    static let batchSize = 100

    init(store: any TenancyRepository & PersonRepository, index: IndexService, faces: FaceEngineProvider, keyRing: KeyRing, defaults: CompanySettings, logger: Logger) {
        self.store = store
        self.index = index
        self.faces = faces
        self.keyRing = keyRing
        self.defaults = defaults
        self.logger = logger
    }

    func progress(companyID: Int64) -> Progress? {
        jobs.withLock { $0[companyID]?.progress }
    }

    /// Starts (or restarts) the company's job for `model`. Nothing is started when the company keeps no photos.
    func start(companyID: Int64, model: RecognitionModel) {
        let token = tokens.add(1, ordering: .relaxed).newValue
        jobs.withLock { jobs in
            jobs[companyID]?.task?.cancel()
            var job = Job(token: token, progress: Progress(model: model, running: true))
            job.task = Task { [self] in
                await run(companyID: companyID, model: model, token: token)
            }
            jobs[companyID] = job
        }
    }

    /// Waits for the company's job (tests).
    func wait(companyID: Int64) async {
        await jobs.withLock { $0[companyID]?.task }?.value
    }

    /// Stops every job (at shutdown, before the store closes).
    func shutdown() async {
        let tasks = jobs.withLock { jobs in jobs.values.compactMap(\.task) }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    /// At start: a job for every company whose stored photos lack its model's embedding.
    func resumeAll() async throws {
        for (companyID, settings) in try await store.companySettings(fallback: defaults) where settings.storeImages {
            if try await !store.facesLacking(settings.model, companyID: companyID, afterID: 0, limit: 1).isEmpty {
                start(companyID: companyID, model: settings.model)
            }
        }
    }

    /// The largest face's embedding; nil when the photo shows no face to the model (or no longer decodes).
    /// - Throws: 503 `models_unavailable`: the job stops and resumes at the next start. Any other failure of one photo
    ///   (a 4xx, or an engine fault on that photo) counts as no face.
    private static func embedding(_ image: Data, model: RecognitionModel, faces: FaceEngineProvider) async throws -> [Float]? {
        let analysis: PhotoAnalysis
        do {
            analysis = try await faces.analyze(image, model: model)
        } catch {
            if error.code == .modelsUnavailable { throw error }
            return nil
        }
        return analysis.largestFace?.embeddings[model]
    }

    private func update(_ companyID: Int64, _ token: UInt64, _ change: (inout Progress) -> Void) {
        jobs.withLock { jobs in
            if var job = jobs[companyID], job.token == token {
                change(&job.progress)
                jobs[companyID] = job
            }
        }
    }

    private func run(companyID: Int64, model: RecognitionModel, token: UInt64) async {
        var afterID: Int64 = 0
        do {
            while !Task.isCancelled {
                guard let wrappedKey = try await store.wrappedKey(companyID: companyID),
                      let company = try await store.companySettings(companyID: companyID, fallback: defaults),
                      company.model == model else { break }
                let sealer = try await keyRing.loadSealer(companyID: companyID, wrappedKey: wrappedKey)
                let batch = try await store.facesLacking(model, companyID: companyID, afterID: afterID, limit: Self.batchSize)
                guard let last = batch.last else { break }
                for face in batch {
                    try Task.checkCancellation()
                    // A photo that no longer opens is counted and skipped, not the end of the job.
                    let stored: Data?
                    do {
                        stored = try await index.images.photo(companyID: companyID, faceID: face.faceID, sealer: sealer)
                    } catch {
                        logger.error("a stored photo does not open", metadata: ["face": .stringConvertible(face.faceID)])
                        update(companyID, token) { $0.noFace += 1 }
                        continue
                    }
                    guard let image = stored else {
                        update(companyID, token) { $0.withoutPhoto += 1 }
                        continue
                    }
                    // The photo was enrolled with one face chosen (the only one, or the largest): the largest again.
                    guard let vector = try await Self.embedding(image, model: model, faces: faces) else {
                        update(companyID, token) { $0.noFace += 1 }
                        continue
                    }
                    if try await store.addEmbedding(faceID: face.faceID, companyID: companyID, model: model, vector: vector,
                                                             keyRing: keyRing) {
                        update(companyID, token) { $0.embedded += 1 }
                    }
                }
                try await index.catchUp(companyID)
                afterID = last.faceID
            }
        } catch is CancellationError {
        } catch {
            logger.error("re-embedding the stored photos stopped; it resumes at the next start", metadata: [
                "company": .stringConvertible(companyID), "model": .string(model.rawValue), "reason": .string(String(describing: error)),
            ])
        }
        update(companyID, token) { progress in
            progress.running = false
            progress.finishedAt = Date()
        }
        guard let progress = jobs.withLock({ $0[companyID] }).flatMap({ $0.token == token ? $0.progress : nil }) else { return }
        var metadata: Logger.Metadata = ["company": .stringConvertible(companyID), "model": .string(model.rawValue)]
        metadata["embedded"] = .stringConvertible(progress.embedded)
        metadata["withoutPhoto"] = .stringConvertible(progress.withoutPhoto)
        metadata["noFace"] = .stringConvertible(progress.noFace)
        logger.notice("re-embedding the stored photos finished", metadata: metadata)
    }
}
