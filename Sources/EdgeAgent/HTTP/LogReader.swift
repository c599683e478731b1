import Foundation
import PodWire

/// Reads a container's output file (`<kind>-<name>.out`, one `<epoch-seconds> <line>` per
/// output line) and applies `kubectl logs` options.
public enum LogReader {
    public struct Line: Sendable, Hashable {
        public var time: Double?
        public var text: Substring
    }

    /// Splits complete lines; returns them and the length consumed (a trailing partial line is left).
    public static func parse(_ data: Data) -> (lines: [Line], consumed: Int) {
        var lines: [Line] = []
        var consumed = 0
        let bytes = [UInt8](data)
        var start = 0
        for index in bytes.indices where bytes[index] == 10 {
            let raw = String(decoding: bytes[start..<index], as: UTF8.self)
            if let space = raw.firstIndex(of: " "),
               let time = Double(raw[..<space].replacingOccurrences(of: ",", with: ".")) {
                lines.append(Line(time: time, text: raw[raw.index(after: space)...]))
            } else {
                lines.append(Line(time: nil, text: Substring(raw)))
            }
            start = index + 1
            consumed = start
        }
        return (lines, consumed)
    }

    /// The earliest line time to show, from `SinceSeconds` or `SinceTime`.
    public static func since(_ options: LogOptions, now: Double) -> Double? {
        if let time = options.sinceTime { return time.secondsSince1970 }
        if options.sinceSeconds > 0 { return now - Double(options.sinceSeconds) }
        return nil
    }

    /// Formats lines: since-filter, tail, timestamps. (The byte limit is applied by the caller.)
    public static func render(_ lines: [Line], options: LogOptions, since: Double?, applyTail: Bool) -> Data {
        var selected = lines
        if let since { selected = selected.filter { ($0.time ?? .infinity) >= since } }
        if applyTail, options.tail > 0, selected.count > options.tail { selected = Array(selected.suffix(options.tail)) }
        var out = Data()
        for line in selected {
            if options.timestamps {
                out.append(contentsOf: Array(WireTime(secondsSince1970: line.time ?? 0).rfc3339Nano.utf8))
                out.append(UInt8(ascii: " "))
            }
            out.append(contentsOf: Array(line.text.utf8))
            out.append(10)
        }
        return out
    }

    /// The whole answer for a non-following request.
    public static func read(path: String, options: LogOptions, now: Double) -> Data {
        let data = FileManager.default.contents(atPath: path) ?? Data()
        var (lines, consumed) = parse(data)
        if consumed < data.count {
            // The last line is still being written: show it as it is.
            lines += parse(data.suffix(from: data.startIndex + consumed) + Data([10])).lines
        }
        var out = render(lines, options: options, since: since(options, now: now), applyTail: true)
        if options.limitBytes > 0, out.count > options.limitBytes { out = out.prefix(options.limitBytes) }
        return out
    }
}
