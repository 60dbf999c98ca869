import Foundation
import Testing
import Yams

@testable import FaceIDServer

/// The API contract written once: `ErrorCode` against the README's error table and the OpenAPI document, `Limits`
/// against the document's numbers.
@Suite("Contract: error codes and limits")
struct ContractTests {
    let document: [String: Any]

    init() throws {
        document = try #require(try Yams.load(yaml: OpenAPIDocument.yaml) as? [String: Any])
    }

    /// The README's error table: status → the codes in its row.
    static func readmeErrorTable() throws -> [Int: Set<String>] {
        let readme = try String(contentsOfFile: TestServer.packageRoot + "/README.md", encoding: .utf8)
        let table = try #require(readme.range(of: "| status | codes |"))
        var rows: [Int: Set<String>] = [:]
        for line in readme[table.upperBound...].split(separator: "\n").dropFirst() {
            guard line.hasPrefix("|") else { break }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let status = try #require(Int(cells[0]), "row \(line)")
            // Every backticked snake_case word is a code; `Allow`, `Retry-After` and paths are not.
            let codes = cells[1].split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
                .filter { $0.allSatisfy { $0.isLowercase || $0 == "_" } }
            rows[status, default: []].formUnion(codes)
        }
        return rows
    }

    @Test func everyErrorCodeIsInTheREADMETableUnderItsStatus() throws {
        let rows = try Self.readmeErrorTable()
        for code in ErrorCode.allCases {
            #expect(rows[Int(code.status.code)]?.contains(code.rawValue) == true, "\(code.rawValue) (\(code.status.code)) is not in its README row")
        }
        let documented = rows.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        #expect(documented == Set(ErrorCode.allCases.map(\.rawValue)), "README codes that ErrorCode lacks: \(documented.subtracting(ErrorCode.allCases.map(\.rawValue)))")
    }

    @Test func everyErrorCodeIsInTheOpenAPIErrorSchema() throws {
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let code = try #require(((schemas["Error"] as? [String: Any])?["properties"] as? [String: Any])?["code"] as? [String: Any])
        let listed = try #require(code["enum"] as? [String])
        #expect(listed == ErrorCode.allCases.map(\.rawValue))
        #expect(Set(listed).count == listed.count)
    }

    /// A code names one failure: each case's raw value is unique (the enum guarantees it) and snake_case.
    @Test func codesAreStableSnakeCase() {
        for code in ErrorCode.allCases {
            #expect(code.rawValue.allSatisfy { $0.isLowercase || $0 == "_" }, "\(code.rawValue)")
        }
    }

    /// The parameter `name` of `method path`: its schema, `$ref`s followed.
    func parameterSchema(_ method: String, _ path: String, _ name: String) throws -> [String: Any] {
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let operation = try #require(paths[path]?[method] as? [String: Any], "\(method) \(path)")
        let parameters = try #require(operation["parameters"] as? [[String: Any]])
        let parameter = try #require(parameters.first { $0["name"] as? String == name }, "\(name) of \(method) \(path)")
        let schema = try #require(parameter["schema"] as? [String: Any])
        return try resolve(schema)
    }

    func resolve(_ schema: [String: Any]) throws -> [String: Any] {
        guard let reference = schema["$ref"] as? String else { return schema }
        var node: Any? = document
        for part in reference.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] }
        return try #require(node as? [String: Any])
    }

    func expect(_ schema: [String: Any], _ range: ClosedRange<Int>, default value: Int? = nil, _ what: String) {
        #expect(schema["minimum"] as? Int == range.lowerBound, "\(what) minimum")
        #expect(schema["maximum"] as? Int == range.upperBound, "\(what) maximum")
        if let value { #expect(schema["default"] as? Int == value, "\(what) default") }
    }

    @Test func theDocumentStatesTheLimitsTheServerChecks() throws {
        for path in ["/persons", "/logs", "/audit", "/api/employees"] {
            expect(try parameterSchema("get", path, "limit"), Limits.listPage, default: Limits.listPageDefault, "\(path) limit")
        }
        expect(try parameterSchema("get", "/api/employees/timekeeper/changes", "limit"), Limits.feedPage, default: Limits.feedPageDefault,
               "feed limit")
        expect(try parameterSchema("get", "/api/employees/timekeeper", "page"), Limits.tablePage, "table page")
        expect(try parameterSchema("get", "/api/employees/timekeeper", "page_size"), Limits.tablePageSize, "table page_size")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let search = try #require(paths["/face/search"]?["post"] as? [String: Any])
        let body = try #require(((search["requestBody"] as? [String: Any])?["content"] as? [String: Any])?["application/json"] as? [String: Any])
        let schema = try #require(body["schema"] as? [String: Any])
        let properties = try #require(try resolve(schema)["properties"] as? [String: Any])
        expect(try #require(properties["top_k"] as? [String: Any]), Limits.topK, default: Limits.topKDefault, "top_k")
        // Both imports: at most `Limits.importItems` items.
        let text = OpenAPIDocument.yaml
        #expect(text.components(separatedBy: "maxItems: \(Limits.importItems)").count - 1 == 2)
    }
}

/// Each example in the document's schemas is what the server's wire type reads.
@Suite("Contract: schema examples decode into the wire types")
struct SchemaExampleTests {
    /// Every schema with `examples`, and the type that reads its request bodies.
    static let readers: [String: @Sendable (Data) throws -> Void] = [
        "EmployeeInput": { _ = try APIJSON.decode(EmployeeInput.self, from: $0) },
        "PersonInput": { _ = try APIJSON.decode(CreatePersonRequest.self, from: $0) },
        "PersonPatch": { _ = try APIJSON.decode(UpdatePersonRequest.self, from: $0) },
        "ImportItem": { _ = try APIJSON.decode(ImportItem.self, from: $0) },
        // A query parameter's value: what `Request.queryTime` parses.
        "Instant": { data in
            let text = try JSONDecoder().decode(String.self, from: data)
            if Timestamp.parse(text) == nil { throw ServiceError.invalidQuery("instant", text) }
        },
    ]

    @Test func everyExampleDecodes() throws {
        let document = try #require(try Yams.load(yaml: OpenAPIDocument.yaml) as? [String: Any])
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        var withExamples: Set<String> = []
        for (name, schema) in schemas {
            guard let examples = (schema as? [String: Any])?["examples"] as? [Any], !examples.isEmpty else { continue }
            withExamples.insert(name)
            let read = try #require(Self.readers[name], "\(name) has examples but no wire type is named for it")
            for example in examples {
                let data = try JSONSerialization.data(withJSONObject: example, options: .fragmentsAllowed)
                #expect(throws: Never.self, "\(name): \(String(decoding: data, as: UTF8.self).prefix(120))") { try read(data) }
            }
        }
        #expect(withExamples == Set(Self.readers.keys))
    }
}
