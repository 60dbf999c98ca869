import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// The desktop (kiosk) app's shared secret, and who may receive raw face encodings.
///
/// The desktop team's rule: "Only authenticated desktop apps can read/write face data" and "No web UI access to raw face
/// encodings". So an encoding leaves the server only to a caller that may sync faces *and* proves it is the desktop app
/// with `X-App-Secret`, or to an `admin`-scoped API key (server-to-server migration and export; never a browser session).
extension AppServices {
    static let appSecretHeader = HTTPField.Name("X-App-Secret")!

    /// Whether `X-App-Secret` equals the configured desktop app secret (compared as SHA-256 digests, in constant time).
    /// Never through the browser console's API mirror: it is the web UI, whatever headers it sends.
    func sentAppSecret(_ request: Request) -> Bool {
        guard !request.uri.path.hasPrefix(ProtectedRoutes.consolePrefix + "/") else { return false }
        guard let expected = configuration.desktopAppSecret, let sent = request.headers[Self.appSecretHeader] else { return false }
        let digests = (SHA256.hash(data: Data(sent.utf8)), SHA256.hash(data: Data(expected.utf8)))
        return zip(digests.0, digests.1).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// 401 `invalid_app_secret` unless the request carries the desktop app secret.
    func requireAppSecret(_ request: Request) throws(ServiceError) {
        guard sentAppSecret(request) else { throw ServiceError.invalidAppSecret }
    }

    /// 403 unless `principal` may receive raw encodings on this request: an `admin`-scoped API key, or a credential
    /// allowed to sync faces that sent the desktop app secret.
    func requireEncodingAccess(_ request: Request, _ principal: Principal) throws(ServiceError) {
        if case .apiKey(_, let scopes) = principal.credential, scopes.contains(.admin) { return }
        try principal.require(.readEncodings)
        guard sentAppSecret(request) else { throw ServiceError.encodingsForDesktopAppOnly }
    }
}
