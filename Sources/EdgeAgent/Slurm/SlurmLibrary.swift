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
    let timeouts: BackendTimeouts
    public var schedulerName: String { "Slurm" }

    /// `pollUser` defaults to the agent's account when that is not root: such an agent can
    /// only have submitted jobs as itself. A root agent (which may submit for other users
    /// with `allow-run-as-user`) reads all jobs.
    public init(logger: Logger, environment: [String: String] = SlurmCLI.jobEnvironment(),
                pollUser: uid_t? = SlurmLibrary.ownJobsUser(), timeouts: BackendTimeouts = BackendTimeouts()) {
        self.logger = logger
        self.pollUser = pollUser
        self.timeouts = timeouts
        self.cli = SlurmCLI(logger: logger, environment: environment, timeouts: timeouts)
        self.environment = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        if let conf = environment["SLURM_CONF"] { setenv("SLURM_CONF", conf, 0) }
        SlurmLibraryQueue.initialize()
    }

    public func submit(_ request: BatchJobRequest, script: String, scriptPath: String) async throws(AgentError) -> String {
        if !request.extraFlags.isEmpty { return try await cli.submit(request, script: script, scriptPath: scriptPath) }
        let environment = self.environment
        let comment = request.comment
        let result: Result<String, AgentError> = await SlurmLibraryQueue.runSubmit(timeout: timeouts.call, what: "submission") {
            SlurmLibraryQueue.pending.insert(comment)
            defer { SlurmLibraryQueue.pending.remove(comment) }
            return Self.submitBlocking(request, script: script, environment: environment)
        }
        return try result.get()
    }

    public func submissionPending(comment: String) -> Bool {
        SlurmLibraryQueue.pending.contains(comment)
    }

    static func submitBlocking(_ request: BatchJobRequest, script: String, environment: [String]) -> Result<String, AgentError> {
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
            let nodes = try Checked.exactly(try Checked.inRange(request.nodeCount, Limits.nodes, "nodes"), as: UInt32.self, "nodes")
            desc.min_nodes = nodes
            desc.max_nodes = nodes
            desc.num_tasks = nodes
            if nodes > 1 { desc.ntasks_per_node = 1 }
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
            return .failure(failure("Slurm refused the job"))
        }
        return .success(String(response.pointee.job_id))
    }

    static func errorText() -> String {
        let code = slurm_get_errno()
        guard let text = slurm_strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }

    /// The error for the libslurm call that just failed on this thread: `.unavailable` when
    /// slurmctld could not be reached or did not answer (retry later), else
    /// `.backendFailure`. libslurm's text goes to the log only.
    static func failure(_ what: String) -> AgentError {
        let code = slurm_get_errno()
        let communication: [Int32] = [
            Int32(SLURM_COMMUNICATIONS_CONNECTION_ERROR.rawValue), Int32(SLURM_COMMUNICATIONS_SEND_ERROR.rawValue),
            Int32(SLURM_COMMUNICATIONS_RECEIVE_ERROR.rawValue), Int32(SLURM_COMMUNICATIONS_SHUTDOWN_ERROR.rawValue),
            Int32(SLURMCTLD_COMMUNICATIONS_CONNECTION_ERROR.rawValue), Int32(SLURMCTLD_COMMUNICATIONS_SEND_ERROR.rawValue),
            Int32(SLURMCTLD_COMMUNICATIONS_RECEIVE_ERROR.rawValue), Int32(SLURMCTLD_COMMUNICATIONS_SHUTDOWN_ERROR.rawValue),
            Int32(SLURM_PROTOCOL_SOCKET_IMPL_TIMEOUT.rawValue), Int32(ESLURM_IN_STANDBY_MODE.rawValue),
            Int32(ESLURM_IN_STANDBY_USE_BACKUP.rawValue), Int32(SLURM_PROTOCOL_SOCKET_ZERO_BYTES_SENT.rawValue),
            Int32(SLURM_PROTOCOL_SOCKET_IMPL_ZERO_RECV_LENGTH.rawValue), Int32(ESLURM_PROTOCOL_INCOMPLETE_PACKET.rawValue),
            ECONNREFUSED, ETIMEDOUT, ECONNRESET, EHOSTUNREACH,
        ]
        let detail = "\(what): \(errorText())"
        if communication.contains(code) { return .unavailable("Slurm cannot be reached; retry later", detail: detail) }
        return AgentError(.backendFailure, "\(what); see the agent's log", detail: detail)
    }

    public func cancel(jobID: String) async throws(AgentError) {
        guard let id = UInt32(jobID) else { throw AgentError(.internalFailure, "job id '\(jobID)' is not numeric") }
        let result: Result<Void, AgentError> = await SlurmLibraryQueue.run(timeout: timeouts.call, what: "cancel") {
            if slurm_kill_job(id, UInt16(SIGKILL), 0) == SLURM_SUCCESS { return .success(()) }
            let code = slurm_get_errno()
            if code == ESLURM_ALREADY_DONE.rawValue || code == ESLURM_INVALID_JOB_ID.rawValue { return .success(()) }
            return .failure(Self.failure("cancelling job \(jobID) failed"))
        }
        try result.get()
    }

    /// The agent's own uid when it is not root, else nil.
    public static func ownJobsUser() -> uid_t? {
        let uid = getuid()
        return uid == 0 ? nil : uid
    }

    public func jobs() async throws(AgentError) -> [String: BatchJobStatus] {
        let result: Result<JobSnapshot?, AgentError> = await SlurmLibraryQueue.run(timeout: timeouts.poll, what: "job list") {
            Self.loadJobs(commentPrefix: nil, since: nil, user: nil)
        }
        return try result.get()?.jobs ?? [:]
    }

    public func jobs(commentPrefix: String) async throws(AgentError) -> [String: BatchJobStatus] {
        let user = pollUser
        let result: Result<JobSnapshot?, AgentError> = await SlurmLibraryQueue.run(timeout: timeouts.poll, what: "job list") {
            Self.loadJobs(commentPrefix: commentPrefix, since: nil, user: user)
        }
        return try result.get()?.jobs ?? [:]
    }

    public func jobs(commentPrefix: String, changedSince since: Double?) async throws(AgentError) -> JobSnapshot? {
        let user = pollUser
        let result: Result<JobSnapshot?, AgentError> = await SlurmLibraryQueue.run(timeout: timeouts.poll, what: "job list") {
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
                return .failure(failure("slurm_load_job_user failed"))
            }
        } else {
            guard slurm_load_jobs(time_t(since ?? 0), &response, UInt16(SHOW_ALL)) == SLURM_SUCCESS else {
                if since != nil && slurm_get_errno() == SLURM_NO_CHANGE_IN_DATA.rawValue { return .success(nil) }
                return .failure(failure("slurm_load_jobs failed"))
            }
        }
        guard let response else { return .failure(AgentError(.backendFailure, "libslurm returned no job list")) }
        defer { slurm_free_job_info_msg(response) }
        let updated = Double(response.pointee.last_update)
        var jobs: [String: BatchJobStatus] = [:]
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
            let state = SlurmState(jobState: job.job_state)
            let ended = state.phase.isTerminal
            var reason: String?
            if job.state_reason != 0, let text = slurm_job_reason_string(Int32(job.state_reason)) {
                reason = String(cString: text)
            }
            var status = BatchJobStatus(
                slurmJobID: id, state: state, reason: reason,
                exitCode: ended ? Int((job.exit_code >> 8) & 0xff) : nil, signal: ended ? Int(job.exit_code & 0x7f) : nil,
                comment: job.comment.map { String(cString: $0) },
                startTime: job.start_time > 0 ? Double(job.start_time) : nil,
                endTime: job.end_time > 0 && ended ? Double(job.end_time) : nil,
                submitTime: job.submit_time > 0 ? Double(job.submit_time) : nil,
                userID: Int(job.user_id))
            if job.priority == 0 && state == .pending { status.held = true }
            status.timeLimitMinutes = SlurmState.timeLimitMinutes(job.time_limit)
            status.partition = job.partition.map { String(cString: $0) }
            status.qos = job.qos.map { String(cString: $0) }
            jobs[id] = status
        }
        return .success(JobSnapshot(jobs: jobs, updated: updated))
    }

    public func accounting(jobIDs: [String]) async throws(AgentError) -> [String: BatchJobStatus] {
        try await cli.accounting(jobIDs: jobIDs)
    }

    public func usage(jobIDs: [String]) async throws(AgentError) -> [String: JobUsage] {
        try await cli.usage(jobIDs: jobIDs)
    }

    public func accounting(submittedSince since: Double, userID: Int?) async throws(AgentError) -> [String: BatchJobStatus] {
        try await cli.accounting(submittedSince: since, userID: userID)
    }

    public func capacity() async throws(AgentError) -> ClusterCapacity {
        try await cli.capacity()
    }
}

