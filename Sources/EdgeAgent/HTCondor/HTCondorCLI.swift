import Foundation
import Logging

/// HTCondor through its command-line tools: `condor_submit` per pod, one `condor_q` for all
/// of the agent's jobs per poll, `condor_history` for jobs that left the queue,
/// `condor_rm`, `condor_release` and `condor_status`.
///
/// A pod's job is its runner script (`job.slurm` in the pod folder, without the `#SBATCH`
/// header the Slurm backends read: `BackendKind.jobScript`), run by the vanilla universe on a
/// shared filesystem; the request becomes a submit description written next to it (`job.sub`). HTCondor has no partitions, QoS, job
/// dependencies or submission for another user: partitions, QoS, `runAsUser` and extra sbatch
/// flags are refused with a 422; `dte.io/after` is kept by submitting held and releasing the job
/// (a `reconcile` step) once every dependency completed with exit code 0 (a dependency that
/// failed leaves it pending with `DependencyNeverSatisfied`, as Slurm does).
public struct HTCondorCLI: BatchBackend {
    public var logger: Logger
    /// The environment the tools run with and the job gets (PATH, LANG, HOME, USER).
    public var environment: [String: String]
    /// Where the condor_* tools are; nil: looked up on PATH.
    public var binDir: String?
    /// Deadlines of the tools: the queue and history queries get the poll's.
    public var timeouts: BackendTimeouts
    public var schedulerName: String { "HTCondor" }

    public init(logger: Logger, environment: [String: String] = SlurmCLI.jobEnvironment(), binDir: String? = nil,
                timeouts: BackendTimeouts = BackendTimeouts()) {
        self.logger = logger
        self.timeouts = timeouts
        var env = environment
        env["SLURM_CONF"] = nil
        for key in ["CONDOR_CONFIG", "_CONDOR_SCHEDD_HOST", "_CONDOR_COLLECTOR_HOST"] {
            if let value = ProcessInfo.processInfo.environment[key] { env[key] = value }
        }
        self.environment = env
        self.binDir = binDir
    }

    /// The job ClassAd attributes the agent reads.
    static let attributes = ["ClusterId", "JobStatus", "ExitCode", "ExitBySignal", "ExitSignal", "HoldReason",
                             "HoldReasonCode", "JobCurrentStartDate", "CompletionDate", "EnteredCurrentStatus",
                             "DTEComment", "DTEAfter", "DTESiteHold"]

    func tool(_ name: String) -> String { binDir.map { "\($0)/\(name)" } ?? name }

    func run(_ name: String, _ arguments: [String]) async throws(AgentError) -> CommandResult {
        let poll = name == "condor_q" || name == "condor_history"
        return try await CommandRunner.run(tool(name), arguments, environment: environment,
                                           timeout: poll ? timeouts.poll : timeouts.call)
    }

    static func failure(_ what: String, _ result: CommandResult) -> AgentError {
        // The tool's own words go to the agent's log, not to the caller.
        AgentError(.backendFailure, "\(what) failed (exit \(result.status)); the agent's log has HTCondor's message",
                   detail: result.stderr.isEmpty ? result.stdout : result.stderr)
    }

    // MARK: - Submission

