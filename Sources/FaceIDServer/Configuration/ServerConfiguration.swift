import Configuration
import Foundation
import VectorIndex
import Logging

/// Everything the server reads from its configuration, typed and defaulted in one place.
///
/// Keys are dotted (`http.port`); the command line spells them `--http-port`, the environment
/// `FACEID_HTTP_PORT`, and an optional JSON file (`--config-file`) nests them (`{"http": {"port": 8443}}`).
/// The README's configuration table lists every key.
public struct ServerConfiguration: Sendable {
    /// `data.directory`: the folder holding the SQLite store, the master key and the TLS files.
    public var dataDirectory: String
    /// `http.host`.
    public var host: String
    /// `http.port` (0 picks a free port, for tests).
    public var port: Int
    /// `http.plaintext`: serve plain HTTP (behind a TLS-terminating proxy, or in tests). Off by default.
    public var plaintext: Bool
    /// `http.maxBodySize`: the largest request body accepted, in bytes (photos included).
    public var maxBodySize: Int
    /// `http.trustForwardedFor`: take the client address from `X-Forwarded-For` (only behind a proxy you run).
    public var trustForwardedFor: Bool
    /// `tls.certificatePath` (PEM chain).
    public var certificatePath: String
    /// `tls.keyPath` (PEM private key).
    public var privateKeyPath: String
    /// `crypto.masterKey` (base64 of 32 bytes) — or `crypto.masterKeyFile`, read when the former is absent.
    public var masterKey: MasterKey?
    /// Where the master key was looked for, for the refusal message.
    public var masterKeyFile: String
    /// `kiosk.appSecret`: the desktop app secret kiosks send in `X-App-Secret` (or `kiosk.appSecretFile`, default `<data>/app.secret`).
    /// The desktop team's own variable, `DESKTOP_APP_SECRET`, is read as an alias of `FACEID_KIOSK_APP_SECRET`.
    public var desktopAppSecret: String?
    /// `sync.tombstoneDays`: how long the kiosk feed keeps changes (deletions included); an older cursor gets 410.
    public var tombstoneDays: Int
    /// `store.url`: a PostgreSQL database (`postgres://user:password@host:port/database`) shared by several nodes; nil:
    /// the embedded SQLite store in the data folder.
    public var storeURL: String?
    /// `node.id`: this node's name among the nodes sharing a PostgreSQL store (`/index/status`, the feed's retention); by
    /// default `<host name>:<http.port>`.
    public var nodeID: String?
    /// `index.trainAt`: the size at which a collection stops being searched exactly and becomes IVF-PQ with a model one
    /// node trains and every node installs (default 50,000; at least 1,000).
    public var trainingThreshold: Int
    /// `index.vectors`: where an IVF-PQ collection keeps the float32 vectors its re-ranking reads — `map` (default: read
    /// from the index's LMDB map per candidate; ~90 bytes of heap per face) or `memory` (+512 bytes per face, 2–4× faster
    /// searches).
    public var indexVectors: VectorResidence
    /// `auth.tokenLifetime`: default session lifetime in seconds (a company setting can shorten or lengthen it).
    public var tokenLifetime: Int
    /// `auth.bcryptCost`: bcrypt work factor for passwords (4…31).
    public var bcryptCost: Int
    /// Rate limits (`rateLimit.*`).
    public var rateLimits: RateLimitConfiguration
    /// `log.level`.
    public var logLevel: Logger.Level
    /// `models.directory`: the dlib models (`make setup` installs them in `./models`).
    public var modelDirectory: String
    /// `models.default`: the recognition model of new companies (`sface-2021dec`; `dlib-resnet-v1` for a deployment whose
    /// photo search must stay in the kiosks' embedding space).
    var defaultRecognitionModel: RecognitionModel
    /// `audit.headDirectory`: where the signed head of each company's audit chain is kept, outside the store
    /// (default `<data>/audit-head`; best on a volume the store's writers cannot reach).
    public var auditHeadPath: String

    /// The SQLite file of the store.
    public var databasePath: String { dataDirectory + "/faceid.sqlite" }
    /// The LMDB folder of the vector index (derived data: rebuilt from the store when missing).
    public var indexPath: String { dataDirectory + "/index" }
    /// This node's name: `node.id`, or `<host name>:<http.port>`.
    public var nodeName: String { nodeID ?? "\(ProcessInfo.processInfo.hostName):\(port)" }
    /// Sealed enrollment photos of companies with `store_images` on.
    public var imagesPath: String { dataDirectory + "/images" }

