import Foundation
import Synchronization

/// The server's time, injected: wall time for what is stored or compared with stored instants (session expiry, the access
/// log and its retention, the kiosk feed's retention) and a monotonic instant for rate limits.
///
/// `system` reads the machine's clocks. `manual()` stands still until `advance(by:)` moves it — tests of expiry and
/// refills move time instead of waiting for it. (swift-clocks' `TestClock` moves a `Clock`'s instants only; sessions and
/// retention need wall dates too, so both are kept here, moved together.)
public final class ServerClock: Sendable {
    /// Nil: the machine's clocks. Otherwise the fixed reading, moved only by `advance(by:)`.
    private let manual: Mutex<(wall: Date, instant: ContinuousClock.Instant)?>

    private init(manual: (wall: Date, instant: ContinuousClock.Instant)?) {
        self.manual = Mutex(manual)
    }

    public static let system = ServerClock(manual: nil)

    /// A clock that starts at the machine's time and stands still until advanced.
    public static func manual(start: Date = Date()) -> ServerClock {
        ServerClock(manual: (start, ContinuousClock.now))
    }

    /// Wall time.
    public var now: Date { manual.withLock { $0?.wall } ?? Date() }

    /// Monotonic time (rate limits).
    public var instant: ContinuousClock.Instant { manual.withLock { $0?.instant } ?? ContinuousClock.now }

    /// Moves a manual clock forward; a system clock cannot be moved.
    public func advance(by duration: Duration) {
        manual.withLock { reading in
            precondition(reading != nil, "the system clock cannot be advanced")
            let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
            reading = (reading!.wall.addingTimeInterval(seconds), reading!.instant + duration)
        }
    }
}
