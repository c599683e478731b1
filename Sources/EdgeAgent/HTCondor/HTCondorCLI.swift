import Foundation
import Logging

/// HTCondor through its command-line tools: `condor_submit` per pod, one `condor_q` for all
/// of the agent's jobs per poll, `condor_history` for jobs that left the queue,
/// `condor_rm`, `condor_release` and `condor_status`.
///
/// A pod's job is the same `job.slurm` the Slurm backends submit (its `#SBATCH` lines are
/// comments to bash), run by the vanilla universe on a shared filesystem; the request becomes a
/// submit description written next to it (`job.sub`). HTCondor has no partitions, QoS, job
/// dependencies or submission for another user: partitions, QoS, `runAsUser` and extra sbatch
/// flags are refused with a 422; `dte.io/after` is kept by submitting held and releasing the job
/// once every dependency completed with exit code 0 (a dependency that failed leaves it pending
/// with `DependencyNeverSatisfied`, as Slurm does).
public struct HTCondorCLI: BatchBackend {
    public var logger: Logger
    /// The environment the tools run with and the job gets (PATH, LANG, HOME, USER).
    public var environment: [String: String]
    /// Where the condor_* tools are; nil: looked up on PATH.
    public var binDir: String?
    /// Deadlines of the tools: the queue and history queries get the poll's.
    public var timeouts: BackendTimeouts

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
              let cluster = first.split(separator: ".").first, !cluster.isEmpty, cluster.allSatisfy(\.isNumber) else { return nil }
        return String(cluster)
    }

    /// The submit description of a pod's job. Paths come from the agent (pod folders are named
    /// from validated names and UIDs); values a pod chooses are validated names or numbers.
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
        if !request.extraFlags.isEmpty {
            throw AgentError(.unsupported, "sbatch flags (slurm-job.vk.io/flags) do not apply to an HTCondor site: \(request.extraFlags.joined(separator: " "))")
        }
        for path in [executable, request.workDir] where path.contains(where: { $0.isNewline || $0 == "\"" }) {
            throw AgentError(.internalFailure, "the pod folder '\(path)' cannot be written into a submit description")
        }
        let cpus = try Checked.inRange(request.cpusPerTask, Limits.cpus, "cpus")
        let memory = try Checked.inRange(request.memoryMiB, Limits.memoryMiB, "memory", unit: "MiB")
        var lines = [
            "# dte-agent: pod job \(request.name)",
            "universe = vanilla",
            "executable = \(executable)",
            "transfer_executable = false",
            "should_transfer_files = NO",
            "initialdir = \(request.workDir)",
            "output = \(request.workDir)/job.out",
            "error = \(request.workDir)/job.err",
            "batch_name = \(request.name)",
            "request_cpus = \(cpus)",
            "request_memory = \(memory)",
            "getenv = false",
            "environment = \(environmentValue(environment))",
            "+DTEComment = \(classAdString(request.comment))",
        ]
        if request.gpus > 0 {
            lines.append("request_gpus = \(request.gpus)")
            if let model = request.gpuModel {
                lines.append("require_gpus = regexp(\(classAdString(model)), DeviceName, \"i\")")
            }
        }
        if let account = request.account { lines.append("accounting_group = \(account)") }
        if let minutes = request.timeLimitMinutes {
            let seconds = try Checked.multiplyAdd(minutes, 60, 0, Limits.walltimeSeconds.lowerBound...(Limits.walltimeSeconds.upperBound + 59),
                                                  "time limit", unit: "s")
            lines.append("allowed_job_duration = \(seconds)")
        }
        if !request.afterOK.isEmpty {
            lines.append("+DTEAfter = \(classAdString(request.afterOK.joined(separator: " ")))")
        }
        if request.hold == true { lines.append("+DTESiteHold = true") }
        if request.hold == true || !request.afterOK.isEmpty { lines.append("hold = true") }
        lines.append("queue 1")
        return lines.joined(separator: "\n") + "\n"
    }

    /// A ClassAd string literal.
    static func classAdString(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// The submit language's quoted environment: `"K=V K2='a b'"`, quotes doubled.
    static func environmentValue(_ environment: [String: String]) -> String {
        let pairs = environment.sorted { $0.key < $1.key }.compactMap { key, value -> String? in
            guard !key.isEmpty, !value.contains(where: \.isNewline) else { return nil }
            let escaped = value.replacingOccurrences(of: "'", with: "''").replacingOccurrences(of: "\"", with: "\"\"")
            return "\(key)='\(escaped)'"
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
           jobs[jobID] == nil || jobs[jobID]?.state == .cancelled {
            return
        }
        throw Self.failure("condor_rm \(jobID)", result)
    }

    // MARK: - Polling

    public func jobs() async throws(AgentError) -> [String: SlurmJobInfo] {
        try await query(constraint: nil)
    }

    public func jobs(commentPrefix: String) async throws(AgentError) -> [String: SlurmJobInfo] {
        try await query(constraint: "substr(DTEComment, 0, \(commentPrefix.utf8.count)) =?= \(Self.classAdString(commentPrefix))")
    }

    func query(constraint: String?) async throws(AgentError) -> [String: SlurmJobInfo] {
        var arguments = ["-allusers", "-json", "-attributes", Self.attributes.joined(separator: ",")]
        if let constraint { arguments += ["-constraint", constraint] }
        let result = try await run("condor_q", arguments)
        guard result.status == 0 else { throw Self.failure("condor_q", result) }
        let ads = try Self.parseAds(result.stdout, what: "condor_q")
        var jobs: [String: SlurmJobInfo] = [:]
        var waiting: [(id: String, after: [String])] = []
        var finishedHeld: [String] = []
        for ad in ads {
            guard let info = Self.jobInfo(ad) else { continue }
            jobs[info.jobID] = info
            if Self.waitsForDependencies(ad), let after = ad["DTEAfter"]?.string {
                waiting.append((info.jobID, after.split(separator: " ").map(String.init)))
            }
            if info.state.isTerminal, ad.int("JobStatus") == 5 { finishedHeld.append(info.jobID) }
        }
        if !waiting.isEmpty { try await resolveDependencies(waiting, queue: jobs, into: &jobs) }
        // Held for a reason that ends the pod (memory, duration): remove them, so they do not
        // wait in the queue for an administrator.
        if !finishedHeld.isEmpty {
            let result = try await run("condor_rm", finishedHeld)
            if result.status != 0 { logger.warning("condor_rm of held jobs failed", metadata: ["jobs": "\(finishedHeld)", "error": "\(result.stderr)"]) }
        }
        return jobs
    }

    /// Releases held jobs whose dependencies all completed with exit code 0; marks those with
    /// a failed dependency.
    func resolveDependencies(_ waiting: [(id: String, after: [String])], queue: [String: SlurmJobInfo],
                             into jobs: inout [String: SlurmJobInfo]) async throws(AgentError) {
        let unknown = Set(waiting.flatMap(\.after)).filter { queue[$0] == nil }
        let history = unknown.isEmpty ? [:] : try await accounting(jobIDs: unknown.sorted())
        var release: [String] = []
        for (id, after) in waiting {
            let states = after.map { queue[$0] ?? history[$0] }
            if states.allSatisfy({ $0?.state == .completed }) {
                release.append(id)
                jobs[id]?.reason = nil
            } else if states.contains(where: { $0.map { $0.state.isTerminal && $0.state != .completed } ?? false }) {
                jobs[id]?.reason = "DependencyNeverSatisfied"
            } else {
                jobs[id]?.reason = "Dependency"
            }
        }
        guard !release.isEmpty else { return }
        // Another caller may have released some already; the next poll shows the outcome.
        let result = try await run("condor_release", release)
        if result.status != 0 {
            logger.notice("condor_release did not release every job", metadata: ["jobs": "\(release)", "error": "\(result.stderr)"])
        }
        for id in release { jobs[id]?.state = .pending }
    }

    static func waitsForDependencies(_ ad: ClassAd) -> Bool {
        ad.int("JobStatus") == 5 && ad["DTEAfter"] != nil && ad["DTESiteHold"]?.bool != true
            && [1, 15].contains(ad.int("HoldReasonCode") ?? 15)
    }

    public func accounting(jobIDs: [String]) async throws(AgentError) -> [String: SlurmJobInfo] {
        var found: [String: SlurmJobInfo] = [:]
        let ids = jobIDs.filter { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
        for start in stride(from: 0, to: ids.count, by: 200) {
            let chunk = ids[start..<min(start + 200, ids.count)]
            let constraint = chunk.map { "ClusterId == \($0)" }.joined(separator: " || ")
            let result = try await run("condor_history", ["-json", "-attributes", Self.attributes.joined(separator: ","),
                                                          "-constraint", constraint])
            guard result.status == 0 else { throw Self.failure("condor_history", result) }
            for ad in try Self.parseAds(result.stdout, what: "condor_history") {
                if let info = Self.jobInfo(ad) { found[info.jobID] = info }
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

    static func parseJobs(_ text: String) throws(AgentError) -> [String: SlurmJobInfo] {
        var jobs: [String: SlurmJobInfo] = [:]
        for ad in try parseAds(text, what: "condor_q") { if let info = jobInfo(ad) { jobs[info.jobID] = info } }
        return jobs
    }

    /// HTCondor's job state in the agent's terms. JobStatus: 1 idle, 2 running, 3 removed,
    /// 4 completed, 5 held, 6 transferring output, 7 suspended. Holds that end a job
    /// (memory, allowed duration, a job that cannot start) are final; holds on request wait.
    static func jobInfo(_ ad: ClassAd) -> SlurmJobInfo? {
        guard let cluster = ad.int("ClusterId") else { return nil }
        var info = SlurmJobInfo(jobID: String(cluster), state: .unknown, comment: ad["DTEComment"]?.string)
        if let start = ad.int("JobCurrentStartDate"), start > 0 { info.startTime = Double(start) }
        if let end = ad.int("CompletionDate"), end > 0 { info.endTime = Double(end) }
        switch ad.int("JobStatus") {
        case 1: info.state = .pending
        case 2, 6: info.state = .running
        case 7: info.state = .suspended
        case 3:
            info.state = .cancelled
            info.endTime = info.endTime ?? ad.int("EnteredCurrentStatus").map(Double.init)
        case 4:
            if ad["ExitBySignal"]?.bool == true {
                info.state = .failed
                info.signal = ad.int("ExitSignal")
                info.exitCode = info.signal.map { 128 + $0 }
            } else {
                info.exitCode = ad.int("ExitCode")
                info.state = (info.exitCode ?? 0) == 0 ? .completed : .failed
            }
        case 5:
            let code = ad.int("HoldReasonCode") ?? 0
            info.reason = ad["HoldReason"]?.string
            switch code {
            case 1, 15, 16: info.state = .pending
            case 34: info.state = .outOfMemory
            case 46, 47: info.state = .timeout
            default: info.state = .failed
            }
            if info.state.isTerminal { info.endTime = info.endTime ?? ad.int("EnteredCurrentStatus").map(Double.init) }
        default: info.state = .unknown
        }
        return info
    }
}
