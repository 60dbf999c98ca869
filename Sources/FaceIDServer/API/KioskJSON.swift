import Foundation

/// One employee as kiosks see it; the face keys only when faces were asked for.
struct TimekeeperEmployee: Sendable {
    var id: Int64
    var name: String
    var timekeeperId: String?
    var includeFaces: Bool
    /// The desktop app's form, as UTF-8: a JSON string holding the array, `"[-0.08781787753105164, 0.1, …]"`.
    var faceEncoding: [UInt8]?
    var faceRegisteredAt: String?
    var hasFaceRegistration: Bool

    init(_ synced: KioskSync.Employee, includeFaces: Bool) {
        let employee = synced.employee
        id = employee.record.id!
        name = employee.record.fullName
        timekeeperId = employee.record.timekeeperID
        self.includeFaces = includeFaces
        faceEncoding = synced.encoding.map(KioskJSON.encodingBytes)
        faceRegisteredAt = employee.face.map { Timestamp.format($0.registration) }
        hasFaceRegistration = employee.face != nil
    }
}

/// One entry of the feed: an employee's current state, or a tombstone.
enum Change: Sendable {
    case upsert(TimekeeperEmployee)
    case delete(Int64)
}

struct ChangesPage: Sendable {
    var changes: [Change]
    var nextCursor: String
    var hasMore: Bool
}

/// The kiosk list and feed written straight to bytes. A full sync of 3,000 employees is 3,000 strings of 128 numbers
/// (~7 MB); `JSONEncoder` spent most of its time, this writer a fraction of it.
enum KioskJSON {
    static func array(_ employees: [TimekeeperEmployee]) -> [UInt8] {
        [UInt8(ascii: "[")] + elements(employees, first: true) + [UInt8(ascii: "]")]
    }

    /// Employees as comma-separated array elements, for an array written in parts: a leading comma unless `first`.
    static func elements(_ employees: [TimekeeperEmployee], first: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(employees.count * (employees.first?.includeFaces == true ? 2_800 : 80) + 1)
        for (index, employee) in employees.enumerated() {
            if index > 0 || !first { out.append(UInt8(ascii: ",")) }
            append(employee, to: &out)
        }
        return out
    }

    static func page(_ page: ChangesPage) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(page.changes.count * 2_800 + 100)
        out += Array(#"{"changes":["#.utf8)
        for (index, change) in page.changes.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            switch change {
            case .upsert(let employee):
                out += Array(#"{"op":"upsert","employee":"#.utf8)
                append(employee, to: &out)
                out.append(UInt8(ascii: "}"))
            case .delete(let id):
                out += Array(#"{"op":"delete","employee_id":\#(id)}"#.utf8)
            }
        }
        out += Array(#"],"next_cursor":"#.utf8)
        string(page.nextCursor, to: &out)
        out += Array(#","has_more":\#(page.hasMore)}"#.utf8)
        return out
    }

    private static func append(_ employee: TimekeeperEmployee, to out: inout [UInt8]) {
        out += Array(#"{"id":\#(employee.id),"name":"#.utf8)
        string(employee.name, to: &out)
        out += Array(#","timekeeper_id":"#.utf8)
        optional(employee.timekeeperId, to: &out)
        if employee.includeFaces {
            out += Array(#","face_encoding":"#.utf8)
            if let encoding = employee.faceEncoding {  // digits, signs, dots, exponents, commas, spaces, brackets: nothing to escape
                out.append(UInt8(ascii: "\""))
                out += encoding
                out.append(UInt8(ascii: "\""))
            } else {
                out += Array("null".utf8)
            }
            out += Array(#","face_registered_at":"#.utf8)
            optional(employee.faceRegisteredAt, to: &out)
            out += Array(#","has_face_registration":\#(employee.hasFaceRegistration)"#.utf8)
        }
        out.append(UInt8(ascii: "}"))
    }

    private static func optional(_ text: String?, to out: inout [UInt8]) {
        if let text { string(text, to: &out) } else { out += Array("null".utf8) }
    }

    /// A JSON string: quotes, backslashes and control characters escaped, everything else as UTF-8.
    static func string(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        defer { out.append(UInt8(ascii: "\"")) }
        let plain = !text.utf8.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
        if plain {
            out.append(contentsOf: text.utf8)
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0..<0x20: out += Array(String(format: "\\u%04x", byte).utf8)
            default: out.append(byte)
            }
        }
    }

    /// `[-0.08781787753105164, 0.1, …]`: each number as the shortest text that reads back as the same float64 — what
    /// the kiosk sent comes back unchanged (Python's `repr` writes the same digits), and a float32 encoding from a photo
    /// comes back exactly too.
    static func encodingText(_ values: [Double]) -> String { String(decoding: encodingBytes(values), as: UTF8.self) }

    static func encodingBytes(_ values: [Double]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(values.count * 22 + 2)
        out.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { out += [UInt8(ascii: ","), UInt8(ascii: " ")] }
            out += value.description.utf8  // finite by validation: never "nan" or "inf"
        }
        out.append(UInt8(ascii: "]"))
        return out
    }
}
