import FaceEngine
import Foundation
import Testing

@Suite struct FaceEngineTests {
    /// dlib's examples/johns: 5 people × 11 photos. Every same-person pair is closer than 0.6 and
    /// every different-person pair farther.
    @Test func johnsSeparateAtDlibsThreshold() async throws {
        let root = Fixtures.dlibExamples + "/johns"
        var descriptors: [(person: String, descriptor: [Float])] = []
        for person in try FileManager.default.contentsOfDirectory(atPath: root).sorted() {
            for file in try FileManager.default.contentsOfDirectory(atPath: root + "/" + person).sorted() {
                let analysis = try await Fixtures.engine.analyze(imageData: try Fixtures.data(root + "/" + person + "/" + file))
                let face = try #require(analysis.centralFace, "no face in \(person)/\(file)")
                #expect(face.descriptor.count == 128)
                descriptors.append((person, face.descriptor))
            }
        }
        #expect(descriptors.count == 55)
        var worstSame: Float = 0, worstDifferent: Float = .infinity
        for i in descriptors.indices {
            for j in descriptors.indices where j > i {
                let d = Fixtures.distance(descriptors[i].descriptor, descriptors[j].descriptor)
                if descriptors[i].person == descriptors[j].person { worstSame = max(worstSame, d) } else { worstDifferent = min(worstDifferent, d) }
            }
        }
        #expect(worstSame < 0.6, "largest same-person distance \(worstSame)")
        #expect(worstDifferent > 0.6, "smallest different-person distance \(worstDifferent)")
    }

    @Test func oneFaceInTomCruiseManyInBaldGuys() async throws {
        let tom = try await Fixtures.engine.analyze(imageData: try Fixtures.data(Fixtures.dlibExamples + "/faces/Tom_Cruise_avp_2014_4.jpg"))
        #expect(tom.faces.count == 1)
        #expect(tom.faces.first?.quality.isAcceptable == true)
        let bald = try await Fixtures.engine.analyze(imageData: try Fixtures.data(Fixtures.dlibExamples + "/faces/bald_guys.jpg"))
        #expect(bald.faces.count >= 5)
        #expect(bald.faces.allSatisfy { $0.quality.reasons.contains(.multipleFaces) })
    }

    @Test func describeAtKnownBoxesMatchesAnalyze() async throws {
        let data = try Fixtures.data(Fixtures.dlibExamples + "/faces/Tom_Cruise_avp_2014_4.jpg")
        let analysis = try await Fixtures.engine.analyze(imageData: data)
        let face = try #require(analysis.faces.first)
        let described = try await Fixtures.engine.describe(imageData: data, boxes: [face.box])
        // Equal up to float rounding: OpenBLAS's thread count is process-wide, and a test elsewhere in the same
        // process (index training) may raise it meanwhile, which changes dlib's summation order in the last bits.
        #expect(described.count == 1)
        #expect(Fixtures.distance(described[0], face.descriptor) < 1e-4)
        let detected = try await Fixtures.engine.detect(imageData: data)
        #expect(detected.faces.map(\.box) == [face.box] && detected.faces[0].descriptor.isEmpty)
    }

    @Test func jitterAndMirrorStayClose() async throws {
        let data = try Fixtures.data(Fixtures.dlibExamples + "/faces/Tom_Cruise_avp_2014_4.jpg")
        let plain = try #require(try await Fixtures.engine.analyze(imageData: data).faces.first).descriptor
        var options = AnalyzeOptions()
        options.mirror = true
        options.jitters = 3
        let averaged = try #require(try await Fixtures.engine.analyze(imageData: data, options: options).faces.first).descriptor
        #expect(averaged != plain)
        #expect(Fixtures.distance(plain, averaged) < 0.2)
    }

    @Test func concurrentCallsGiveTheSameAnswers() async throws {
        let data = try Fixtures.data(Fixtures.dlibExamples + "/faces/Tom_Cruise_avp_2014_4.jpg")
        let reference = try await Fixtures.engine.analyze(imageData: data)
        try await withThrowingTaskGroup(of: FaceAnalysis.self) { group in
            for _ in 0..<6 { group.addTask { try await Fixtures.engine.analyze(imageData: data) } }
            for try await result in group { #expect(result == reference) }
        }
    }

    /// The CNN detector finds the face HOG misses in a sideways photo (without trying rotations)
    /// and returns no face, not an error, for images too small for its pyramid.
    @Test func cnnDetector() async throws {
        var options = AnalyzeOptions()
        options.detector = .cnn
        let tom = try await Fixtures.engine.analyze(imageData: try Fixtures.data(Fixtures.dlibExamples + "/faces/Tom_Cruise_avp_2014_4.jpg"),
                                                    options: options)
        #expect(tom.faces.count == 1 && tom.faces[0].detector == .cnn)
        if let faces = Fixtures.sharedFaces {
            let tiny = try await Fixtures.engine.analyze(imageData: try Fixtures.data(faces + "/badinput/obama_1x1.png"), options: options)
            #expect(tiny.faces.isEmpty)
        }
    }

    @Test func missingOrDamagedModelsNameTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("models-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect {
            try FaceEngine(modelDirectory: dir, poolSize: 1)
        } throws: { error in
            guard case let .modelUnavailable(file, reason) = error as? FaceEngineError else { return false }
            return file.hasSuffix("dlib_face_recognition_resnet_model_v1.dat") && reason == "missing"
                && "\(error)".contains("make setup")
        }
        for (name, _) in FaceEngine.modelFiles {
            try FileManager.default.copyItem(atPath: Fixtures.modelDirectory + "/" + name, toPath: dir + "/" + name)
        }
        let damaged = dir + "/shape_predictor_5_face_landmarks.dat"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: damaged))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: damaged))
        #expect {
            try FaceEngine(modelDirectory: dir, poolSize: 1)
        } throws: { error in
            guard case let .modelUnavailable(file, reason) = error as? FaceEngineError else { return false }
            return file == damaged && reason.contains("SHA-256")
        }
    }

    @Test func notAnImageIsATypedError() async throws {
        await #expect(throws: FaceEngineError.emptyImage) { try await Fixtures.engine.analyze(imageData: Data()) }
        await #expect(throws: FaceEngineError.unsupportedFormat) {
            try await Fixtures.engine.analyze(imageData: Data("hello, not a photo".utf8))
        }
        await #expect(throws: FaceEngineError.self) {
            try await Fixtures.engine.analyze(imageData: Data([0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]))
        }
        var options = AnalyzeOptions()
        options.maxPixels = 1000
        let tom = try Fixtures.data(Fixtures.dlibExamples + "/faces/Tom_Cruise_avp_2014_4.jpg")
        await #expect {
            try await Fixtures.engine.analyze(imageData: tom, options: options)
        } throws: { ($0 as? FaceEngineError)?.code == "image_too_large" }
    }
}
