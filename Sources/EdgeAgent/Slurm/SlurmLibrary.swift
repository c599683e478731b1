import CSlurm
import Dispatch
import Foundation
import Logging

/// Slurm through libslurm: submission (`slurm_submit_batch_job`) and the job poll
/// (`slurm_load_jobs`) without a process per call; cancel through `slurm_kill_job`.
/// Accounting and capacity go through the CLI. Pods with extra `#SBATCH` flags are
/// submitted through the CLI too (the flags are only known to sbatch's parser).
///
/// libslurm's ABI follows the Slurm release (libslurm.so.38 = 22.05); this is the only file
/// that touches it.
public struct SlurmLibrary: BatchBackend {
    let cli: SlurmCLI
    let environment: [String]
    let logger: Logger
    /// When set, the poll asks slurmctld for this user's jobs only (`slurm_load_job_user`):
    /// an agent with its own account then reads its jobs, not every job of the cluster
    /// (about 2.5 KB each in libslurm's answer; a large site holds 100,000 and more).
    let pollUser: uid_t?

    /// `pollUser` defaults to the agent's account when that is not root: such an agent can
    /// only have submitted jobs as itself. A root agent (which may submit for other users
    /// with `allow-run-as-user`) reads all jobs.
    public init(logger: Logger, environment: [String: String] = SlurmCLI.jobEnvironment(),
                pollUser: uid_t? = SlurmLibrary.ownJobsUser()) {
        self.logger = logger
        self.pollUser = pollUser
        self.cli = SlurmCLI(logger: logger, environment: environment)
        self.environment = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        if let conf = environment["SLURM_CONF"] { setenv("SLURM_CONF", conf, 0) }
        SlurmLibraryQueue.initialize()
    }

    public func submit(_ request: SlurmJobRequest, script: String, scriptPath: String) async throws(AgentError) -> String {
        if !request.extraFlags.isEmpty { return try await cli.submit(request, script: script, scriptPath: scriptPath) }
        let environment = self.environment
        let result: Result<String, AgentError> = await SlurmLibraryQueue.runSubmit {
            Self.submitBlocking(request, script: script, environment: environment)
        }
        return try result.get()
    }

    static func submitBlocking(_ request: SlurmJobRequest, script: String, environment: [String]) -> Result<String, AgentError> {
        var allocated: [UnsafeMutablePointer<CChar>] = []
        func c(_ text: String?) -> UnsafeMutablePointer<CChar>? {
            guard let text, let pointer = strdup(text) else { return nil }
            allocated.append(pointer)
            return pointer
        }
        defer { allocated.forEach { free($0) } }
        var desc = job_desc_msg_t()
        slurm_init_job_desc_msg(&desc)
        desc.name = c(request.name)
        desc.partition = c(request.partition)
        desc.account = c(request.account)
        desc.qos = c(request.qos)
        desc.comment = c(request.comment)
        desc.std_out = c("\(request.workDir)/job.out")
        desc.work_dir = c(request.workDir)
        desc.script = c(script)
        if !request.afterOK.isEmpty { desc.dependency = c("afterok:" + request.afterOK.joined(separator: ":")) }
        if let gres = request.gres { desc.tres_per_node = c("gres:\(gres)") }
        // The request was range-checked when it was built (Limits); these conversions check
        // again so that no request can trap here.
        do throws(AgentError) {
            desc.cpus_per_task = try Checked.exactly(try Checked.inRange(request.cpusPerTask, Limits.cpus, "cpus-per-task"),
                                                     as: UInt16.self, "cpus-per-task")
            desc.pn_min_memory = try Checked.exactly(try Checked.inRange(request.memoryMiB, Limits.memoryMiB, "memory", unit: "MiB"),
                                                     as: UInt64.self, "memory")
            if let minutes = request.timeLimitMinutes {
                desc.time_limit = try Checked.exactly(try Checked.inRange(minutes, 1...(Limits.walltimeSeconds.upperBound / 60),
                                                                          "time limit", unit: "min"),
                                                      as: UInt32.self, "time limit")
            }
            desc.user_id = getuid()
            desc.group_id = getgid()
            if let uid = request.userID {
                desc.user_id = try Checked.exactly(try Checked.inRange(uid, Limits.accountID, "uid"), as: uid_t.self, "uid")
            }
            if let gid = request.groupID {
                desc.group_id = try Checked.exactly(try Checked.inRange(gid, Limits.accountID, "gid"), as: gid_t.self, "gid")
            }
        } catch {
            return .failure(error)
        }
        desc.min_nodes = 1
        desc.max_nodes = 1
        desc.num_tasks = 1
        if request.hold == true { desc.priority = 0 }
        let envPointers = environment.map { c($0) }
        let envArray = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: envPointers.count + 1)
        defer { envArray.deallocate() }
        for (index, pointer) in envPointers.enumerated() { envArray[index] = pointer }
        envArray[envPointers.count] = nil
        desc.environment = envArray
        desc.env_size = UInt32(envPointers.count)