    public func submit(_ request: BatchJobRequest, script: String, scriptPath: String) async throws(AgentError) -> String {
        let description = try Self.submitDescription(request, executable: scriptPath, environment: environment)
        let path = "\(request.workDir)/job.sub"
        guard FileManager.default.createFile(atPath: path, contents: Data(description.utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw AgentError(.storeFailure, "cannot write \(path)")
        }
        let result = try await run("condor_submit", ["-terse", path])
        guard result.status == 0 else { throw Self.failure("condor_submit", result) }
        guard let id = Self.parseTerse(result.stdout) else {
            throw AgentError(.backendFailure, "condor_submit printed no job id", detail: result.stdout)
        }
        return id
    }

    /// `12.0 - 12.0` → `12` (one job per cluster).
    static func parseTerse(_ text: String) -> String? {
        guard let line = text.split(whereSeparator: \.isNewline).last(where: { $0.contains(".") }),
              let first = line.split(separator: " ").first,
              let cluster = first.split(separator: ".").first.map(String.init), BatchJobStatus.isJobID(cluster) else { return nil }
        return cluster
    }

    /// The submit description of a pod's job. It holds none of the pod's own data (its
    /// commands, arguments and environment are in the job script); every value it holds is
    /// written so that HTCondor's parser reads it back unchanged (`submitValue`,
    /// `environmentValue`, `classAdString`), or refused.
    public static func submitDescription(_ request: BatchJobRequest, executable: String,
                                         environment: [String: String]) throws(AgentError) -> String {
        if let partition = request.partition {
            throw AgentError(.unsupported, "HTCondor has no partitions: remove the partition '\(partition)' (dte.io/partition or the agent's partition setting)")
        }
        if let qos = request.qos {
            throw AgentError(.unsupported, "HTCondor has no QoS: remove the QoS '\(qos)' (dte.io/qos or the agent's qos setting)")
        }
        if request.userID != nil {
            throw AgentError(.unsupported, "runAsUser is not supported on an HTCondor site: jobs run as the agent's account")
        }
        if request.nodeCount > 1 {
            throw AgentError(.unsupported, "a job on \(request.nodeCount) nodes is not supported on an HTCondor site (one job runs on one machine)")
        }
        if !request.extraFlags.isEmpty {
            throw AgentError(.unsupported, "sbatch flags (slurm-job.vk.io/flags) do not apply to an HTCondor site: \(request.extraFlags.joined(separator: " "))")
        }
        let cpus = try Checked.inRange(request.cpusPerTask, Limits.cpus, "cpus")
        let memory = try Checked.inRange(request.memoryMiB, Limits.memoryMiB, "memory", unit: "MiB")
        var settings: [(String, String)] = [
            ("universe", "vanilla"),
            ("executable", try submitValue(executable, "the job script's path")),
            ("transfer_executable", "false"),
            ("should_transfer_files", "NO"),
            ("initialdir", try submitValue(request.workDir, "the pod folder")),
            ("output", try submitValue("\(request.workDir)/job.out", "the pod folder")),
            ("error", try submitValue("\(request.workDir)/job.err", "the pod folder")),
            ("batch_name", try submitValue(request.name, "the job name")),
            ("request_cpus", "\(cpus)"),
            ("request_memory", "\(memory)"),
            ("getenv", "false"),
            ("environment", try environmentValue(environment)),
            ("+DTEComment", try submitValue(classAdString(request.comment), "the job comment")),
        ]
        if request.gpus > 0 {
            settings.append(("request_gpus", "\(try Checked.inRange(request.gpus, Limits.gpus, "gpus"))"))
            if let model = request.gpuModel {
                settings.append(("require_gpus", try submitValue("regexp(\(classAdString(model)), DeviceName, \"i\")", "the GPU model")))
            }
        }
        if let account = request.account { settings.append(("accounting_group", try submitValue(account, "the account"))) }
        if let minutes = request.timeLimitMinutes {
            let seconds = try Checked.multiplyAdd(minutes, 60, 0, Limits.walltimeSeconds.lowerBound...(Limits.walltimeSeconds.upperBound + 59),
                                                  "time limit", unit: "s")
            settings.append(("allowed_job_duration", "\(seconds)"))
        }
        if !request.afterOK.isEmpty {
            for id in request.afterOK where !BatchJobStatus.isJobID(id) {
                throw AgentError(.internalFailure, "dependency job id '\(id)' is not numeric")
            }
            settings.append(("+DTEAfter", classAdString(request.afterOK.joined(separator: " "))))
        }
        if request.hold == true { settings.append(("+DTESiteHold", "true")) }
        if request.hold == true || !request.afterOK.isEmpty { settings.append(("hold", "true")) }
        let lines = ["# dte-agent: one pod's job"] + settings.map { "\($0.0) = \($0.1)" } + ["queue 1"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// A value as the submit language reads it back unchanged, or an error naming `what`.
    /// Refused: `$` (it starts a macro — `$(Cluster)`, `$ENV(HOME)`, the match-time `$$(attr)` —
    /// and no escape round-trips: HTCondor expands `$(DOLLAR)` again after substituting it, so
    /// `$(DOLLAR)(DOLLAR)` comes back as `$`), line breaks and NUL bytes (they end the value),
    /// and spaces at either end (dropped).
    static func submitValue(_ text: String, _ what: String) throws(AgentError) -> String {
        if let problem = unsafeForSubmit(text) {
            throw AgentError(.internalFailure, "\(what) '\(String(text.debugDescription.dropFirst().dropLast()).prefix(200))' "
                                + "cannot be written into an HTCondor submit description: \(problem)")
        }
        return text
    }

    /// Why `text` would not come back unchanged from the submit language; nil: it would.
    static func unsafeForSubmit(_ text: String, inEnvironment: Bool = false) -> String? {
        if text.contains("$") { return "HTCondor would expand its `$` as a macro" }
        if text.contains(where: { $0.isNewline || $0 == "\0" }) { return "it holds a line break or a NUL byte" }
        if !inEnvironment, text.first?.isWhitespace == true || text.last?.isWhitespace == true {
            return "HTCondor drops spaces at either end"
        }
        return nil
    }

    /// A ClassAd string literal.
    static func classAdString(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// The submit language's quoted environment (its "new syntax"): `"K='v' K2='a b'"`, a
    /// single quote inside a value doubled, a double quote doubled. A variable whose name is
    /// not letters, digits and `_`, or whose value `unsafeForSubmit` refuses, is an error
    /// naming it.
    static func environmentValue(_ environment: [String: String]) throws(AgentError) -> String {
        var pairs: [String] = []
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) {
            let nameOK = !key.isEmpty
                && key.utf8.allSatisfy { $0 == 95 || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) }
            if let problem = nameOK ? unsafeForSubmit(value, inEnvironment: true) : "its name is not letters, digits and _" {
                throw AgentError(.internalFailure, "the job environment's variable '\(String(key.debugDescription.dropFirst().dropLast()).prefix(100))' "
                                    + "cannot be written into an HTCondor submit description: \(problem)")
            }
            let escaped = value.replacingOccurrences(of: "'", with: "''").replacingOccurrences(of: "\"", with: "\"\"")
            pairs.append("\(key)='\(escaped)'")
        }
        return "\"" + pairs.joined(separator: " ") + "\""
    }

    // MARK: - Cancel

    public func cancel(jobID: String) async throws(AgentError) {
        let result = try await run("condor_rm", [jobID])
        if result.status == 0 { return }
        // Already gone (finished or removed): condor_q no longer lists it.
        let check = try await run("condor_q", ["-allusers", "-json", "-attributes", "ClusterId,JobStatus", jobID])
        if check.status == 0, let jobs = try? Self.parseJobs(check.stdout),
           jobs[jobID] == nil || jobs[jobID]?.phase == .cancelled {
            return
        }
        throw Self.failure("condor_rm \(jobID)", result)
    }

    // MARK: - Polling

    public func jobs() async throws(AgentError) -> [String: BatchJobStatus] {
        try await query(constraint: nil)
    }

    public func jobs(commentPrefix: String) async throws(AgentError) -> [String: BatchJobStatus] {
        try await query(constraint: "substr(DTEComment, 0, \(commentPrefix.utf8.count)) =?= \(Self.classAdString(commentPrefix))")
    }

    /// The queue's jobs; for a job held until its dependencies succeed, where they stand (from
    /// the same answer, else from the history). A read: nothing is released or removed here
    /// (that is `reconcile`).
    func query(constraint: String?) async throws(AgentError) -> [String: BatchJobStatus] {
        var arguments = ["-allusers", "-json", "-attributes", Self.attributes.joined(separator: ",")]
        if let constraint { arguments += ["-constraint", constraint] }
        let result = try await run("condor_q", arguments)
        guard result.status == 0 else { throw Self.failure("condor_q", result) }
        var jobs = try Self.parseJobs(result.stdout)
        let waiting = jobs.values.filter { $0.dependency != nil }
        let unknown = Set(waiting.flatMap(\.dependencies)).filter { jobs[$0] == nil }
        let history = unknown.isEmpty ? [:] : try await accounting(jobIDs: unknown.sorted())
        for job in waiting {
            let verdict = Self.dependency(of: job, from: { jobs[$0] ?? history[$0] })
            jobs[job.jobID]?.dependency = verdict
            jobs[job.jobID]?.reason = verdict.rawValue
        }
        return jobs
    }

    /// Where `job`'s dependencies stand: met when every one succeeded, never satisfied when
    /// one ended otherwise, else waiting (also for one neither the queue nor the history knows).
    static func dependency(of job: BatchJobStatus, from status: (String) -> BatchJobStatus?) -> BatchJobStatus.Dependency {
        let phases = job.dependencies.map { status($0)?.phase }
        if phases.allSatisfy({ $0 == .succeeded }) { return .met }
        if phases.contains(where: { $0.map { $0.isTerminal && $0 != .succeeded } ?? false }) { return .neverSatisfied }
        return .waiting
    }

    // MARK: - Reconcile

    /// HTCondor has no job dependencies and leaves a job held for exceeding its memory or
    /// time in the queue: the agent releases a held job once its dependencies all succeeded
    /// (`condor_release`) and removes jobs held for a reason that ends them (`condor_rm`).
    /// A step another caller already took (the job is no longer held) shows in the next answer.
    public func reconcile(_ jobs: [String: BatchJobStatus]) async throws(AgentError) -> [ReconcileStep] {
        let release = jobs.values.filter { $0.held && $0.dependency == .met }.map(\.jobID).sorted()
        let remove = jobs.values.filter { $0.held && $0.phase.isTerminal }.sorted { $0.jobID < $1.jobID }
        var steps: [ReconcileStep] = []
        if !release.isEmpty {
            let result = try await run("condor_release", release)
            if result.status == 0 {
                steps += release.map { .release(jobID: $0) }
            } else {
                logger.notice("condor_release did not release every job", metadata: ["jobs": "\(release)", "error": "\(result.stderr)"])
            }
        }
        if !remove.isEmpty {
            let result = try await run("condor_rm", remove.map(\.jobID))
            if result.status == 0 {
                steps += remove.map { .remove(jobID: $0.jobID, reason: $0.reason ?? $0.phase.rawValue) }
            } else {
                logger.warning("condor_rm of held jobs failed", metadata: ["jobs": "\(remove.map(\.jobID))", "error": "\(result.stderr)"])
            }
        }
        return steps
    }

    public func accounting(jobIDs: [String]) async throws(AgentError) -> [String: BatchJobStatus] {
        var found: [String: BatchJobStatus] = [:]
        let ids = jobIDs.filter(BatchJobStatus.isJobID)
        for start in stride(from: 0, to: ids.count, by: 200) {
            let chunk = ids[start..<min(start + 200, ids.count)]
            let constraint = chunk.map { "ClusterId == \($0)" }.joined(separator: " || ")
            let result = try await run("condor_history", ["-json", "-attributes", Self.attributes.joined(separator: ","),
                                                          "-constraint", constraint])
            guard result.status == 0 else { throw Self.failure("condor_history", result) }
            for ad in try Self.parseAds(result.stdout, what: "condor_history") {
                if let info = Self.jobStatus(ad) { found[info.jobID] = info }
            }
        }
        return found
    }

    // MARK: - Capacity

    public func capacity() async throws(AgentError) -> ClusterCapacity {
        let result = try await run("condor_status", ["-json", "-attributes",
                                                     "Machine,State,SlotType,PartitionableSlot,Cpus,Memory,GPUs,TotalSlotCpus,TotalSlotMemory,TotalSlotGPUs"])
        guard result.status == 0 else { throw Self.failure("condor_status", result) }
        return try Self.capacity(try Self.parseAds(result.stdout, what: "condor_status"))
    }

    /// Partitionable slots count with what they have left; static slots when unclaimed;
    /// dynamic slots are inside their partitionable slot's totals.
    static func capacity(_ slots: [ClassAd]) throws(AgentError) -> ClusterCapacity {
        var capacity = ClusterCapacity(freeCPUs: 0, freeMemoryMiB: 0, freeGPUs: 0, totalCPUs: 0, totalMemoryMiB: 0,
                                       totalGPUs: 0, nodesUp: 0)
        var machines = Set<String>()
        for slot in slots {
            if let machine = slot["Machine"]?.string { machines.insert(machine) }
            if slot["SlotType"]?.string == "Dynamic" { continue }
            let cpus = slot.int("Cpus") ?? 0, memory = slot.int("Memory") ?? 0, gpus = slot.int("GPUs") ?? 0
            if slot["PartitionableSlot"]?.bool == true || slot["SlotType"]?.string == "Partitionable" {
                capacity.totalCPUs += slot.int("TotalSlotCpus") ?? cpus
                capacity.totalMemoryMiB += slot.int("TotalSlotMemory") ?? memory
                capacity.totalGPUs += slot.int("TotalSlotGPUs") ?? gpus
                capacity.freeCPUs += cpus; capacity.freeMemoryMiB += memory; capacity.freeGPUs += gpus
            } else {
                capacity.totalCPUs += cpus; capacity.totalMemoryMiB += memory; capacity.totalGPUs += gpus
                if slot["State"]?.string == "Unclaimed" {
                    capacity.freeCPUs += cpus; capacity.freeMemoryMiB += memory; capacity.freeGPUs += gpus
                }
            }
        }
        guard !slots.isEmpty else { throw AgentError(.backendFailure, "condor_status listed no slots") }
        capacity.nodesUp = machines.isEmpty ? slots.count : machines.count
        return capacity
    }

    // MARK: - ClassAds

    /// One job or slot ad from `-json` output: attribute name → JSON value.
    struct ClassAd {
        var values: [String: JSONValue]
        subscript(key: String) -> JSONValue? { values[key] }
        func int(_ key: String) -> Int? { values[key]?.int }
    }

    enum JSONValue: Decodable {
        case string(String), number(Double), bool(Bool), other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Bool.self) { self = .bool(value) }
            else if let value = try? container.decode(Double.self) { self = .number(value) }
            else if let value = try? container.decode(String.self) { self = .string(value) }
            else { self = .other }
        }

        var string: String? { if case .string(let s) = self { s } else { nil } }
        var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
        var int: Int? {
            switch self {
            case .number(let n) where n.isFinite && abs(n) < 9.0e18: Int(n)
            case .bool(let b): b ? 1 : 0
            default: nil
            }
        }
    }