/// Threads for libslurm calls, off Swift's cooperative pool (the calls block). The job poll
/// and cancels run in order on one queue. Submissions run on queues of their own: each is one
/// RPC (a munge credential, a connection, slurmctld's answer) that mostly waits, and
/// overlapping them lets slurmctld take the next while one is on the way. On the development
/// cluster a C loop of `slurm_submit_batch_job` went from 64 jobs/s on one thread to 320–420
/// on four and 350–830 on sixteen (a loaded machine; bench/agent/RESULTS.md). libslurm's calls are thread-safe
/// and its error number is per thread; each closure reads it on the thread that failed.
///
/// Every call has a deadline: past it the caller gets `.unavailable` while the C call (which
/// cannot be interrupted) finishes in the background; a call still queued when its deadline
/// passes is not started at all. While `maxStuck` calls are past their deadline and still
/// running, new calls fail at once instead of piling up behind them.
enum SlurmLibraryQueue {
    static let queue = DispatchQueue(label: "dte-agent.libslurm")
    static let submitQueues = (0..<16).map { DispatchQueue(label: "dte-agent.libslurm.submit-\($0)") }
    nonisolated(unsafe) private static var nextSubmit = 0
    private static let submitLock = NSLock()
    /// Calls past their deadline whose C call has not returned yet.
    static let stuck = CallCounter()
    static let maxStuck = 8
    /// Comments of submissions whose C call is running.
    static let pending = LockedSet()

