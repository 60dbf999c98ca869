import Logging
import NIOCore
import PostgresNIO
import Synchronization

extension PostgresConnection {
    /// `query`, with every row read on the event loop as it arrives and handed over at once (`FetchedRows`), and with a
    /// connection that is or becomes closed failing the statement (`StoreError.unavailable`). Two postgres-nio 1.33 faults
    /// seen in the multi-node test, under `pg_ctlcluster restart -m immediate`, are why:
    /// - a statement sent on a connection that has just closed never gets an answer (it waited for good, and with it a
    ///   company's index follower and every write);
    /// - a streamed result whose reader has not asked for more rows yet crashes the process when the server ends the
    ///   connection (`RowStreamStateMachine`: "How can we receive a body part, after a channelReadComplete…"); a result read
    ///   whole on the event loop never waits for a reader.
    /// Every statement the PostgreSQL store sends on a connection it holds goes through here.
    func run(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws -> FetchedRows {
        if isClosed { throw StoreError.unavailable("PostgreSQL: the connection is closed") }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<FetchedRows, any Error>) in
            let answer = FirstAnswer(continuation)
            closeFuture.whenComplete { _ in answer.resume(.failure(StoreError.unavailable("PostgreSQL: the connection closed"))) }
            let result: EventLoopFuture<PostgresQueryResult> = self.query(query, logger: logger, file: file, line: line)
            result.whenComplete { answer.resume($0.map { FetchedRows(rows: $0.rows) }) }
        }
    }
}

extension PostgresStore {
    /// One statement on a pooled connection, through `PostgresConnection.run` (the store's every single statement).
    func fetch(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws -> FetchedRows {
        try await client.withConnection { connection in try await connection.run(query, logger: logger, file: file, line: line) }
    }
}

/// A statement's rows, all read: an async sequence, so postgres-nio's `decode` and the store's `elements()` read it as they
/// read a streamed result.
struct FetchedRows: AsyncSequence, Sendable {
    typealias Element = PostgresRow
    let rows: [PostgresRow]

    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: IndexingIterator<[PostgresRow]>
        mutating func next() async throws -> PostgresRow? { remaining.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: rows.makeIterator()) }
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
