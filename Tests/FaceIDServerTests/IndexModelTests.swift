import Foundation
import Testing
import VectorIndex

@testable import FaceIDServer

/// "No node trains alone": past `index.trainAt` one node trains a collection's IVF-PQ model and publishes it through the
/// feed; every node installs it, so copies answer alike. Runs on both engines (`FACEID_TEST_ENGINE`).
@Suite struct IndexModelTests {
    static let threshold = 1000

    /// Seeded unit-scale encodings, clustered like faces (people with a few photos each).
    static func encodings(_ count: Int, seed: UInt64) -> [[Float]] {
        var rng = SplitMix64(seed: seed)
        let centres = (0..<max(1, count / 4)).map { _ in (0..<128).map { _ in Float(rng.gaussian() * 0.09) } }
        return (0..<count).map { i in centres[i % centres.count].map { $0 + Float(rng.gaussian() * 0.02) } }
    }

    static func add(_ encodings: [[Float]], from start: Int, to server: TestServer, companyID: Int64) async throws -> [FaceRecord] {
        try await server.services.store.addFaces(
            encodings.enumerated().map { i, e in Store.NewFace(person: .external("E\(start + i)", fullName: "P\(start + i)"), encoding: e) },
            companyID: companyID, source: "import", reference: false, keyRing: server.services.keyRing, actor: "test", origin: .unknown)
    }

    /// Another node's index on the same store: its own folder and name.
    static func node(_ name: String, of server: TestServer) throws -> IndexService {
        try IndexService(directory: server.directory.appendingPathComponent("index-\(name)").path, store: server.services.store,
                         keyRing: server.services.keyRing, images: server.services.index.images, node: name,
                         trainingThreshold: threshold)
    }

    /// Catches every node up until each has installed the published models of the spaces past the threshold.
    static func waitForModels(_ nodes: [IndexService], companyID: Int64) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            for node in nodes { try await node.catchUp(companyID) }
            let ready = try nodes.allSatisfy { node in
                try node.status(companyID).allSatisfy { $0.count < threshold || $0.model != nil }
            }
            if ready { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the published models did not reach every node")
    }