    /// A configuration with every default, rooted at `dataDirectory`, without a master key.
    public init(dataDirectory: String) {
        self.dataDirectory = dataDirectory
        host = "127.0.0.1"
        port = 8443
        plaintext = false
        maxBodySize = 10 << 20
        trustForwardedFor = false
        certificatePath = dataDirectory + "/tls/cert.pem"
        privateKeyPath = dataDirectory + "/tls/key.pem"
        masterKey = nil
        masterKeyFile = dataDirectory + "/master.key"
        desktopAppSecret = nil
        tombstoneDays = 30
        trainingThreshold = IndexService.defaultTrainingThreshold
        indexVectors = .map
        tokenLifetime = 12 * 3600
        bcryptCost = 12
        rateLimits = RateLimitConfiguration()
        logLevel = .info
        modelDirectory = "./models"
        defaultRecognitionModel = RecognitionModel.defaultForNewCompanies
        auditHeadPath = dataDirectory + "/audit-head"
    }

    /// Reads every key from `reader`, falling back to the defaults; reads the key files it points at.
    public init(reader: ConfigReader) throws(ConfigurationError) {
        self.init(dataDirectory: reader.string(forKey: "data.directory", default: "./data"))
        host = reader.string(forKey: "http.host", default: host)
        port = reader.int(forKey: "http.port", default: port)
        plaintext = reader.bool(forKey: "http.plaintext", default: plaintext)
        maxBodySize = reader.int(forKey: "http.maxBodySize", default: maxBodySize)
        trustForwardedFor = reader.bool(forKey: "http.trustForwardedFor", default: trustForwardedFor)
        certificatePath = reader.string(forKey: "tls.certificatePath", default: certificatePath)
        privateKeyPath = reader.string(forKey: "tls.keyPath", default: privateKeyPath)
        masterKeyFile = reader.string(forKey: "crypto.masterKeyFile", default: masterKeyFile)
        if let text = reader.string(forKey: "crypto.masterKey", isSecret: true) {
            masterKey = try MasterKey(encoded: text, source: "crypto.masterKey")
        } else if let text = try Self.readSecretFile(masterKeyFile) {
            masterKey = try MasterKey(encoded: text, source: masterKeyFile)
        }
        desktopAppSecret = reader.string(forKey: "kiosk.appSecret", isSecret: true)
        if desktopAppSecret == nil {
            desktopAppSecret = try Self.readSecretFile(reader.string(forKey: "kiosk.appSecretFile", default: dataDirectory + "/app.secret"))
        }
        modelDirectory = reader.string(forKey: "models.directory", default: modelDirectory)
        let model = reader.string(forKey: "models.default", default: defaultRecognitionModel.rawValue)
        guard let parsed = RecognitionModel(rawValue: model) else {
            throw ConfigurationError(key: "models.default", message: "expected " + RecognitionModel.allCases.map(\.rawValue).joined(separator: " or "))
        }
        defaultRecognitionModel = parsed
        auditHeadPath = reader.string(forKey: "audit.headDirectory", default: auditHeadPath)
        tombstoneDays = reader.int(forKey: "sync.tombstoneDays", default: tombstoneDays)
        storeURL = reader.string(forKey: "store.url")
        nodeID = reader.string(forKey: "node.id")
        trainingThreshold = reader.int(forKey: "index.trainAt", default: trainingThreshold)
        switch reader.string(forKey: "index.vectors") {
        case nil: break
        case "map": indexVectors = .map
        case "memory": indexVectors = .memory
        default: throw ConfigurationError(key: "index.vectors", message: "expected map or memory")
        }
        tokenLifetime = reader.int(forKey: "auth.tokenLifetime", default: tokenLifetime)
        bcryptCost = reader.int(forKey: "auth.bcryptCost", default: bcryptCost)
        rateLimits = RateLimitConfiguration(reader: reader.scoped(to: "rateLimit"), defaults: rateLimits)
        if let level = reader.string(forKey: "log.level") {
            guard let parsed = Logger.Level(rawValue: level) else {
                throw ConfigurationError(key: "log.level", message: "expected trace, debug, info, notice, warning, error or critical")
            }
            logLevel = parsed
        }
        try validate()
    }

