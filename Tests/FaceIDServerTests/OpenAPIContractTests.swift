import Foundation
import Testing
import Yams

@testable import FaceIDServer

/// The statuses the OpenAPI document declares, checked against what the router and the permission matrix can
/// answer. `scripts/schemathesis.sh` (in `make test`) checks the same against the live server by fuzzing; this is
/// the cheap half that needs no server process.
@Suite("OpenAPI document: declared statuses and schemas")
struct OpenAPIContractTests {
    /// The document as served, parsed.
    let document: [String: Any]
    /// Every operation: `"GET /users/{id}"` → its `responses` map.
    let responses: [String: [String: Any]]

    init() throws {
        document = try #require(try Yams.load(yaml: OpenAPIDocument.yaml) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var responses: [String: [String: Any]] = [:]
        for (path, item) in paths {
            for (method, operation) in item where method != "parameters" {
                let operation = try #require(operation as? [String: Any])
                responses["\(method.uppercased()) \(path)"] = try #require(operation["responses"] as? [String: Any])
            }
        }
        self.responses = responses
    }

    @Test func everyProtectedOperationDeclaresItsCredentialPermissionAndRateLimitAnswers() async throws {
        let routes = try await TestServer().routes
        #expect(routes.count > 40)
        for route in routes {
            let name = "\(route.method.rawValue) \(route.path)"
            let declared = try #require(responses[name], "\(name) is not in the document")
            if route.path.contains("{id}") {
                #expect(declared["404"] != nil, "\(name) does not declare 404")
            }
            guard let permission = route.permission else { continue }
            #expect(declared["401"] != nil, "\(name) does not declare 401")
            #expect(declared["429"] != nil, "\(name) does not declare 429")
            let grantedToEveryone = permission.allowedRoles == Set(Role.allCases) && permission.allowedScopes == Set(Scope.allCases)
            if !grantedToEveryone {
                #expect(declared["403"] != nil, "\(name) does not declare 403 (\(permission) is not granted to every caller)")
            }
        }
    }

    @Test func everyOperationWithABodyDeclaresTheBodyErrors() throws {
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        for (path, item) in paths {
            for (method, operation) in item where method != "parameters" {
                guard let operation = operation as? [String: Any], operation["requestBody"] != nil else { continue }
                let declared = try #require(responses["\(method.uppercased()) \(path)"])
                #expect(declared["400"] != nil, "\(method.uppercased()) \(path) takes a body but does not declare 400")
                #expect(declared["413"] != nil, "\(method.uppercased()) \(path) takes a body but does not declare 413")
            }
        }
    }

    @Test func everyErrorAnswerIsTheErrorBodyAndEveryReferenceResolves() throws {
        for (name, declared) in responses {
            for (status, response) in declared where !status.hasPrefix("2") {
                let reference = (response as? [String: Any])?["$ref"] as? String
                #expect(reference == "#/components/responses/Error\(status)", "\(name) answers \(status) without the shared error response")
            }
        }
        let references = Self.references(in: document)
        #expect(references.count > 30)
        for reference in references {
            var node: Any? = document
            for part in reference.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] }
            #expect(node != nil, "$ref \(reference) does not resolve")
        }
        let retryAfter = try #require(
            ((document["components"] as? [String: Any])?["responses"] as? [String: Any])?["Error429"] as? [String: Any])
        #expect((retryAfter["headers"] as? [String: Any])?["Retry-After"] != nil)
    }

    @Test func schemasSayWhatTheServerEnforces() throws {
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let face = try #require((schemas["Face"] as? [String: Any])?["properties"] as? [String: Any])
        let sources = try #require((face["source"] as? [String: Any])?["enum"] as? [String])
        #expect(Set(sources) == ["photo", "import", "kiosk"])
        let name = try #require(schemas["Name"] as? [String: Any])
        #expect(name["minLength"] as? Int == 1)
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        for path in ["/face/search", "/face/verify"] {
            let post = try #require(paths[path]?["post"] as? [String: Any])
            let content = (post["requestBody"] as? [String: Any])?["content"] as? [String: Any]
            let schema = try #require((content?["application/json"] as? [String: Any])?["schema"] as? [String: Any])
            let excluded = (schema["not"] as? [String: Any])?["required"] as? [String]
            #expect(Set(excluded ?? []) == ["max_distance", "min_similarity"], "\(path) allows both max_distance and min_similarity")
        }
    }

    /// Every `$ref` value anywhere under `node`.
    static func references(in node: Any) -> Set<String> {
        if let object = node as? [String: Any] {
            var found = Set(object.compactMap { $0.key == "$ref" ? $0.value as? String : nil })
            for value in object.values { found.formUnion(references(in: value)) }
            return found
        }
        if let array = node as? [Any] { return array.reduce(into: Set<String>()) { $0.formUnion(references(in: $1)) } }
        return []
    }
}