    /// `condor_q -json` prints an array of ads, or nothing when no job matches.
    static func parseAds(_ text: String, what: String) throws(AgentError) -> [ClassAd] {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return [] }
        do {
            return try JSONDecoder().decode([[String: JSONValue]].self, from: Data(trimmed.utf8)).map(ClassAd.init)
        } catch {
            throw AgentError(.backendFailure, "\(what) printed JSON the agent cannot read", cause: error)
        }
    }

    static func parseJobs(_ text: String) throws(AgentError) -> [String: BatchJobStatus] {
        var jobs: [String: BatchJobStatus] = [:]
        for ad in try parseAds(text, what: "condor_q") { if let info = jobStatus(ad) { jobs[info.jobID] = info } }
        return jobs
    }

    /// HTCondor's names of its JobStatus numbers (kept as a status's `detail`).
    static let statusNames = [1: "Idle", 2: "Running", 3: "Removed", 4: "Completed", 5: "Held", 6: "Transferring Output",
                              7: "Suspended"]

    /// A job ad in neutral terms. JobStatus: 1 idle, 2 running, 3 removed, 4 completed, 5 held,
    /// 6 transferring output, 7 suspended. Holds that end a job (memory, allowed duration, a
    /// job that cannot start) are final; holds on request (codes 1, 15, 16) wait. A job the
    /// agent submitted held for its dependencies (`DTEAfter`, not held by the site) says so.
    static func jobStatus(_ ad: ClassAd) -> BatchJobStatus? {
        guard let cluster = ad.int("ClusterId"), cluster >= 0 else { return nil }
        let code = ad.int("JobStatus")
        var info = BatchJobStatus(jobID: String(cluster), phase: .unknown, detail: code.flatMap { statusNames[$0] },
                                  comment: ad["DTEComment"]?.string)
        if let start = ad.int("JobCurrentStartDate"), start > 0 { info.startTime = Double(start) }
        if let end = ad.int("CompletionDate"), end > 0 { info.endTime = Double(end) }
        let leftAt = ad.int("EnteredCurrentStatus").map(Double.init)
        switch code {
        case 1: info.phase = .queued
        case 2, 6: info.phase = .running
        case 7: info.phase = .suspended
        case 3:
            info.phase = .cancelled
            info.endTime = info.endTime ?? leftAt
        case 4:
            if ad["ExitBySignal"]?.bool == true {
                info.phase = .failed
                info.signal = ad.int("ExitSignal")
                info.exitCode = info.signal.map { 128 + $0 }
            } else {
                info.exitCode = ad.int("ExitCode")
                info.phase = info.exitCode == 0 ? .succeeded : .failed
                if info.exitCode == nil { info.reason = "HTCondor reported no exit code" }
            }
        case 5:
            info.held = true
            info.reason = ad["HoldReason"]?.string
            switch ad.int("HoldReasonCode") ?? 0 {
            case 1, 15, 16: info.phase = .queued
            case 34: info.phase = .outOfMemory
            case 46, 47: info.phase = .timedOut
            default: info.phase = .failed
            }
            if info.phase.isTerminal { info.endTime = info.endTime ?? leftAt }
            if info.phase == .queued, ad["DTESiteHold"]?.bool != true, let after = ad["DTEAfter"]?.string {
                info.dependencies = after.split(separator: " ").map(String.init).filter(BatchJobStatus.isJobID)
                if !info.dependencies.isEmpty { info.dependency = .waiting }
            }
        default: info.phase = .unknown
        }
        return info
    }
}