    /// The configuration of a process: flags (`--http-port 8443`) over `FACEID_`-prefixed environment variables
    /// (`FACEID_HTTP_PORT`) over the JSON file named by `--config-file` / `FACEID_CONFIG_FILE`, if any.
    /// `DESKTOP_APP_SECRET` (the desktop app specification's name) stands for `FACEID_KIOSK_APP_SECRET` when that is unset.
    public static func load(
        arguments: [String] = CommandLine.arguments, environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> ServerConfiguration {
        var environment = environment
        if environment["FACEID_KIOSK_APP_SECRET"] == nil, let secret = environment[desktopAppSecretAlias] {
            environment["FACEID_KIOSK_APP_SECRET"] = secret
        }
        var providers: [any ConfigProvider] = [
            CommandLineArgumentsProvider(arguments: arguments),
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "faceid"),
        ]
        if let file = ConfigReader(providers: providers).string(forKey: "config.file") {
            do {
                providers.append(try await FileProvider<JSONSnapshot>(filePath: .init(file)))
            } catch {
                throw ConfigurationError(key: "config.file", message: "cannot read the JSON configuration file \(file)")
            }
        }
        return try ServerConfiguration(reader: ConfigReader(providers: providers))
    }

    /// The environment variable the desktop app specification names for the app secret.
    public static let desktopAppSecretAlias = "DESKTOP_APP_SECRET"

    /// Checks ranges; the server refuses to start on a nonsensical value rather than misbehave later.
    public func validate() throws(ConfigurationError) {
        guard (0...65535).contains(port) else { throw ConfigurationError(key: "http.port", message: "expected 0…65535") }
        guard maxBodySize >= 1024 else { throw ConfigurationError(key: "http.maxBodySize", message: "expected at least 1024 bytes") }
        guard (4...31).contains(bcryptCost) else { throw ConfigurationError(key: "auth.bcryptCost", message: "expected 4…31") }
        guard tombstoneDays >= 1 else { throw ConfigurationError(key: "sync.tombstoneDays", message: "expected at least 1 day") }
        guard trainingThreshold >= 1000 else { throw ConfigurationError(key: "index.trainAt", message: "expected at least 1000 faces") }
        guard tokenLifetime >= 60 else { throw ConfigurationError(key: "auth.tokenLifetime", message: "expected at least 60 seconds") }
    }

    /// The trimmed contents of a secret file, or nil when it does not exist.
    static func readSecretFile(_ path: String) throws(ConfigurationError) -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(key: path, message: "cannot read the file")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Token-bucket limits (`rateLimit.*`); each is a number of requests per window.
public struct RateLimitConfiguration: Sendable {
    /// `rateLimit.registerPerHour`: company registrations per source address per hour.
    public var registerPerHour = 20
    /// `rateLimit.loginFailuresPerEmail`: failed logins per email address per 15 minutes.
    public var loginFailuresPerEmail = 10
    /// `rateLimit.loginFailuresPerAddress`: failed logins per source address per 15 minutes.
    public var loginFailuresPerAddress = 50
    /// `rateLimit.companyPerMinute`: authenticated requests per company per minute (a company setting may lower it).
    public var companyPerMinute = 6000
    /// `rateLimit.credentialPerMinute`: requests per API key, device or session per minute.
    public var credentialPerMinute = 1200
    /// `rateLimit.faceRegistrationsPerMinute`: kiosk face uploads per company per minute.
    public var faceRegistrationsPerMinute = 100
    /// `rateLimit.fullSyncsPerHour`: full syncs (first page of the list, or the feed without a cursor) per kiosk per hour.
    public var fullSyncsPerHour = 10

    public init() {}

    init(reader: ConfigReader, defaults: RateLimitConfiguration) {
        registerPerHour = reader.int(forKey: "registerPerHour", default: defaults.registerPerHour)
        loginFailuresPerEmail = reader.int(forKey: "loginFailuresPerEmail", default: defaults.loginFailuresPerEmail)
        loginFailuresPerAddress = reader.int(forKey: "loginFailuresPerAddress", default: defaults.loginFailuresPerAddress)
        companyPerMinute = reader.int(forKey: "companyPerMinute", default: defaults.companyPerMinute)
        credentialPerMinute = reader.int(forKey: "credentialPerMinute", default: defaults.credentialPerMinute)
        faceRegistrationsPerMinute = reader.int(forKey: "faceRegistrationsPerMinute", default: defaults.faceRegistrationsPerMinute)
        fullSyncsPerHour = reader.int(forKey: "fullSyncsPerHour", default: defaults.fullSyncsPerHour)
    }
}

/// A configuration value the server cannot start with.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var key: String
    public var message: String
    public var description: String { "configuration \(key): \(message)" }
}
