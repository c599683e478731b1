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
               let time = Checked.fileNumber(raw[..<space], Limits.fileTime) {
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

    /// The whole answer for a non-following request. The file is opened safely (no
    /// symlink, regular files only) and never read whole: `Tail` reads back from the end in
    /// chunks until it has enough lines, `Bytes` reads forward until it has enough output,
    /// and neither (nor the plain log) returns more than `cap` bytes (the log's last lines).
    public static func read(path: String, options: LogOptions, now: Double, cap: Int = Limits.logResponseBytes) -> Data {
        guard let handle = SafeFile.open(path) else { return Data() }
        let since = since(options, now: now)
        let limit = options.limitBytes > 0 ? min(options.limitBytes, cap) : cap
        if options.limitBytes > 0 && options.tail <= 0 {
            // From the start, a chunk at a time, until the limit is reached.
            var out = Data()
            var offset = 0
            while out.count < limit, offset < handle.size {
                let data = handle.read(at: offset, count: min(chunkBytes, handle.size - offset))
                guard !data.isEmpty else { break }
                var (lines, consumed) = parse(data)
                if consumed == 0 {
                    // One line longer than a chunk, or the unfinished last line: shown as it is.
                    lines = parse(data + Data([10])).lines
                    consumed = data.count
                }
                out += render(lines, options: options, since: since, applyTail: false)
                offset += consumed
            }
            return out.count > limit ? out.prefix(limit) : out
        }
        let start = tailStart(handle, lines: options.tail > 0 ? options.tail : Int.max, maxBytes: cap).offset
        let data = handle.read(at: start, count: min(handle.size - start, cap))
        var (lines, consumed) = parse(data)
        if consumed < data.count {
            // The last line is still being written: show it as it is.
            lines += parse(data.suffix(from: data.startIndex + consumed) + Data([10])).lines
        }
        let out = render(lines, options: options, since: since, applyTail: true)
        // With timestamps a line grows; keep the answer under the cap, ending on whole lines.
        guard out.count > limit else { return out }
        let cut = out.count - limit
        let tail = out.suffix(from: out.startIndex + cut)
        if let newline = tail.firstIndex(of: 10) { return Data(tail.suffix(from: tail.index(after: newline))) }
        return Data(tail)
    }

    /// The size of the chunks logs are read in.
    public static let chunkBytes = 1 << 20

    /// Where the last `lines` lines of a file start, read back from the end in chunks (at
    /// most `maxBytes`, then the first line that starts inside them). `bytesRead` tells how
    /// much was read to find it.
    public static func tailStart(_ handle: SafeFile.Handle, lines: Int, maxBytes: Int,
                                 chunk: Int = 65_536) -> (offset: Int, bytesRead: Int) {
        let size = handle.size
        guard size > 0 else { return (0, 0) }
        // A last line without its newline counts as a line.
        var wanted = lines
        var position = size
        var read = 0
        let last = handle.read(at: size - 1, count: 1)
        read += last.count
        if last.first == 10 { position = size - 1 }  // the final newline ends the last line
        let floor = max(0, size - maxBytes)
        while position > floor {
            let start = max(floor, position - chunk)
            let data = handle.read(at: start, count: position - start)
            read += data.count
            guard data.count == position - start else { break }
            var index = data.endIndex
            while index > data.startIndex {
                index = data.index(before: index)
                if data[index] == 10 {
                    wanted -= 1
                    if wanted == 0 { return (start + (index - data.startIndex) + 1, read) }
                }
            }
            position = start
        }
        if floor == 0 { return (0, read) }
        // The cap was reached: begin at the first whole line inside it.
        let head = handle.read(at: floor, count: min(chunk, size - floor))
        read += head.count
        guard let newline = head.firstIndex(of: 10) else { return (size, read) }
        return (floor + (newline - head.startIndex) + 1, read)
    }
}
