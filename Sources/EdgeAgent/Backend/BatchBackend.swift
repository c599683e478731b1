import Foundation

/// What the agent needs from a batch system. Implementations: `SlurmCLI` (sbatch, squeue,
/// scancel, sacct, scontrol), `SlurmLibrary` (libslurm for submission and the job poll, the
/// CLI for the rest) and `HTCondorCLI` (condor_submit, condor_q, …). Each translates the
/// neutral `BatchJobRequest` into its scheduler's terms and its scheduler's answers into
/// `BatchJobStatus`; Tests/EdgeAgentTests/BackendConformanceTests.swift holds all three to
/// this contract:
///
/// - `submit` returns only once the job exists in the scheduler;
/// - `cancel` may be called more than once, for jobs that already ended and for jobs the
///   scheduler never knew;
/// - `jobs…` and `accounting…` are reads: they change nothing in the scheduler. What a
///   scheduler needs done between polls (HTCondor releases a held job whose dependencies
///   succeeded, removes a job held for a reason that ends it) is `reconcile`, which the poller
///   calls with each answer.
public protocol BatchBackend: Sendable {
    /// The scheduler's name as users know it (`Slurm`, `HTCondor`), for messages.
    var schedulerName: String { get }
    /// Submits `script` (the text of the pod's job script, stored at `scriptPath`) with
    /// `request`; returns the job id.
    func submit(_ request: BatchJobRequest, script: String, scriptPath: String) async throws(AgentError) -> String
    /// Cancels a job; succeeds when the job is already gone or was never known.
    func cancel(jobID: String) async throws(AgentError)
    /// All jobs the scheduler holds in its queue, by job id (one query).
    func jobs() async throws(AgentError) -> [String: BatchJobStatus]
    /// The jobs whose comment starts with `commentPrefix` (one query; the filter may be
    /// applied while reading the answer).
    func jobs(commentPrefix: String) async throws(AgentError) -> [String: BatchJobStatus]
    /// Like `jobs(commentPrefix:)`, but nil when no job changed since `since` (the `updated`
    /// of an earlier answer): the scheduler then sends nothing.
    func jobs(commentPrefix: String, changedSince since: Double?) async throws(AgentError) -> JobSnapshot?
    /// The steps this scheduler needs for the jobs of one answer, carried out; returns what was
    /// done (nothing for a scheduler that needs none). Called by the poller after each answer.
    func reconcile(_ jobs: [String: BatchJobStatus]) async throws(AgentError) -> [ReconcileStep]
    /// Final states from accounting (history) for jobs the queue no longer holds.
    func accounting(jobIDs: [String]) async throws(AgentError) -> [String: BatchJobStatus]
    /// Jobs in accounting submitted since `since` by `userID` (nil: any user), with their
    /// comment and working directory: finds a submission whose answer was lost after the
    /// queue already forgot the job.
    func accounting(submittedSince since: Double, userID: Int?) async throws(AgentError) -> [String: BatchJobStatus]
    /// What the finished jobs among `jobIDs` used, from accounting, in one query; jobs it does
    /// not hold yet (or not as ended) are left out, to be asked again later.
    func usage(jobIDs: [String]) async throws(AgentError) -> [String: JobUsage]
    /// True while a submission with this comment may still reach the scheduler (a call that
    /// passed its deadline but has not returned): the job must not be submitted again yet.
    func submissionPending(comment: String) -> Bool
    /// Free and total resources of the nodes that are up.
    func capacity() async throws(AgentError) -> ClusterCapacity
}

/// One thing a backend did to the scheduler in `reconcile`.
public enum ReconcileStep: Sendable, Hashable, CustomStringConvertible {
    /// A held job whose dependencies all succeeded was released.
    case release(jobID: String)
    /// A job held for a reason that ends it (memory, time limit) was removed from the queue,
    /// so it does not wait there for an administrator.
    case remove(jobID: String, reason: String)

    public var jobID: String {
        switch self {
        case .release(let id), .remove(let id, _): id
        }
    }

    public var description: String {
        switch self {
        case .release(let id): "released \(id)"
        case .remove(let id, let reason): "removed \(id) (\(reason))"
        }
    }
}

/// The jobs of one poll and the scheduler's time of their last change.
public struct JobSnapshot: Sendable {
    public var jobs: [String: BatchJobStatus]
    public var updated: Double
    public init(jobs: [String: BatchJobStatus], updated: Double) {
        self.jobs = jobs
        self.updated = updated
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

extension BatchBackend {
    public func reconcile(_ jobs: [String: BatchJobStatus]) async throws(AgentError) -> [ReconcileStep] { [] }

    public func accounting(submittedSince since: Double, userID: Int?) async throws(AgentError) -> [String: BatchJobStatus] { [:] }

    public func submissionPending(comment: String) -> Bool { false }

    public func usage(jobIDs: [String]) async throws(AgentError) -> [String: JobUsage] { [:] }

    public func jobs(commentPrefix: String) async throws(AgentError) -> [String: BatchJobStatus] {
        try await jobs().filter { $0.value.comment?.hasPrefix(commentPrefix) == true }
    }

    public func jobs(commentPrefix: String, changedSince since: Double?) async throws(AgentError) -> JobSnapshot? {
        JobSnapshot(jobs: try await jobs(commentPrefix: commentPrefix), updated: Date().timeIntervalSince1970)
    }
}