    static func runSubmit<T: Sendable>(timeout: Double, what: String,
                                       _ body: @escaping @Sendable () -> Result<T, AgentError>) async -> Result<T, AgentError> {
        _ = once
        let queue = submitLock.withLock { () -> DispatchQueue in
            nextSubmit = (nextSubmit + 1) % submitQueues.count
            return submitQueues[nextSubmit]
        }
        return await run(on: queue, timeout: timeout, what: what, body)
    }

    private static let once: Void = {
        queue.sync { slurm_init(nil) }
    }()

    static func initialize() { _ = once }

    static func run<T: Sendable>(timeout: Double, what: String,
                                 _ body: @escaping @Sendable () -> Result<T, AgentError>) async -> Result<T, AgentError> {
        await run(on: queue, timeout: timeout, what: what, body)
    }

    private static func run<T: Sendable>(on queue: DispatchQueue, timeout: Double, what: String,
                                         _ body: @escaping @Sendable () -> Result<T, AgentError>) async -> Result<T, AgentError> {
        if stuck.value >= maxStuck {
            return .failure(.unavailable("Slurm is not answering (\(stuck.value) calls pending); retry later"))
        }
        let expired = AgentError.unavailable("Slurm did not answer the \(what) within \(String(format: "%g", timeout)) s (backend-timeout); retry later")
        return await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, AgentError>, Never>) in
            let call = DeadlineCall()
            queue.async {
                guard call.start() else { return }
                let result = body()
                if call.finish() { continuation.resume(returning: result) } else { stuck.add(-1) }
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + max(0.01, timeout)) {
                switch call.expire() {
                case .queued: continuation.resume(returning: .failure(expired))
                case .running:
                    stuck.add(1)
                    continuation.resume(returning: .failure(expired))
                case .done, .expired: break
                }
            }
        }
    }
}

/// One libslurm call racing its deadline: whichever ends first answers the caller.
final class DeadlineCall: @unchecked Sendable {
    enum State { case queued, running, done, expired }
    // Guarded by `lock`.
    private let lock = NSLock()
    private var state = State.queued

    /// The worker is about to run the call; false when the deadline already passed.
    func start() -> Bool {
        lock.withLock {
            guard state == .queued else { return false }
            state = .running
            return true
        }
    }

    /// The call returned; true when the caller is still waiting for it.
    func finish() -> Bool {
        lock.withLock {
            guard state == .running else { return false }
            state = .done
            return true
        }
    }

    /// The deadline passed; returns the state it found.
    func expire() -> State {
        lock.withLock {
            let found = state
            if found != .done { state = .expired }
            return found
        }
    }
}

/// A lock-protected count.
final class CallCounter: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func add(_ delta: Int) { lock.withLock { count += delta } }
}

/// A lock-protected set of strings.
final class LockedSet: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var items: Set<String> = []
    func insert(_ item: String) { _ = lock.withLock { items.insert(item) } }
    func remove(_ item: String) { _ = lock.withLock { items.remove(item) } }
    func contains(_ item: String) -> Bool { lock.withLock { items.contains(item) } }
}