    @Test func oneNodeTrainsEveryNodeInstallsAndCopiesAnswerAlike() async throws {
        let server = try await TestServer { $0.trainingThreshold = Self.threshold }
        try await server.run { client in
            let owner = try await client.register("Acme")
            let companyID = owner.companyID
            let a = server.services.index, b = try Self.node("b", of: server)
            // Node A applies the faces in three batches as they come, node B in one: their slots differ.
            let all = Self.encodings(1400, seed: 7)
            var faces: [FaceRecord] = []
            for start in stride(from: 0, to: 1200, by: 400) {
                faces += try await Self.add(Array(all[start..<(start + 400)]), from: start, to: server, companyID: companyID)
                try await a.catchUp(companyID)
            }
            try await Self.waitForModels([a, b], companyID: companyID)

            let published = try await server.services.store.indexModels(companyID: companyID)
            #expect(published.map(\.space).sorted() == ["all:dlib-resnet-v1", "only:dlib-resnet-v1"], "one model per trained collection")
            let (statusA, statusB) = (try a.status(companyID), try b.status(companyID))
            for (x, y) in zip(statusA, statusB) {
                #expect(x.watermark == y.watermark && x.digest == y.digest && x.model == y.model && x.kind == y.kind, "\(x.space.label)")
            }
            #expect(statusA[0].kind == IndexService.modelKind(forCount: 1200) && statusA[0].model != nil)
            #expect(statusA[1].kind == .flat && statusA[1].model == nil, "the empty SFace collection stays exact")
            #expect(IndexService.modelKind(forCount: 50_000) == .ivfPQ(listCount: 1024, subquantizerCount: 64, bits: 4))

            func expectAlike(_ nodes: [IndexService], _ note: String) throws {
                for q in 0..<40 {
                    let probe = all[(q * 37) % all.count].map { $0 + 0.01 }
                    let answers = try nodes.map { try $0.search(companyID, encoding: probe, k: 10) }
                    #expect(answers.allSatisfy { $0 == answers[0] }, "\(note): query \(q)")
                }
            }
            try expectAlike([a, b], "after the install")

            // Later changes land in the installed model's lists on every node; nobody trains again.
            faces += try await Self.add(Array(all[1200...]), from: 1200, to: server, companyID: companyID)
            for face in faces.prefix(50) {
                try await server.services.store.deleteFace(id: face.id!, companyID: companyID, actor: "test", origin: .unknown)
            }
            try await a.catchUp(companyID)
            try await b.catchUp(companyID)
            try expectAlike([a, b], "after adds and deletes")
            #expect(try a.status(companyID)[0].model == statusA[0].model)

            // A new node replays the feed (model row included); another starts from a snapshot after the feed was purged.
            let c = try Self.node("c", of: server)
            try await c.catchUpAll()
            let head = try await server.services.store.feedPosition(companyID: companyID)
            #expect(try await server.services.store.purgeFeed(companyID: companyID, olderThan: Date().addingTimeInterval(3600),
                                                              notPast: head) > 0)
            let d = try Self.node("d", of: server)
            try await d.catchUpAll()
            for node in [c, d] {
                let status = try node.status(companyID)
                #expect(status[0].model == statusA[0].model && status[2].model == statusA[2].model)
                #expect(status[0].digest == (try a.status(companyID))[0].digest)
            }
            try expectAlike([a, b, c, d], "new nodes")
            #expect(try await server.services.store.indexModels(companyID: companyID).count == 2, "no node trained again")
        }
    }

    /// `index.trainAt` from the flag or the environment; a size too small to train 16 lists is refused at start.
    @Test func theTrainingSizeIsConfiguredAndChecked() async throws {
        let arguments = ["faceid-server", "--data-directory", "/nonexistent-faceid"]
        #expect(try await ServerConfiguration.load(arguments: arguments, environment: [:]).trainingThreshold == 50_000)
        #expect(try await ServerConfiguration.load(arguments: arguments + ["--index-train-at", "2000"], environment: [:])
            .trainingThreshold == 2000)
        #expect(try await ServerConfiguration.load(arguments: arguments, environment: ["FACEID_INDEX_TRAIN_AT": "1500"])
            .trainingThreshold == 1500)
        try await Self.expectRefused(arguments + ["--index-train-at", "999"], key: "index.trainAt")
    }

    /// `index.vectors` picks where IVF-PQ collections keep their vectors; anything but map or memory is refused at start.
    @Test func theVectorResidenceIsConfiguredAndChecked() async throws {
        let arguments = ["faceid-server", "--data-directory", "/nonexistent-faceid"]
        #expect(try await ServerConfiguration.load(arguments: arguments, environment: [:]).indexVectors == .map)
        #expect(try await ServerConfiguration.load(arguments: arguments + ["--index-vectors", "memory"], environment: [:])
            .indexVectors == .memory)
        #expect(try await ServerConfiguration.load(arguments: arguments, environment: ["FACEID_INDEX_VECTORS": "map"])
            .indexVectors == .map)
        try await Self.expectRefused(arguments + ["--index-vectors", "disk"], key: "index.vectors")
    }

    /// Loading a configuration from `arguments` fails with a `ConfigurationError` naming `key`.
    static func expectRefused(_ arguments: [String], key: String) async throws {
        do {
            _ = try await ServerConfiguration.load(arguments: arguments, environment: [:])
            Issue.record("\(arguments.suffix(2)) was accepted")
        } catch let error as ConfigurationError {
            #expect(error.key == key)
        }
    }

    @Test func claimsAndPublicationsAreExclusive() async throws {
        let server = try await TestServer()
        try await server.run { client in
            let owner = try await client.register("Acme")
            let store = server.services.store, space = IndexSpace.all(.dlib).label
            let now = Date()
            #expect(try await store.claimModelTraining(companyID: owner.companyID, space: space, node: "a", now: now,
                                                       until: now.addingTimeInterval(60)) == .claimed)
            #expect(try await store.claimModelTraining(companyID: owner.companyID, space: space, node: "b", now: now,
                                                       until: now.addingTimeInterval(60)) == .heldElsewhere)
            #expect(try await store.claimModelTraining(companyID: owner.companyID, space: space, node: "a", now: now,
                                                       until: now.addingTimeInterval(60)) == .claimed, "the holder renews")
            let later = now.addingTimeInterval(61)
            #expect(try await store.claimModelTraining(companyID: owner.companyID, space: space, node: "b", now: later,
                                                       until: later.addingTimeInterval(60)) == .claimed, "an expired claim is taken over")
            let headBefore = try await store.feedPosition(companyID: owner.companyID)
            let seq = try #require(try await store.publishIndexModel(companyID: owner.companyID, space: space, sealed: Data([1, 2, 3]),
                                                                      node: "b", at: later))
            let headAfter = try await store.feedPosition(companyID: owner.companyID)
            #expect(seq > headBefore && headAfter == seq)
            #expect(try await store.publishIndexModel(companyID: owner.companyID, space: space, sealed: Data([4]), node: "a", at: later) == nil)
            #expect(try await store.feedPosition(companyID: owner.companyID) == seq, "a refused publication appends nothing")
            #expect(try await store.claimModelTraining(companyID: owner.companyID, space: space, node: "a", now: later,
                                                       until: later.addingTimeInterval(60)) == .published)
            let (changes, _) = try await store.faceChanges(companyID: owner.companyID, after: 0, limit: 10)
            let row = try #require(changes.last)
            #expect(row.operation == .model && row.seq == seq && row.model?.space == space && row.model?.sealed == Data([1, 2, 3]))
            let (employeeRows, _) = try await store.employeeChanges(companyID: owner.companyID, after: 0, limit: 10)
            #expect(employeeRows.isEmpty, "kiosks never see a model row")
            let other = try await client.register("Other")
            #expect(try await store.claimModelTraining(companyID: other.companyID, space: space, node: "a", now: later,
                                                       until: later.addingTimeInterval(60)) == .claimed, "claims are per company")
        }
    }

    /// A published model that does not open (damage in the store, not in the index) is skipped: the feed goes on, the
    /// collection keeps its exact search, and the index is not set aside.
    @Test func aModelThatDoesNotOpenIsSkipped() async throws {
        let server = try await TestServer { $0.trainingThreshold = Self.threshold }
        try await server.run { client in
            let owner = try await client.register("Acme")
            let store = server.services.store, index = server.services.index
            _ = try #require(try await store.publishIndexModel(companyID: owner.companyID, space: IndexSpace.all(.dlib).label,
                                                                sealed: Data(repeating: 7, count: 64), node: "x", at: Date()))
            let faces = try await Self.add(Self.encodings(20, seed: 3), from: 0, to: server, companyID: owner.companyID)
            try await index.catchUp(owner.companyID)
            let status = try index.status(owner.companyID)
            let head = try await store.feedPosition(companyID: owner.companyID)
            #expect(status[0].watermark == head && status[0].count == 20)
            #expect(status[0].kind == .flat && !index.isRebuilding)
            #expect(try index.search(owner.companyID, encoding: Self.encodings(20, seed: 3)[5], k: 1).first?.id == UInt64(faces[5].id!))
        }
    }
}

extension SplitMix64 {
    /// A standard normal sample (Box–Muller).
    mutating func gaussian() -> Double {
        let u = max(Double(next() >> 11) / Double(1 << 53), 1e-12), v = Double(next() >> 11) / Double(1 << 53)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}
