/// Hands out native engines, one per concurrent call; callers beyond the pool size wait in
/// arrival order.
actor EnginePool {
    private var free: [NativeEngine]
    private var waiters: [CheckedContinuation<NativeEngine, Never>] = []
    let size: Int

    init(_ engines: [NativeEngine]) {
        free = engines
        size = engines.count
    }

    func checkout() async -> NativeEngine {
        if let engine = free.popLast() { return engine }
        return await withCheckedContinuation { waiters.append($0) }
    }

    func checkin(_ engine: NativeEngine) {
        if waiters.isEmpty {
            free.append(engine)
        } else {
            waiters.removeFirst().resume(returning: engine)
        }
    }
}
