import Foundation

/// What a batch system shows of one job, in terms every backend shares. The scheduler's own
/// words stay with it for users: `detail` (its state name, e.g. Slurm's `NODE_FAIL`, HTCondor's
/// `Held`) and `reason` (why it waits or ended, e.g. `Resources`, a hold reason).
///
/// Everything here was read from a scheduler's answer, so it is bounded where it is set (texts
/// cut, numbers outside their range dropped): no answer can make a status huge or nonsensical.
public struct BatchJobStatus: Sendable, Hashable, Codable {
    /// Where a job is in its life, whatever the scheduler.
    public enum Phase: String, Sendable, Codable, CaseIterable {
        /// Waiting to start: queued, held, waiting for a dependency, requeued.
        case queued
        /// Running, or its processes are ending.
        case running
        /// Stopped by the scheduler, will go on.
        case suspended
        /// Ended with exit code 0.
        case succeeded
        /// Ended with a non-zero exit code or a signal, or could not be started.
        case failed
        /// Removed by a user or an administrator.
        case cancelled
        /// Reached its time limit (or deadline).
        case timedOut
        /// Used more memory than it asked for.
        case outOfMemory
        /// Its node failed while it ran.
        case nodeFailed
        /// Its node did not come up for it.
        case bootFailed
        /// Ended to make room for other work.
        case preempted
        /// A state the agent does not know.
        case unknown

        /// True once the job will not run again.
        public var isTerminal: Bool {
            switch self {
            case .queued, .running, .suspended, .unknown: false
            default: true
            }
        }

        /// True while the job's processes may exist (its status files are worth reading).
        public var mayRun: Bool { self == .running || self == .suspended }

