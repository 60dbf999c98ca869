import Logging
import PostgresNIO
import Synchronization

extension PostgresConnection {
    /// `query`, except that a connection that is or becomes closed fails the statement (`StoreError.unavailable`) instead
    /// of leaving it waiting: postgres-nio 1.33 sends a statement on a closed channel past its handler, and the statement's
    /// answer never comes (seen after `pg_ctlcluster restart -m immediate`: one such wait stalled a company's index follower,
    /// and with it every write). Every statement of the PostgreSQL store goes through here.
    func run(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        if isClosed { throw StoreError.unavailable("PostgreSQL: the connection is closed") }
        let statement = Unchecked(value: query)
        let rows = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Unchecked<PostgresRowSequence>, any Error>) in
            let answer = FirstAnswer(continuation)
            closeFuture.whenComplete { _ in answer.resume(.failure(StoreError.unavailable("PostgreSQL: the connection closed"))) }
            Task {
                do {
                    answer.resume(.success(Unchecked(value: try await self.query(statement.value, logger: logger, file: file, line: line))))
                } catch {
                    answer.resume(.failure(error))
                }
            }
        }
        return rows.value
    }
}

/// A statement and its rows cross to the task that sends it and back unchanged: sent once, read by the caller only.
private struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
}

/// Resumes a continuation with the first of several results; the later ones are dropped.
private final class FirstAnswer<Value: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<Value, any Error>?>

    init(_ continuation: CheckedContinuation<Value, any Error>) {
        self.continuation = Mutex(continuation)
    }

    func resume(_ result: Result<Value, any Error>) {
        continuation.withLock { pending -> CheckedContinuation<Value, any Error>? in
            defer { pending = nil }
            return pending
        }?.resume(with: result)
    }
}
