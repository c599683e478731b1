import Foundation

/// What one finished job used, as the batch system's accounting reports it (`sacct`,
/// `condor_history`). Base units: seconds, KiB; times are seconds since 1970 (UTC).
public struct JobUsage: Sendable, Hashable, Codable {
    /// The job's final phase.
    public var state: BatchJobStatus.Phase
    public var exitCode: Int?
    public var signal: Int?
    public var submitTime: Double?
    public var startTime: Double?
    public var endTime: Double?
    /// Elapsed wall-clock time.
    public var wallSeconds: Int
    /// CPU time of all its processes (user + system).
    public var cpuSeconds: Int
    /// Cores allocated.
    public var cores: Int
    public var nodes: Int
    /// Peak resident memory of its largest step (process).
    public var maxRSSKiB: Int
    public var gpus: Int
    /// The scheduler's account (Slurm account, HTCondor accounting group).
    public var account: String?
    /// The partition (Slurm) the job ran in.
    public var queue: String?
    /// The nodes it ran on (`NodeList`), for APEL's `MachineName`.
    public var nodeList: String?

    public init(state: BatchJobStatus.Phase, exitCode: Int? = nil, signal: Int? = nil, submitTime: Double? = nil,
                startTime: Double? = nil, endTime: Double? = nil, wallSeconds: Int = 0, cpuSeconds: Int = 0,
                cores: Int = 0, nodes: Int = 0, maxRSSKiB: Int = 0, gpus: Int = 0, account: String? = nil,
                queue: String? = nil, nodeList: String? = nil) {
        self.state = state
        self.exitCode = exitCode
        self.signal = signal
        self.submitTime = submitTime
        self.startTime = startTime
        self.endTime = endTime
        self.wallSeconds = wallSeconds
        self.cpuSeconds = cpuSeconds
        self.cores = cores
        self.nodes = nodes
        self.maxRSSKiB = maxRSSKiB
        self.gpus = gpus
        self.account = account
        self.queue = queue
        self.nodeList = nodeList
    }

    /// Core-seconds: cores × wall time (what an allocation is charged).
    public var coreSeconds: Int { cores.multipliedReportingOverflow(by: wallSeconds).overflow ? Int.max : cores * wallSeconds }
    /// GPU-seconds: GPUs × wall time.
    public var gpuSeconds: Int { gpus.multipliedReportingOverflow(by: wallSeconds).overflow ? Int.max : gpus * wallSeconds }
}

/// The bounds of numbers read from accounting output (hostile: anything the tools print,
/// anything a job could influence). A value outside them is treated as unknown, never trusted.
public enum UsageLimits {
    /// A duration or CPU time in seconds: 1,000 years of 100,000 cores.
    public static let seconds = 0...3_153_600_000_000_000
    /// Cores or nodes of one job.
    public static let count = 0...100_000_000
    /// Memory in KiB: 1 EiB.
    public static let memoryKiB = 0...1_152_921_504_606_846_976
    /// A time (seconds since 1970): before year 2500.
    public static let time = 0.0...16_725_225_600.0
    /// An exit code or a signal.
    public static let exitCode = 0...65_535
    /// Text taken from accounting (account, partition, node list).
    public static let textBytes = 256
}

extension Checked {
    /// A whole number printed by an accounting tool: nil when it is not one or lies outside `range`.
    static func reported(_ text: some StringProtocol, _ range: ClosedRange<Int>) -> Int? {
        guard text.utf8.count <= 24, let value = Int(text), range.contains(value) else { return nil }
        return value
    }

    /// A number (JSON) printed by an accounting tool, as a whole number: nil when not finite or outside `range`.
    static func reported(_ value: Double?, _ range: ClosedRange<Int>) -> Int? {
        guard let value, value.isFinite else { return nil }
        let rounded = value.rounded()
        guard rounded >= Double(range.lowerBound), rounded <= Double(range.upperBound) else { return nil }
        // `upperBound` may round up to 2^something as Double: check the conversion itself.
        guard let whole = Int(exactly: rounded), range.contains(whole) else { return nil }
        return whole
    }

    /// Text from an accounting tool: nil when empty, too long, or holding control characters.
    static func reportedText(_ text: some StringProtocol) -> String? {
        guard !text.isEmpty, text.utf8.count <= UsageLimits.textBytes,
              text.unicodeScalars.allSatisfy({ $0.value >= 32 && $0.value != 127 }) else { return nil }
        return String(text)
    }
}
