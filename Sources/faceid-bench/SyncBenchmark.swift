import ArgumentParser
import CompressNIO
import Foundation
import NIOCore

/// `faceid-bench sync`: timekeeper kiosks against a running server. One company with N employees, K kiosks (each an
/// API key with scope `kiosk` and a device): 100 concurrent face uploads, full syncs (server time from `Server-Timing`,
/// client time until the last employee is parsed, bytes on the wire) with and without gzip at several page sizes,
/// and delta syncs with nothing changed and with 10 changes.
///
/// The server's sync limits (100 registrations a minute, 10 full syncs an hour per kiosk) are what a company gets;
/// run the benchmark against a server started with them raised (README: Benchmarks).
struct SyncBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sync", abstract: "Kiosk face sync against a running faceid-server.")

    @Option(help: "The server; several nodes of one deployment comma-separated (requests go to each in turn).")
    var url: String = "https://127.0.0.1:8443"
    @Option(help: "CA certificate of the server (empty = system roots).") var caCert: String = "data/tls/cert.pem"
    @Option(help: "File holding the desktop app secret (X-App-Secret).") var appSecretFile: String = "data/app.secret"
    @Option(help: "Employees, each with a face encoding.") var employees: Int = 3000
    @Option(help: "Kiosks.") var kiosks: Int = 5
    @Option(help: "Page sizes of the full sync, comma-separated; `all` = the whole table in one streamed answer (no paging parameters).")
    var pageSizes: String = "all,500,1000"
    @Option(help: "Runs of each measurement (median and spread are reported).") var runs: Int = 5

    func validate() throws {
        guard runs >= 1, kiosks >= 2, employees >= 10 else { throw ValidationError("needs --runs ≥ 1, --kiosks ≥ 2, --employees ≥ 10") }
        guard pageSizes.split(separator: ",").allSatisfy({ $0 == "all" || Int($0).map { (1...1000).contains($0) } == true }) else {
            throw ValidationError("--page-sizes: `all` or 1…1000, comma-separated")
        }
    }

    func run() async throws {
        try await ServerClient.with(url: url, caCert: caCert, connections: 100, measure)
    }

    private func measure(_ server: ServerClient) async throws {
        guard let secret = try? String(contentsOfFile: appSecretFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) else {
            throw ValidationError("cannot read the app secret from \(appSecretFile)")
        }
        let owner = try await server.register("sync")
        let ownerHeaders = ["Authorization": "Bearer \(owner)", "Content-Type": "application/json"]
        let rows = (1...employees).map { ["name": "Employee \(String(format: "%05d", $0)), Test", "timekeeper_id": "TK-\($0)"] }
        let imported = try await server.send(.POST, "/api/employees/import", headers: ownerHeaders,
                                             body: try JSONSerialization.data(withJSONObject: rows))
        guard imported.status == 200 else { throw ValidationError("import: HTTP \(imported.status) \(String(decoding: imported.body, as: UTF8.self))") }
        var kioskHeaders: [[String: String]] = []
        for k in 1...kiosks {
            let key = try await server.send(.POST, "/api-keys", headers: ownerHeaders,
                                            body: try JSONSerialization.data(withJSONObject: ["name": "kiosk \(k)", "scopes": ["kiosk"]]))
            let device = try await server.send(.POST, "/devices", headers: ownerHeaders,
                                               body: try JSONSerialization.data(withJSONObject: ["name": "Kiosk \(k)", "location": "Gate \(k)"]))
            guard let secretKey = key.json["key"] as? String,
                  let deviceID = ((device.json["device"] as? [String: Any])?["id"] as? NSNumber)?.int64Value else {
                throw ValidationError("cannot create kiosk \(k): \(key.status) \(device.status)")
            }
            kioskHeaders.append(["Authorization": "Token \(secretKey)", "X-App-Secret": secret, "X-Timekeeper-Desktop": "true",
                          "X-Device-Id": String(deviceID), "Content-Type": "application/json"])
        }
        let fleet = kioskHeaders
        let ids = try await allIDs(server, fleet[0])
        var table = "### faceid-bench sync (\(employees) employees, \(kiosks) kiosks, \(url))\n\n"

        // Uploads: the first 100 all at once, then the rest from the kiosks in turn.
        var uploads = Phase()
        let start = Measure.now()
        try await server.forEach(Array(ids.prefix(100).enumerated()), concurrency: 100) { item in
            try await upload(server, fleet[item.offset % kiosks], item.element, seed: item.offset)
        } collect: { (reply: ServerClient.Reply) in uploads.record(microseconds: reply.microseconds, status: reply.status) }
        table += "| measurement | median | spread (min–max) | notes |\n|---|---|---|---|\n"
        let burst = uploads.stats(seconds: Double(Measure.now() - start) / 1e9)
        emitJSON(burst.json(["phase": "concurrent_uploads", "concurrency": 100]))
        table += "| 100 concurrent uploads: p50 / p99 latency | \(format(burst.p50)) / \(format(burst.p99)) ms | max \(format(burst.max)) ms | "
            + "\(format(burst.throughput)) uploads/s, errors \(burst.errors) |\n"
        var rest = Phase()
        try await server.forEach(Array(ids.dropFirst(100).enumerated()), concurrency: 8) { item in
            try await upload(server, fleet[item.offset % kiosks], item.element, seed: 100 + item.offset)
        } collect: { (reply: ServerClient.Reply) in rest.record(microseconds: reply.microseconds, status: reply.status) }
        guard rest.errors.isEmpty, burst.errors.isEmpty else { throw ValidationError("uploads failed: \(burst.errors) \(rest.errors)") }

        // Full syncs: every kiosk pages through the whole list, with and without gzip.
        for pageSize in pageSizes.split(separator: ",").map({ Int($0) }) {
            for gzip in [false, true] {
                var server_: [Double] = [], client: [Double] = [], bytes: [Double] = []
                for _ in 1...runs {
                    for kiosk in fleet {
                        let sync = try await fullSync(server, kiosk, pageSize: pageSize, gzip: gzip)
                        server_.append(sync.serverMs)
                        client.append(sync.clientMs)
                        bytes.append(Double(sync.bytes))
                    }
                }
                let label = "full sync, " + (pageSize.map { "page_size \($0)" } ?? "whole table") + (gzip ? ", gzip" : "")
                emitJSON(["phase": "full_sync", "page_size": pageSize ?? 0, "gzip": gzip, "server_ms_median": Measure.median(server_),
                          "client_ms_median": Measure.median(client), "bytes": Measure.median(bytes), "syncs": client.count])
                // A streamed answer's Server-Timing is written with its headers, before the body: only the client time counts there.
                if pageSize != nil {
                    table += "| \(label): server time | \(format(Measure.median(server_))) ms | \(format(server_.min()!))–\(format(server_.max()!)) ms | "
                        + "\(client.count) syncs (\(runs) runs × \(kiosks) kiosks) |\n"
                }
                table += "| \(label): client time (until parsed) | \(format(Measure.median(client))) ms | "
                    + "\(format(client.min()!))–\(format(client.max()!)) ms | \(format(Measure.median(bytes) / 1e6, 2)) MB on the wire |\n"
            }
        }

        // Deltas: nothing changed, then 10 changes.
        let cursor = try await snapshotCursor(server, fleet[0])
        var emptyServer: [Double] = [], emptyClient: [Double] = []
        for _ in 1...(runs * 20) {
            let reply = try await server.send(.GET, "/api/employees/timekeeper/changes/?cursor=\(cursor)", headers: fleet[0])
            guard reply.status == 200, (reply.json["changes"] as? [Any])?.isEmpty == true else { throw ValidationError("delta: \(reply.status)") }
            emptyServer.append(reply.serverMilliseconds ?? .nan)
            emptyClient.append(Double(reply.microseconds) / 1000)
        }
        table += "| delta, nothing changed: server time | \(format(Measure.median(emptyServer), 2)) ms | "
            + "\(format(emptyServer.min()!, 2))–\(format(emptyServer.max()!, 2)) ms | client \(format(Measure.median(emptyClient), 2)) ms, \(emptyClient.count) requests |\n"
        var tenServer: [Double] = [], tenClient: [Double] = []
        var from = cursor
        for run in 1...runs {
            for (n, id) in ids.suffix(10).enumerated() { _ = try await upload(server, fleet[1], id, seed: 10_000 * run + n) }
            let reply = try await server.send(.GET, "/api/employees/timekeeper/changes/?cursor=\(from)", headers: fleet[0])
            guard (reply.json["changes"] as? [Any])?.count == 10, let next = reply.json["next_cursor"] as? String else {
                throw ValidationError("delta with 10 changes: \(reply.status) \(String(decoding: reply.body.prefix(200), as: UTF8.self))")
            }
            from = next
            tenServer.append(reply.serverMilliseconds ?? .nan)
            tenClient.append(Double(reply.microseconds) / 1000)
        }
        table += "| delta, 10 changes: server time | \(format(Measure.median(tenServer), 2)) ms | "
            + "\(format(tenServer.min()!, 2))–\(format(tenServer.max()!, 2)) ms | client \(format(Measure.median(tenClient), 2)) ms |\n"
        emitJSON(["phase": "delta", "empty_server_ms_median": Measure.median(emptyServer), "ten_server_ms_median": Measure.median(tenServer)])
        print(table)
    }

    private func upload(_ server: ServerClient, _ kiosk: [String: String], _ id: Int64, seed: Int) async throws -> ServerClient.Reply {
        var random = SeededRandom(seed: UInt64(seed + 1))
        let values = (0..<128).map { _ in Double(random.next() % 20_000) / 100_000 - 0.1 }
        let text = "[" + values.map { String($0) }.joined(separator: ", ") + "]"
        return try await server.send(.POST, "/api/employees/\(id)/face/", headers: kiosk,
                                     body: try JSONSerialization.data(withJSONObject: ["face_encoding": text]))
    }

    private func allIDs(_ server: ServerClient, _ kiosk: [String: String]) async throws -> [Int64] {
        let reply = try await server.send(.GET, "/api/employees/timekeeper/?page_size=1000&page=1", headers: kiosk)
        var ids: [Int64] = []
        var page = 1
        var current = reply
        while true {
            let rows = (try? JSONSerialization.jsonObject(with: current.body)) as? [[String: Any]] ?? []
            ids += rows.compactMap { ($0["id"] as? NSNumber)?.int64Value }
            guard current.headers.first(name: "Link") != nil else { break }
            page += 1
            current = try await server.send(.GET, "/api/employees/timekeeper/?page_size=1000&page=\(page)", headers: kiosk)
        }
        return ids
    }

    /// A kiosk's full sync: every page with faces (or the whole table in one answer when `pageSize` is nil); server time is
    /// the sum of the pages' `Server-Timing`.
    private func fullSync(_ server: ServerClient, _ kiosk: [String: String], pageSize: Int?, gzip: Bool) async throws
        -> (serverMs: Double, clientMs: Double, bytes: Int) {
        var headers = kiosk
        if gzip { headers["Accept-Encoding"] = "gzip" }
        var serverMs = 0.0, bytes = 0, page = 1, employeesSeen = 0
        let start = Measure.now()
        while true {
            let query = pageSize.map { "&page_size=\($0)&page=\(page)" } ?? ""
            let reply = try await server.send(.GET, "/api/employees/timekeeper/?include_faces=true" + query, headers: headers)
            guard reply.status == 200 else { throw ValidationError("full sync: HTTP \(reply.status) \(String(decoding: reply.body.prefix(200), as: UTF8.self))") }
            serverMs += reply.serverMilliseconds ?? .nan
            bytes += reply.body.count
            var body = reply.body
            if reply.headers.first(name: "Content-Encoding") == "gzip" {
                var buffer = ByteBuffer(bytes: reply.body)
                body = Data(try buffer.decompress(with: .gzip()).readableBytesView)
            }
            let rows = (try JSONSerialization.jsonObject(with: body)) as? [[String: Any]] ?? []
            employeesSeen += rows.filter { $0["face_encoding"] is String }.count
            guard reply.headers.first(name: "Link") != nil else { break }
            page += 1
        }
        guard employeesSeen == employees else { throw ValidationError("full sync saw \(employeesSeen) faces, expected \(employees)") }
        return (serverMs, Double(Measure.now() - start) / 1e6, bytes)
    }

    private func snapshotCursor(_ server: ServerClient, _ kiosk: [String: String]) async throws -> String {
        var cursor: String?
        var more = true
        while more {
            let reply = try await server.send(.GET, "/api/employees/timekeeper/changes/?limit=1000" + (cursor.map { "&cursor=\($0)" } ?? ""),
                                              headers: kiosk)
            cursor = reply.json["next_cursor"] as? String
            more = reply.json["has_more"] as? Bool == true
        }
        guard let cursor else { throw ValidationError("no cursor") }
        return cursor
    }
}
