/// Hands out native engines, one per concurrent call; callers beyond the pool size wait in
/// arrival order.
actor EnginePool<Engine: Sendable> {
    private var free: [Engine]
    private var waiters: [CheckedContinuation<Engine, Never>] = []
    let size: Int

    init(_ engines: [Engine]) {
        free = engines
        size = engines.count
    }

    func checkout() async -> Engine {
        if let engine = free.popLast() { return engine }
        return await withCheckedContinuation { waiters.append($0) }
    }

    func checkin(_ engine: Engine) {
        if waiters.isEmpty {
            free.append(engine)
        } else {
            waiters.removeFirst().resume(returning: engine)
        }
    }
}

extension EnginePool where Engine == NativeEngine {
    /// `count` native engines (at least one), `make(i)` creating the i-th.
    static func make(count: Int, _ make: (Int) throws(FaceEngineError) -> NativeEngine) throws(FaceEngineError) -> EnginePool {
        var engines: [NativeEngine] = []
        for i in 0..<max(1, count) { engines.append(try make(i)) }
        return EnginePool(engines)
    }

    /// Runs `body` on a free engine's queue, waiting for one when all are busy; the engine is returned either way.
    nonisolated func run<R: Sendable>(_ body: @escaping @Sendable (OpaquePointer) throws(FaceEngineError) -> R) async throws(FaceEngineError) -> R {
        let engine = await checkout()
        do {
            let result = try await engine.run(body)
            await checkin(engine)
            return result
        } catch {
            await checkin(engine)
            throw error
        }
    }
}
