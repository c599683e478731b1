import Foundation

/// What the job script recorded for one container (`<kind>-<name>.status`).
public struct ContainerRecord: Sendable, Hashable {
    public var started: Double?
    public var exitCode: Int?
    public var finished: Double?

    /// Parses `started=…`, `exit=…`, `finished=…` lines (times in seconds, `.` or `,` decimals).
    public init(parsing text: String) {
        for line in text.split(whereSeparator: \.isNewline) {
            let pair = line.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { continue }
            let value = pair[1].replacingOccurrences(of: ",", with: ".")
            switch pair[0] {
            case "started": started = Double(value)
            case "exit": exitCode = Int(value)
            case "finished": finished = Double(value)
            default: break
            }
        }
    }

    public init(started: Double? = nil, exitCode: Int? = nil, finished: Double? = nil) {
        self.started = started
        self.exitCode = exitCode
        self.finished = finished
    }

    /// Reads `<podDir>/<prefix>.status`; nil when the container has not started.
    public static func read(podDir: String, prefix: String) -> ContainerRecord? {
        guard let data = FileManager.default.contents(atPath: "\(podDir)/\(prefix).status") else { return nil }
        let record = ContainerRecord(parsing: String(decoding: data, as: UTF8.self))
        return record.started == nil && record.exitCode == nil ? nil : record
    }
}
