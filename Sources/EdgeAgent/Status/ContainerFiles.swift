import Foundation

/// What the job script recorded for one container (`<kind>-<name>.status`).
public struct ContainerRecord: Sendable, Hashable {
    public var started: Double?
    public var exitCode: Int?
    public var finished: Double?
    /// The kernel's memory cgroup killed the container (`oom=1`, written by the runner only after
    /// a SIGKILL that the cgroup's out-of-memory counter accounts for).
    public var oomKilled = false
    /// What the container's readiness probe last said (`<kind>-<name>.ready`: `1` or `0`); nil
    /// when it has none (a running container is then ready).
    public var ready: Bool?

    /// Parses `started=…`, `exit=…`, `finished=…`, `oom=1` lines (times in seconds, `.` or `,`
    /// decimals); a value that is not a number in range (exit 0–255, times before 2500) is left unset.
    public init(parsing text: String) {
        for line in text.split(whereSeparator: \.isNewline) {
            let pair = line.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { continue }
            let value = pair[1]
            switch pair[0] {
            case "started": started = Checked.fileNumber(value, Limits.fileTime)
            case "exit": exitCode = Checked.fileInt(value, 0...255)
            case "finished": finished = Checked.fileNumber(value, Limits.fileTime)
            case "oom": oomKilled = value == "1"
            default: break
            }
        }
    }

    public init(started: Double? = nil, exitCode: Int? = nil, finished: Double? = nil, oomKilled: Bool = false) {
        self.started = started
        self.exitCode = exitCode
        self.finished = finished
        self.oomKilled = oomKilled
    }

    /// Reads `<podDir>/<prefix>.status`; nil when the container has not started, and when
    /// the file is anything but a short regular file (a symlink, a FIFO, garbage): the job's
    /// user can write the pod folder, so what is there is read as hostile.
    public static func read(podDir: String, prefix: String) -> ContainerRecord? {
        guard let data = SafeFile.read("\(podDir)/\(prefix).status", limit: Limits.statusFileBytes) else { return nil }
        var record = ContainerRecord(parsing: String(decoding: data, as: UTF8.self))
        guard record.started != nil || record.exitCode != nil else { return nil }
        // readiness matters only while the container runs: an ended one is not read for it
        if record.exitCode == nil, let flag = SafeFile.read("\(podDir)/\(prefix).ready", limit: 16) {
            switch String(decoding: flag, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) {
            case "1": record.ready = true
            default: record.ready = false  // anything else a job wrote is read as not ready
            }
        }
        return record
    }
}