        var response: UnsafeMutablePointer<submit_response_msg_t>?
        let rc = slurm_submit_batch_job(&desc, &response)
        defer { if let response { slurm_free_submit_response_response_msg(response) } }
        guard rc == SLURM_SUCCESS, let response else {
            return .failure(AgentError(.backendFailure, "Slurm refused the job: \(errorText())"))
        }
        return .success(String(response.pointee.job_id))
    }

    static func errorText() -> String {
        let code = slurm_get_errno()
        guard let text = slurm_strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }

    public func cancel(jobID: String) async throws(AgentError) {
        guard let id = UInt32(jobID) else { throw AgentError(.internalFailure, "job id '\(jobID)' is not numeric") }
        let result: Result<Void, AgentError> = await SlurmLibraryQueue.run {
            if slurm_kill_job(id, UInt16(SIGKILL), 0) == SLURM_SUCCESS { return .success(()) }
            let code = slurm_get_errno()
            if code == ESLURM_ALREADY_DONE.rawValue || code == ESLURM_INVALID_JOB_ID.rawValue { return .success(()) }
            return .failure(AgentError(.backendFailure, "cancelling job \(jobID) failed: \(Self.errorText())"))
        }
        try result.get()
    }

    /// The agent's own uid when it is not root, else nil.
    public static func ownJobsUser() -> uid_t? {
        let uid = getuid()
        return uid == 0 ? nil : uid
    }

    public func jobs() async throws(AgentError) -> [String: SlurmJobInfo] {
        let result: Result<JobSnapshot?, AgentError> = await SlurmLibraryQueue.run {
            Self.loadJobs(commentPrefix: nil, since: nil, user: nil)
        }
        return try result.get()?.jobs ?? [:]
    }

    public func jobs(commentPrefix: String) async throws(AgentError) -> [String: SlurmJobInfo] {
        let user = pollUser
        let result: Result<JobSnapshot?, AgentError> = await SlurmLibraryQueue.run {
            Self.loadJobs(commentPrefix: commentPrefix, since: nil, user: user)
        }
        return try result.get()?.jobs ?? [:]
    }

    public func jobs(commentPrefix: String, changedSince since: Double?) async throws(AgentError) -> JobSnapshot? {
        let user = pollUser
        let result: Result<JobSnapshot?, AgentError> = await SlurmLibraryQueue.run {
            Self.loadJobs(commentPrefix: commentPrefix, since: since, user: user)
        }
        return try result.get()
    }

    /// All jobs (or one user's), or those whose comment starts with `commentPrefix` (compared
    /// in C, so the other jobs of a busy cluster cost no Swift objects).
    /// nil when `since` is given and no job changed since then (all jobs only: slurmctld
    /// answers a user's jobs in full every time, which is small).
    static func loadJobs(commentPrefix: String?, since: Double?, user: uid_t?) -> Result<JobSnapshot?, AgentError> {
        var response: UnsafeMutablePointer<job_info_msg_t>?
        if let user {
            guard slurm_load_job_user(&response, user, UInt16(SHOW_ALL)) == SLURM_SUCCESS else {
                return .failure(AgentError(.backendFailure, "slurm_load_job_user failed: \(errorText())"))
            }
        } else {
            guard slurm_load_jobs(time_t(since ?? 0), &response, UInt16(SHOW_ALL)) == SLURM_SUCCESS else {
                if since != nil && slurm_get_errno() == SLURM_NO_CHANGE_IN_DATA.rawValue { return .success(nil) }
                return .failure(AgentError(.backendFailure, "slurm_load_jobs failed: \(errorText())"))
            }
        }
        guard let response else { return .failure(AgentError(.backendFailure, "libslurm returned no job list")) }
        defer { slurm_free_job_info_msg(response) }
        let updated = Double(response.pointee.last_update)
        var jobs: [String: SlurmJobInfo] = [:]
        let count = Int(response.pointee.record_count)
        if commentPrefix == nil { jobs.reserveCapacity(count) }
        guard let array = response.pointee.job_array else { return .success(JobSnapshot(jobs: jobs, updated: updated)) }
        let prefix = commentPrefix.map { Array($0.utf8CString.dropLast()) } ?? []
        for index in 0..<count {
            let job = array[index]
            if commentPrefix != nil {
                guard let comment = job.comment, strncmp(comment, prefix, prefix.count) == 0 else { continue }
            }
            let id = String(job.job_id)
            let base = job.job_state & UInt32(JOB_STATE_BASE)
            let state: SlurmJobInfo.State
            switch base {
            case 0: state = .pending
            case 1: state = (job.job_state & UInt32(1 << 15) /* JOB_COMPLETING */) != 0 ? .completing : .running
            case 2: state = .suspended
            case 3: state = .completed
            case 4: state = .cancelled
            case 5: state = .failed
            case 6: state = .timeout
            case 7: state = .nodeFail
            case 8: state = .preempted
            case 9: state = .bootFail
            case 10: state = .deadline
            case 11: state = .outOfMemory
            default: state = .unknown
            }
            let status = job.exit_code
            let signal = Int(status & 0x7f)
            let exit = Int((status >> 8) & 0xff)
            var reason: String?
            if job.state_reason != 0, let text = slurm_job_reason_string(Int32(job.state_reason)) {
                reason = String(cString: text)
            }
            jobs[id] = SlurmJobInfo(
                jobID: id, state: state,
                exitCode: state.isTerminal ? exit : nil, signal: state.isTerminal ? signal : nil,
                reason: reason, comment: job.comment.map { String(cString: $0) },
                startTime: job.start_time > 0 ? Double(job.start_time) : nil,
                endTime: job.end_time > 0 && state.isTerminal ? Double(job.end_time) : nil)
        }
        return .success(JobSnapshot(jobs: jobs, updated: updated))
    }

    public func accounting(jobIDs: [String]) async throws(AgentError) -> [String: SlurmJobInfo] {
        try await cli.accounting(jobIDs: jobIDs)
    }

    public func capacity() async throws(AgentError) -> ClusterCapacity {
        try await cli.capacity()
    }
}

/// Threads for libslurm calls, off Swift's cooperative pool (the calls block). The job poll
/// and cancels run in order on one queue. Submissions run on a few queues of their own: each
/// is one RPC (a munge credential, a connection, slurmctld's answer), and overlapping them
/// lets slurmctld take the next while one is on the way. libslurm's calls are thread-safe
/// and its error number is per thread; each closure reads it on the thread that failed.
enum SlurmLibraryQueue {
    static let queue = DispatchQueue(label: "dte-agent.libslurm")
    static let submitQueues = (0..<4).map { DispatchQueue(label: "dte-agent.libslurm.submit-\($0)") }
    nonisolated(unsafe) private static var nextSubmit = 0
    private static let submitLock = NSLock()

    static func runSubmit<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        _ = once
        let queue = submitLock.withLock { () -> DispatchQueue in
            nextSubmit = (nextSubmit + 1) % submitQueues.count
            return submitQueues[nextSubmit]
        }
        return await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }

    private static let once: Void = {
        queue.sync { slurm_init(nil) }
    }()

    static func initialize() { _ = once }

    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }
}
