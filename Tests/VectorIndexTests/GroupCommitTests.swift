import Foundation
import Synchronization
import Testing
@testable import VectorIndex

/// Concurrent single-id calls are committed in groups (`apply`): none is lost or reordered, a refused batch does not take
/// its group with it, and what was acknowledged is on disk.
@Suite struct GroupCommitTests {
    static let data = SyntheticDataset(count: 4000, queryCount: 1, seed: 31)

    @Test(arguments: [IndexKind.flat, .ivfPQ(listCount: 16, subquantizerCount: 32, bits: 4)])
    func concurrentCallersLoseAndReorderNothing(kind: IndexKind) throws {
        let dir = TemporaryDirectory()
        let db = try VectorDatabase(path: dir.path, durability: .full)
        let c = try db.createCollection("g", dimension: 128)
        try c.add(ids: (0..<1000).map { UInt64($0) }, vectors: (0..<1000).map(Self.data.vector))
        if kind != .flat { try c.train(kind: kind) }
        let threads = 8, perThread = 60
        // Each caller owns ids and walks each one through add → update → (remove on odd ids); the last step must win.
        // Callers also remove shared ids 0..<480 (each id once, by one caller).
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<perThread {
                let id = UInt64(10_000 + t * perThread + i)
                do {
                    try c.add(id: id, vector: Self.data.vector(1000 + t * perThread + i))
                    try c.update(id: id, vector: Self.data.vector(2000 + t * perThread + i))
                    if i % 2 == 1 { try c.remove(ids: [id]) }
                    try c.remove(ids: [UInt64(t * perThread + i)])
                } catch {
                    failures.withLock { $0.append("\(id): \(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)

        func expectState(_ c: VectorCollection) throws {
            for t in 0..<threads {
                for i in 0..<perThread {
                    let id = UInt64(10_000 + t * perThread + i)
                    if i % 2 == 1 {
                        #expect(!c.contains(id))
                    } else {
                        #expect(try c.vector(for: id) == Self.data.vector(2000 + t * perThread + i), "id \(id)")
                    }
                    #expect(!c.contains(UInt64(t * perThread + i)))
                }
            }
            #expect((threads * perThread..<1000).allSatisfy { c.contains(UInt64($0)) })
        }
        try expectState(c)
        let contents = c.contents
        let reopened = try VectorDatabase(path: dir.path).collection("g")
        try expectState(reopened)
        #expect(reopened.contents.digest == contents.digest && reopened.count == contents.count && reopened.kind == kind)
        let probe = Self.data.vector(2000)
        #expect(try reopened.search(probe, options: SearchOptions(k: 1, probeCount: 16)).first?.id == 10_000)
    }

    /// Batches queued while a commit runs go into the next commit together. Whether callers overlap by themselves depends
    /// on the scheduler (CI's two busy cores did not always), so the test holds the writer lock (as training would): the
    /// first caller takes its own batch and waits for the lock, the other five queue behind that commit and share the next.
    @Test func batchesQueuedDuringACommitShareTheNextOne() throws {
        let dir = TemporaryDirectory()
        let db = try VectorDatabase(path: dir.path, durability: .full)
        let c = try db.createCollection("q", dimension: 128)
        let callers = 6
        let commitsBefore = c.groupCommits.load(ordering: .relaxed)
        c.writer.lock()
        let done = DispatchGroup()
        let failures = Mutex<[String]>([])
        for i in 0..<callers {
            let thread = Thread {
                do { try c.add(id: UInt64(i), vector: Self.data.vector(i)) } catch {
                    failures.withLock { $0.append("\(i): \(error)") }
                }
                done.leave()
            }
            done.enter()
            thread.start()
        }
        let deadline = Date().addingTimeInterval(30)
        func queued() -> Int {
            c.groupCondition.lock()
            defer { c.groupCondition.unlock() }
            return c.pending.count
        }
        while queued() < callers - 1 && Date() < deadline { usleep(1000) }
        let waiting = queued()
        c.writer.unlock()
        done.wait()
        #expect(waiting == callers - 1)
        #expect(failures.withLock { $0 }.isEmpty)
        #expect(c.groupCommits.load(ordering: .relaxed) - commitsBefore == 2, "the leader's batch, then the five queued in one commit")
        let reopened = try VectorDatabase(path: dir.path).collection("q")
        #expect(try (0..<callers).allSatisfy { try reopened.vector(for: UInt64($0)) == Self.data.vector($0) })
    }

    /// A caller computes its vectors' lists and codes before it queues; when the model changes before its commit, the
    /// commit assigns them again under the new one.
    @Test func anAssignmentMadeUnderAReplacedModelIsRedone() throws {
        let dir = TemporaryDirectory()
        let db = try VectorDatabase(path: dir.path)
        let c = try db.createCollection("a", dimension: 128)
        try c.add(ids: (0..<1000).map { UInt64($0) }, vectors: (0..<1000).map(Self.data.vector))
        let kind = IndexKind.ivfPQ(listCount: 16, subquantizerCount: 32, bits: 4)
        try c.train(kind: kind, parameters: TrainingParameters(seed: 1))
        c.writer.lock()
        let done = DispatchSemaphore(value: 0)
        Thread {
            try? c.add(id: 5000, vector: Self.data.vector(3000))
            done.signal()
        }.start()
        let deadline = Date().addingTimeInterval(30)
        func leaderWaiting() -> Bool {
            c.groupCondition.lock()
            defer { c.groupCondition.unlock() }
            return c.committing
        }
        while !leaderWaiting() && Date() < deadline { usleep(1000) }
        try c.trainLocked(kind: kind, parameters: TrainingParameters(seed: 2))  // another model while the caller waits
        c.writer.unlock()
        done.wait()
        let (list, expected) = c.stateLock.withReadLock { () -> (UInt32, UInt32) in
            let assigner = Assigner(dimension: 128, centroids: c.state.centroids, pq: c.state.pq)
            let vector = Self.data.vector(3000)
            let expected = vector.withUnsafeBufferPointer { assigner.assign($0, count: 1).lists[0] }
            return (c.state.listOf[Int(c.state.slotOf[5000]!)], expected)
        }
        #expect(list == expected)
        #expect(try c.search(Self.data.vector(3000), options: SearchOptions(k: 1, probeCount: 1)).first?.id == 5000)
    }

    /// A refused batch in the middle of a group leaves the batches around it committed, and is itself not applied at all.
    @Test func aRefusedBatchFailsAlone() throws {
        let dir = TemporaryDirectory()
        let db = try VectorDatabase(path: dir.path)
        let c = try db.createCollection("r", dimension: 128)
        try c.add(ids: [1, 2], vectors: [Self.data.vector(1), Self.data.vector(2)])
        let outcomes = Mutex<[Int: Bool]>([:])
        DispatchQueue.concurrentPerform(iterations: 40) { i in
            do {
                if i % 10 == 3 {
                    try c.apply([.add(id: UInt64(100 + i), vector: Self.data.vector(100 + i)), .remove(id: 999)])  // 999 unknown
                } else {
                    try c.add(id: UInt64(100 + i), vector: Self.data.vector(100 + i))
                }
                outcomes.withLock { $0[i] = true }
            } catch {
                outcomes.withLock { $0[i] = false }
            }
        }
        for i in 0..<40 {
            let ok = outcomes.withLock { $0[i] }
            #expect(ok == (i % 10 != 3))
            #expect(c.contains(UInt64(100 + i)) == (i % 10 != 3), "batch \(i) half-applied or lost")
        }
        #expect(c.count == 2 + 36)
    }
}
