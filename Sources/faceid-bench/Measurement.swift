import CMalloc
import Foundation

/// Wall-clock timing and summary statistics for benchmark figures.
enum Measure {
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Seconds taken by `body`.
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = now()
        try body()
        return Double(now() - start) / 1e9
    }

    /// The q-quantile (0...1) of `values` by nearest rank.
    static func quantile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))]
    }

    static func median(_ values: [Double]) -> Double { quantile(values, 0.5) }

    /// Resident set size of this process, in bytes (Linux `/proc/self/status` VmRSS).
    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
            return kb * 1024
        }
        return 0
    }

    /// Bytes of the C heap in use (glibc `mallinfo2`: small allocations plus the chunks malloc mapped itself). Swift's
    /// arrays live here; LMDB's memory map does not (its pages are the kernel's, counted in RSS only).
    static func heapBytes() -> Int {
        let info = mallinfo2()
        return Int(info.uordblks + info.hblkhd)
    }

    /// A plain read of `bytes` bytes of floats (a SIMD sum), on `threads` threads splitting the range: what an exact scan
    /// of the same bytes could reach at best. Returns milliseconds (median of `runs`).
    static func memoryReadMS(_ floats: UnsafeBufferPointer<Float>, threads: Int, runs: Int = 7) -> Double {
        let parts = max(1, threads), chunk = (floats.count / 16 + parts - 1) / parts * 16
        var times: [Double] = []
        let sink = UnsafeMutablePointer<Float>.allocate(capacity: parts)
        defer { sink.deallocate() }
        nonisolated(unsafe) let out = sink
        nonisolated(unsafe) let floats = floats
        for _ in 0..<runs {
            times.append(seconds {
                DispatchQueue.concurrentPerform(iterations: parts) { p in
                    let start = min(floats.count, p * chunk), end = min(floats.count, start + chunk)
                    var acc = SIMD16<Float>()
                    let raw = UnsafeRawPointer(floats.baseAddress! + start)
                    var i = 0
                    while i + 16 <= end - start {
                        acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                        i += 16
                    }
                    out[p] = acc.sum()
                }
            } * 1000)
        }
        return median(times)
    }

    /// Bytes actually allocated on disk for the files in `directory`.
    static func diskBytes(_ directory: String) -> Int {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var total = 0
        for f in files {
            var st = stat()
            if stat(directory + "/" + f, &st) == 0 { total += Int(st.st_blocks) * 512 }
        }
        return total
    }
}

/// Prints progress on stderr.
func progress(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Prints one JSON object per line on stdout.
func emitJSON(_ object: [String: Any]) {
    if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
        print(String(decoding: data, as: UTF8.self))
    }
}

func format(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }
