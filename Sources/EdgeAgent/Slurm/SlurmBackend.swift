import Foundation

/// The state of a Slurm job as the agent needs it.
public struct SlurmJobInfo: Sendable, Hashable, Codable {
    /// Slurm's base job states (`squeue`/`sacct` long names), plus `unknown`.
    public enum State: String, Sendable, Codable {
        case pending = "PENDING", running = "RUNNING", suspended = "SUSPENDED", completing = "COMPLETING"
        case completed = "COMPLETED", failed = "FAILED", cancelled = "CANCELLED", timeout = "TIMEOUT"
        case nodeFail = "NODE_FAIL", outOfMemory = "OUT_OF_MEMORY", preempted = "PREEMPTED"
        case bootFail = "BOOT_FAIL", deadline = "DEADLINE", requeued = "REQUEUED", unknown = "UNKNOWN"

        /// Parses `CANCELLED by 0`, `CD`, `COMPLETED`, … .
        public init(slurm text: String) {
            let word = text.split(separator: " ").first.map(String.init) ?? text
            if let state = State(rawValue: word.uppercased()) { self = state; return }
            switch word.uppercased() {
            case "PD": self = .pending
            case "R": self = .running
            case "S", "ST": self = .suspended
            case "CG", "SO", "SE", "RS", "RH", "RF", "RD", "SI", "RV": self = word.uppercased() == "CG" ? .completing : .running
            case "CD": self = .completed
            case "F": self = .failed
            case "CA": self = .cancelled
            case "TO": self = .timeout
            case "NF": self = .nodeFail
            case "OOM": self = .outOfMemory
            case "PR": self = .preempted
            case "BF": self = .bootFail
            case "DL": self = .deadline
            case "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "SPECIAL_EXIT", "RESV_DEL_HOLD":
                self = .running
            default: self = .unknown
            }
        }

        /// True once the job will not run again.
        public var isTerminal: Bool {
            switch self {
            case .completed, .failed, .cancelled, .timeout, .nodeFail, .outOfMemory, .preempted, .bootFail, .deadline: true
            default: false
            }
        }
    }

    public var jobID: String
    public var state: State
    /// The batch script's exit code, when known.
    public var exitCode: Int?
    /// The signal that ended the batch script, when known.
    public var signal: Int?
    /// Slurm's reason (why pending, why failed).
    public var reason: String?
    public var comment: String?
    public var startTime: Double?
    public var endTime: Double?
    /// The Unix account the job runs as (only jobs of the agent's account, or of a pod's
    /// `runAsUser`, are ever adopted).
    public var userID: Int?
    /// The job's working directory (from accounting: there it identifies a pod's job even
    /// where Slurm does not store comments).
    public var workDir: String?
    /// When the job was submitted (from accounting).
    public var submitTime: Double?

    public init(jobID: String, state: State, exitCode: Int? = nil, signal: Int? = nil, reason: String? = nil,
                comment: String? = nil, startTime: Double? = nil, endTime: Double? = nil, userID: Int? = nil,
                workDir: String? = nil) {
        self.userID = userID
        self.workDir = workDir
        self.jobID = jobID
        self.state = state
        self.exitCode = exitCode
        self.signal = signal
        self.reason = reason
        self.comment = comment
        self.startTime = startTime
        self.endTime = endTime
    }
}

/// Free resources of the cluster (or the agent's partition), for the ping.
public struct ClusterCapacity: Sendable, Hashable, Codable {
    public var freeCPUs: Int
    public var freeMemoryMiB: Int
    public var freeGPUs: Int
    public var totalCPUs: Int
    public var totalMemoryMiB: Int
    public var totalGPUs: Int
    public var nodesUp: Int

    public init(freeCPUs: Int, freeMemoryMiB: Int, freeGPUs: Int, totalCPUs: Int, totalMemoryMiB: Int,
                totalGPUs: Int, nodesUp: Int) {
        self.freeCPUs = freeCPUs
        self.freeMemoryMiB = freeMemoryMiB
        self.freeGPUs = freeGPUs
        self.totalCPUs = totalCPUs
        self.totalMemoryMiB = totalMemoryMiB
        self.totalGPUs = totalGPUs
        self.nodesUp = nodesUp
    }
}

