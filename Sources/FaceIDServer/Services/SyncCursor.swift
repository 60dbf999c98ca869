import Foundation

/// A sync cursor: opaque to kiosks (base64url), a feed sequence number on the server — never a client clock.
enum SyncCursor: Equatable {
    /// After every change up to `seq`.
    case delta(companyID: Int64, seq: Int64)
    /// Inside a snapshot taken at `startSeq`, after employee `afterID`.
    case snapshot(companyID: Int64, startSeq: Int64, afterID: Int64)

    var companyID: Int64 {
        switch self {
        case .delta(let companyID, _), .snapshot(let companyID, _, _): companyID
        }
    }

    var text: String {
        let plain = switch self {
        case .delta(let companyID, let seq): "e.\(companyID).\(seq)"
        case .snapshot(let companyID, let startSeq, let afterID): "t.\(companyID).\(startSeq).\(afterID)"
        }
        return Data(plain.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    init?(_ text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard text.count <= 100, let data = Data(base64Encoded: base64), let plain = String(data: data, encoding: .utf8) else { return nil }
        let parts = plain.split(separator: ".", omittingEmptySubsequences: false)
        let numbers = parts.dropFirst().compactMap { Int64($0) }
        guard numbers.count == parts.count - 1, numbers.allSatisfy({ $0 >= 0 }) else { return nil }
        switch (parts.first, numbers.count) {
        // `e.`/`t.` number the one feed (migration v10); the `d.`/`s.` cursors of the kiosk feed before it are unknown
        // (410: the kiosk runs a full sync once).
        case ("e", 2): self = .delta(companyID: numbers[0], seq: numbers[1])
        case ("t", 3): self = .snapshot(companyID: numbers[0], startSeq: numbers[1], afterID: numbers[2])
        default: return nil
        }
    }
}