        /// Accepts the phase names, and the Slurm state names earlier versions stored
        /// (`COMPLETED`, `CANCELLED`, …) so that stored usage records still read.
        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            self = Phase(rawValue: text) ?? SlurmState(slurm: text).phase
        }
    }

    /// Where a job that waits for other jobs stands.
    public enum Dependency: String, Sendable, Codable {
        /// At least one job it waits for has not ended yet.
        case waiting = "Dependency"
        /// A job it waits for did not succeed: it will never start on its own.
        case neverSatisfied = "DependencyNeverSatisfied"
        /// Every job it waits for succeeded; it starts once the scheduler (or the backend's
        /// reconcile step) lets it.
        case met = "DependencyMet"
    }

    /// The limits of what is kept from a scheduler's answer.
    public enum Bounds {
        public static let jobID = 64
        public static let reason = 512
        public static let detail = 64
        public static let comment = 512
        public static let path = 4_096
        public static let dependencies = 64
        public static let exitCode = 0...255
        public static let signal = 0...127
        public static let accountID = 0...Int(UInt32.max)
        /// Seconds since 1970: from 1970 to the year 3000.
        public static let time = 0.0...32_503_680_000.0
        /// Minutes (0: no limit, as Slurm's `--time=0`).
        public static let timeLimitMinutes = 0...Int(UInt32.max)
        public static let schedulerName = 128
    }

    public var jobID: String { didSet { jobID = Self.cut(jobID, Bounds.jobID) } }
    public var phase: Phase
    /// Why the job waits or how it ended, in the scheduler's words.
    public var reason: String? { didSet { reason = Self.cut(reason, Bounds.reason) } }
    /// The scheduler's own name for the state (`PENDING`, `NODE_FAIL`, `Held`, …).
    public var detail: String? { didSet { detail = Self.cut(detail, Bounds.detail) } }
    /// The exit code of the job's script, when known (0–255).
    public var exitCode: Int? { didSet { exitCode = Self.within(exitCode, Bounds.exitCode) } }
    /// The signal that ended the job's script, when known (1–127; 0: none).
    public var signal: Int? { didSet { signal = Self.within(signal, Bounds.signal) } }
    /// True while the scheduler holds the job until someone releases it.
    public var held: Bool = false
    /// The jobs it waits for (they must succeed first), when the scheduler tells.
    public var dependencies: [String] = [] {
        didSet { dependencies = Self.cut(dependencies) }
    }
    /// Where its dependencies stand; nil: it waits for none.
    public var dependency: Dependency?
    /// The text the agent gave the job (identifies its pod).
    public var comment: String? { didSet { comment = Self.cut(comment, Bounds.comment) } }
    public var startTime: Double? { didSet { startTime = Self.within(startTime) } }
    public var endTime: Double? { didSet { endTime = Self.within(endTime) } }
    /// When the job was submitted.
    public var submitTime: Double? { didSet { submitTime = Self.within(submitTime) } }
    /// The Unix account the job runs as (only jobs of the agent's account, or of a pod's
    /// `runAsUser`, are ever adopted).
    public var userID: Int? { didSet { userID = Self.within(userID, Bounds.accountID) } }
    /// The job's working directory (from accounting: it identifies a pod's job where the
    /// scheduler stores no comments).
    public var workDir: String? { didSet { workDir = Self.cut(workDir, Bounds.path) } }
    /// The job's time limit now, in minutes (0: none), when the scheduler tells.
    public var timeLimitMinutes: Int? { didSet { timeLimitMinutes = Self.within(timeLimitMinutes, Bounds.timeLimitMinutes) } }
    /// The partition (queue) the job is in now, when the scheduler has partitions.
    public var partition: String? { didSet { partition = Self.cut(partition, Bounds.schedulerName) } }
    /// The job's QoS now, when the scheduler has QoS.
    public var qos: String? { didSet { qos = Self.cut(qos, Bounds.schedulerName) } }

    public init(jobID: String, phase: Phase, reason: String? = nil, detail: String? = nil, exitCode: Int? = nil,
                signal: Int? = nil, comment: String? = nil, startTime: Double? = nil, endTime: Double? = nil,
                submitTime: Double? = nil, userID: Int? = nil, workDir: String? = nil) {
        self.jobID = Self.cut(jobID, Bounds.jobID)
        self.phase = phase
        self.reason = Self.cut(reason, Bounds.reason)
        self.detail = Self.cut(detail, Bounds.detail)
        self.exitCode = Self.within(exitCode, Bounds.exitCode)
        self.signal = Self.within(signal, Bounds.signal)
        self.comment = Self.cut(comment, Bounds.comment)
        self.startTime = Self.within(startTime)
        self.endTime = Self.within(endTime)
        self.submitTime = Self.within(submitTime)
        self.userID = Self.within(userID, Bounds.accountID)
        self.workDir = Self.cut(workDir, Bounds.path)
    }

    /// The scheduler's name for the state, else the phase's: for messages.
    public var stateText: String { detail ?? phase.rawValue }

    /// A job id as the agent tracks it: ASCII digits only, at most 20 (Slurm's array or
    /// heterogeneous job lines `12_3` / `12+1`, and HTCondor's `12.0`, are not).
    public static func isJobID(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 20 && text.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    // MARK: - Bounds

    /// `text`, or its longest start of at most `limit` UTF-8 bytes (whole characters' scalars).
    static func cut(_ text: String, _ limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        var bytes = 0
        var kept = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            bytes += UTF8.width(scalar)
            guard bytes <= limit else { break }
            kept.append(scalar)
        }
        return String(kept)
    }

    static func cut(_ text: String?, _ limit: Int) -> String? {
        text.map { cut($0, limit) }
    }

    static func cut(_ ids: [String]) -> [String] {
        ids.count <= Bounds.dependencies && ids.allSatisfy({ $0.utf8.count <= Bounds.jobID })
            ? ids : ids.prefix(Bounds.dependencies).map { cut($0, Bounds.jobID) }
    }

    static func within(_ value: Int?, _ range: ClosedRange<Int>) -> Int? {
        value.flatMap { range.contains($0) ? $0 : nil }
    }

    static func within(_ value: Double?) -> Double? {
        value.flatMap { $0.isFinite && Bounds.time.contains($0) ? $0 : nil }
    }
}
