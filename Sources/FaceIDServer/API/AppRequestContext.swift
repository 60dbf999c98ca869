import Hummingbird
import NIOCore
import Synchronization

/// The per-request context: Hummingbird's core storage, the peer address and the authenticated caller.
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// Set by `AuthenticationMiddleware` when the request carried valid credentials.
    public var principal: Principal?
    /// Facts handlers learn that the outer request log needs (contexts are values; this is shared).
    let notes = RequestNotes()
    /// The caller's company settings, read with the credentials.
    public var companySettings: CompanySettings?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    public var requestDecoder: APIJSON.Decoder { APIJSON.Decoder() }
    public var responseEncoder: APIJSON.Encoder { APIJSON.Encoder() }
}

/// Per-request facts written by inner middleware and read by the outer request log.
final class RequestNotes: Sendable {
    private let storage = Mutex<Int64?>(nil)

    /// The authenticated caller's company.
    var companyID: Int64? {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
