import HummingbirdBcrypt
import NIOPosix

/// Passwords hashed with bcrypt (hummingbird-auth's implementation), on NIO's blocking thread pool: a hash at cost 12
/// takes a quarter of a second, which must not hold an event loop or a cooperative thread.
enum PasswordHashing {
    static func hash(_ password: String, cost: Int) -> String {
        Bcrypt.hash(password, cost: UInt8(cost))
    }

    static func hashOffLoop(_ password: String, cost: Int) async throws -> String {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: UInt8(cost)) }
    }

    static func verifyOffLoop(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }
}