/// Deadlines for calls to the batch system, in seconds (settings `backend-timeout` and
/// `poll-timeout`). A call past its deadline fails as `.unavailable`.
public struct BackendTimeouts: Sendable, Hashable {
    /// Submit, cancel, capacity: what a caller of `/create` or `/delete` waits for.
    public var call: Double
    /// The job poll and accounting queries (larger answers).
    public var poll: Double

    public init(call: Double = 5, poll: Double = 30) {
        self.call = call
        self.poll = poll
    }
}

/// What the agent needs from a batch system. Implementations: `SlurmCLI` (sbatch, squeue,
/// scancel, sacct, scontrol) and `SlurmLibrary` (libslurm for submission and the job poll,
/// the CLI for the rest).
///
/// Contract: `submit` returns only once the job exists in the scheduler; `cancel` may be
/// called more than once and for jobs that already ended; `jobs()` is one query for all
/// jobs the scheduler still holds in memory.
public protocol BatchBackend: Sendable {
    /// Submits `script` (the text of `job.slurm`, stored at `scriptPath`) with `request`;
    /// returns the job id.
    func submit(_ request: BatchJobRequest, script: String, scriptPath: String) async throws(AgentError) -> String
    /// Cancels a job; succeeds when the job is already gone.
    func cancel(jobID: String) async throws(AgentError)
    /// All jobs slurmctld holds, by job id (one query).
    func jobs() async throws(AgentError) -> [String: SlurmJobInfo]
    /// The jobs whose comment starts with `commentPrefix` (one query; the filter may be
    /// applied while reading the answer).
    func jobs(commentPrefix: String) async throws(AgentError) -> [String: SlurmJobInfo]
    /// Like `jobs(commentPrefix:)`, but nil when no job changed since `since` (the `updated`
    /// of an earlier answer): the scheduler then sends nothing.
    func jobs(commentPrefix: String, changedSince since: Double?) async throws(AgentError) -> JobSnapshot?
    /// Final states from accounting (`sacct`) for jobs slurmctld no longer holds.
    func accounting(jobIDs: [String]) async throws(AgentError) -> [String: SlurmJobInfo]
    /// Jobs in accounting submitted since `since` by `userID` (nil: any user), with their
    /// comment and working directory: finds a submission whose answer was lost after
    /// slurmctld already forgot the job.
    func accounting(submittedSince since: Double, userID: Int?) async throws(AgentError) -> [String: SlurmJobInfo]
    /// What the finished jobs among `jobIDs` used, from accounting, in one query; jobs it does
    /// not hold yet (or not as ended) are left out, to be asked again later.
    func usage(jobIDs: [String]) async throws(AgentError) -> [String: JobUsage]
    /// True while a submission with this comment may still reach the scheduler (a call that
    /// passed its deadline but has not returned): the job must not be submitted again yet.
    func submissionPending(comment: String) -> Bool
    /// Free and total resources of the nodes that are up.
    func capacity() async throws(AgentError) -> ClusterCapacity
}

/// The jobs of one poll and the scheduler's time of their last change.
public struct JobSnapshot: Sendable {
    public var jobs: [String: SlurmJobInfo]
    public var updated: Double
    public init(jobs: [String: SlurmJobInfo], updated: Double) {
        self.jobs = jobs
        self.updated = updated
    }
}

extension BatchBackend {
    public func accounting(submittedSince since: Double, userID: Int?) async throws(AgentError) -> [String: SlurmJobInfo] { [:] }

    public func submissionPending(comment: String) -> Bool { false }

    public func usage(jobIDs: [String]) async throws(AgentError) -> [String: JobUsage] { [:] }

    public func jobs(commentPrefix: String) async throws(AgentError) -> [String: SlurmJobInfo] {
        try await jobs().filter { $0.value.comment?.hasPrefix(commentPrefix) == true }
    }

    public func jobs(commentPrefix: String, changedSince since: Double?) async throws(AgentError) -> JobSnapshot? {
        JobSnapshot(jobs: try await jobs(commentPrefix: commentPrefix), updated: Date().timeIntervalSince1970)
    }
}
