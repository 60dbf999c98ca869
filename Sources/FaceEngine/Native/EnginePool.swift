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
