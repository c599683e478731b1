import Foundation

/// The bounds of every number the agent takes from a pod, a file it reads or a setting.
/// Each is well inside what the next consumer holds (Slurm's 16- and 32-bit fields, `Int`),
/// so a value that passes can be converted and multiplied without a trap.
public enum Limits {
    /// CPUs of one pod (`--cpus-per-task`; Slurm holds it in 16 bits).
    public static let cpus = 1...10_000
    /// Memory of one pod in MiB (1 PiB).
    public static let memoryMiB = 1...1_073_741_824
    /// GPUs of one pod.
    public static let gpus = 0...1_024
    /// Nodes of one pod's job (`--nodes`).
    public static let nodes = 1...4_096
    /// A pod's walltime in seconds (`activeDeadlineSeconds`, `dte.io/walltime`): 365 days.
    public static let walltimeSeconds = 1...(365 * 86_400)
    /// A file mode in a volume (`defaultMode`, `items[].mode`): permission bits only, no
    /// setuid, setgid or sticky bit.
    public static let fileMode = 0...0o777
    /// A Unix uid or gid another account's job may use (uid_t is 32 bits; -1 means "none").
    public static let accountID = 1...4_294_967_294
    /// How long finished pods are kept (`retention`), in seconds: 10 years.
    public static let retentionSeconds = 0...(3_650 * 86_400)
    /// Seconds between polls (`poll-interval`).
    public static let pollIntervalSeconds = 0.05...3_600.0
    /// Pods tracked at once (`max-pods`).
    public static let maxPods = 1...10_000_000
    /// A status file the job writes (`<kind>-<name>.status`): a few short lines.
    public static let statusFileBytes = 4_096
    /// What the agent reads of `job.out` to recognise a memory kill.
    public static let jobOutputBytes = 65_536
    /// What one `/getLogs` answer (or one follow) returns at most.
    public static let logResponseBytes = 16 * 1_024 * 1_024
    /// A job script the agent reads back (recovery after a restart).
    public static let scriptBytes = 16 * 1_024 * 1_024
    /// A time in a file the job writes (seconds since 1970): before year 2500.
    public static let fileTime = 0.0...16_725_225_600.0
}

/// Checked conversions for numbers that come from outside: each returns the value when it
/// lies in its bounds and otherwise throws an error naming the field and the bounds (a 400
/// for a pod, a start-up error for a setting). Nothing here can trap.
public enum Checked {
    /// `value` when it lies in `range`.
    public static func inRange(_ value: Int, _ range: ClosedRange<Int>, _ field: String, unit: String = "",
                               code: AgentError.Code = .invalidPod) throws(AgentError) -> Int {
        guard range.contains(value) else { throw outOfRange(field, "\(value)", range, unit: unit, code: code) }
        return value
    }

    /// A whole number from a fractional one (a quantity), rounded up, when it lies in `range`.
    public static func roundedUp(_ value: Double, _ range: ClosedRange<Int>, _ field: String, unit: String = "",
                                 code: AgentError.Code = .invalidPod) throws(AgentError) -> Int {
        let up = value.rounded(.up)
        // The bounds are far below 2^53, so they are exact as Double; NaN fails both tests.
        guard up >= Double(range.lowerBound), up <= Double(range.upperBound) else {
            throw outOfRange(field, "\(value)", range, unit: unit, code: code)
        }
        return Int(up)
    }

    /// A decimal whole number in `range` (a setting, an annotation, a file).
    public static func parse(_ text: some StringProtocol, _ range: ClosedRange<Int>, _ field: String, unit: String = "",
                             code: AgentError.Code = .invalidPod) throws(AgentError) -> Int {
        guard let value = Int(text) else {
            let digits = !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber }
            if digits { throw outOfRange(field, String(text), range, unit: unit, code: code) }
            throw AgentError(code, "\(field): '\(text)' is not a whole number")
        }
        return try inRange(value, range, field, unit: unit, code: code)
    }

    /// `a * b + c` when it lies in `range` (durations: days × 86400 + seconds).
    public static func multiplyAdd(_ a: Int, _ b: Int, _ c: Int = 0, _ range: ClosedRange<Int>, _ field: String,
                                   unit: String = "", code: AgentError.Code = .invalidPod) throws(AgentError) -> Int {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        let (sum, overflow2) = product.addingReportingOverflow(c)
        guard !overflow, !overflow2 else { throw outOfRange(field, "\(a)×\(b)+\(c)", range, unit: unit, code: code) }
        return try inRange(sum, range, field, unit: unit, code: code)
    }

    /// A file mode from a pod (`defaultMode`, `items[].mode`): permission bits 0–0777 only.
    public static func fileMode(_ mode: Int, _ field: String) throws(AgentError) -> Int {
        guard Limits.fileMode.contains(mode) else {
            throw AgentError.invalid("\(field) \(mode) (octal \(String(mode, radix: 8, uppercase: false))) is not a "
                                        + "file mode: permission bits 0 to 0777 (511) only, no setuid, setgid or sticky bit")
        }
        return mode
    }

    /// `value` as the fixed-width integer a C API takes, when it fits.
    public static func exactly<T: FixedWidthInteger>(_ value: Int, as type: T.Type, _ field: String,
                                                     code: AgentError.Code = .internalFailure) throws(AgentError) -> T {
        guard let converted = T(exactly: value) else {
            throw AgentError(code, "\(field) \(value) does not fit \(T.min)…\(T.max)")
        }
        return converted
    }

    /// A number in a file the job wrote (hostile: the job's user controls it): nil when it
    /// is not a number or lies outside `range`.
    public static func fileNumber(_ text: some StringProtocol, _ range: ClosedRange<Double>) -> Double? {
        guard text.utf8.count <= 64, let value = Double(text.replacingOccurrences(of: ",", with: ".")),
              range.contains(value) else { return nil }
        return value
    }

    /// A whole number in a file the job wrote: nil when not one or outside `range`.
    public static func fileInt(_ text: some StringProtocol, _ range: ClosedRange<Int>) -> Int? {
        guard text.utf8.count <= 24, let value = Int(text.trimmingCharacters(in: .whitespaces)),
              range.contains(value) else { return nil }
        return value
    }

    static func outOfRange(_ field: String, _ value: String, _ range: ClosedRange<Int>, unit: String,
                           code: AgentError.Code) -> AgentError {
        let u = unit.isEmpty ? "" : " \(unit)"
        return AgentError(code, "\(field): \(value)\(u) is out of range (allowed: \(range.lowerBound) to \(range.upperBound)\(u))")
    }
}
