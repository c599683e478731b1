import Foundation
import Logging

/// Slurm through its command-line tools: one `sbatch` per submission (the portable
/// fallback), one `squeue` for all jobs per poll, `scancel`, `sacct` and `scontrol`.
public struct SlurmCLI: BatchBackend {
    public var logger: Logger
    /// The environment sbatch runs with (and the job inherits): a clean one, never the agent's.
    public var environment: [String: String]
    public var timeouts: BackendTimeouts
    public var schedulerName: String { "Slurm" }

    public init(logger: Logger, environment: [String: String] = SlurmCLI.jobEnvironment(),
                timeouts: BackendTimeouts = BackendTimeouts()) {
        self.logger = logger
        self.environment = environment
        self.timeouts = timeouts
    }

    /// Runs one Slurm tool with the call (or poll) deadline.
    func run(_ tool: String, _ arguments: [String], poll: Bool = false) async throws(AgentError) -> CommandResult {
        try await CommandRunner.run(tool, arguments, environment: environment,
                                    timeout: poll ? timeouts.poll : timeouts.call)
    }

    /// The error for a tool that failed: `.unavailable` when it could not reach slurmctld or
    /// slurmdbd (retry later), else `.backendFailure`. Its stderr goes to the log only.
    static func failure(_ what: String, _ result: CommandResult) -> AgentError {
        let text = result.stderr.lowercased()
        let unreachable = ["unable to contact slurm controller", "slurm controller not responding", "socket timed out",
                           "connection refused", "communication connection failure", "slurmdbd", "connect failure"]
        if unreachable.contains(where: text.contains) {
            return .unavailable("Slurm cannot be reached (\(what)); retry later", detail: result.stderr)
        }
        return AgentError(.backendFailure, "\(what) failed; see the agent's log", detail: result.stderr)
    }

    /// A minimal environment for jobs: PATH, LANG, HOME, USER and SLURM_CONF from the agent.
    public static func jobEnvironment() -> [String: String] {
        let agent = ProcessInfo.processInfo.environment
        var env = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"]
        for key in ["HOME", "USER", "LOGNAME", "SLURM_CONF"] { if let value = agent[key] { env[key] = value } }
        if let path = agent["PATH"] { env["PATH"] = path }
        return env
    }

    public func submit(_ request: BatchJobRequest, script: String, scriptPath: String) async throws(AgentError) -> String {
        let result = try await run("sbatch", ["--parsable", scriptPath])
        guard result.status == 0 else { throw Self.failure("sbatch", result) }
        let first = result.stdout.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
        let id = first.split(separator: ";").first.map(String.init) ?? ""
        guard BatchJobStatus.isJobID(id) else {
            throw AgentError(.backendFailure, "sbatch printed no job id", detail: result.stdout)
        }
        return id
    }

    public func cancel(jobID: String) async throws(AgentError) {
        let result = try await run("scancel", [jobID])
        if result.status == 0 { return }
        let message = result.stderr.lowercased()
        if message.contains("invalid job id") || message.contains("already completing or completed")
            || message.contains("job has finished") {
            return
        }
        throw Self.failure("scancel \(jobID)", result)
    }

    public func jobs() async throws(AgentError) -> [String: BatchJobStatus] {
        let result = try await run("squeue", ["-h", "-a", "-t", "all", "-o", "%i|%T|%r|%U|%S|%l|%P|%q|%k"], poll: true)
        guard result.status == 0 else { throw Self.failure("squeue", result) }
        return Self.parseSqueue(result.stdout)
    }

    /// Parses `id|state|reason|uid|start|timelimit|partition|qos|comment` lines (the comment
    /// last: it may hold `|`).
    static func parseSqueue(_ text: String) -> [String: BatchJobStatus] {
        var jobs: [String: BatchJobStatus] = [:]
        let formatter = localTimeFormatter()
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: "|", maxSplits: 8, omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 2, BatchJobStatus.isJobID(fields[0]) else { continue }
            let comment = fields.count > 8 && fields[8] != "(null)" ? fields[8] : nil
            let state = SlurmState(slurm: fields[1])
            // A pending job's `%S` is only the expected start.
            let started = state.phase != .queued && fields.count > 4 ? Self.localTime(fields[4], formatter) : nil
            jobs[fields[0]] = BatchJobStatus(slurmJobID: fields[0], state: state,
                                             reason: fields.count > 2 ? fields[2] : nil, comment: comment, startTime: started,
                                             userID: fields.count > 3 ? Int(fields[3]) : nil)
            if fields.count > 8 {
                jobs[fields[0]]?.timeLimitMinutes = SlurmState.timeLimitMinutes(fields[5])
                jobs[fields[0]]?.partition = fields[6].isEmpty ? nil : fields[6]
                jobs[fields[0]]?.qos = fields[7].isEmpty || fields[7] == "(null)" ? nil : fields[7]
            }
        }
        return jobs
    }

    public func accounting(jobIDs: [String]) async throws(AgentError) -> [String: BatchJobStatus] {
        guard !jobIDs.isEmpty else { return [:] }
        var found: [String: BatchJobStatus] = [:]
        for chunk in stride(from: 0, to: jobIDs.count, by: 500).map({ Array(jobIDs[$0..<min($0 + 500, jobIDs.count)]) }) {
            let result = try await run(
                "sacct", ["-n", "-P", "-X", "-j", chunk.joined(separator: ","), "-o", "JobID,State,ExitCode,Start,End"],
                poll: true)
            guard result.status == 0 else { throw Self.failure("sacct", result) }
            for (id, info) in Self.parseSacct(result.stdout) { found[id] = info }
        }
        return found
    }

    public func accounting(submittedSince since: Double, userID: Int?) async throws(AgentError) -> [String: BatchJobStatus] {
        let start = Self.localTimeText(since)
        let who = userID.map { ["-u", String($0)] } ?? ["-a"]
        let result = try await run(
            // With `-s` the window selects jobs by state during it; without, held jobs (never
            // eligible) would be left out.
            "sacct", ["-n", "-P", "-X", "-S", start, "-E", "now", "-s", "BF,CA,CD,DL,F,NF,OOM,PD,PR,R,RQ,RS,RV,S,TO"] + who
                + ["-o", "JobID,State,ExitCode,Start,End,UID,Submit,WorkDir,Comment"], poll: true)
        guard result.status == 0 else { throw Self.failure("sacct", result) }
        return Self.parseSacct(result.stdout)
    }

    static func localTimeText(_ seconds: Double) -> String {
        localTimeFormatter().string(from: Date(timeIntervalSince1970: seconds))
    }

    /// Parses `JobID|State|ExitCode[|Start|End[|UID|Submit|WorkDir|Comment]]` lines.
    static func parseSacct(_ text: String) -> [String: BatchJobStatus] {
        var jobs: [String: BatchJobStatus] = [:]
        let formatter = localTimeFormatter()
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: "|", maxSplits: 8, omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 3, BatchJobStatus.isJobID(fields[0]) else { continue }
            let codes = fields[2].split(separator: ":", maxSplits: 2).map { Int($0) }
            jobs[fields[0]] = BatchJobStatus(
                slurmJobID: fields[0], state: SlurmState(slurm: fields[1]),
                exitCode: codes.first ?? nil, signal: codes.count > 1 ? codes[1] : nil,
                comment: fields.count > 8 && !fields[8].isEmpty ? fields[8] : nil,
                startTime: fields.count > 3 ? Self.localTime(fields[3], formatter) : nil,
                endTime: fields.count > 4 ? Self.localTime(fields[4], formatter) : nil,
                submitTime: fields.count > 6 ? Self.localTime(fields[6], formatter) : nil,
                userID: fields.count > 5 ? Int(fields[5]) : nil,
                workDir: fields.count > 7 && !fields[7].isEmpty ? fields[7] : nil)
        }
        return jobs
    }

    /// Slurm prints times as local `YYYY-MM-DDTHH:MM:SS`.
    static func localTimeFormatter() -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone.current
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        return formatter
    }

    /// A time Slurm printed (`N/A`, `Unknown`, `None` and garbage: nil).
    static func localTime(_ text: String, _ formatter: DateFormatter = localTimeFormatter()) -> Double? {
        guard text.utf8.count == 19, text.utf8.first.map({ $0 >= 48 && $0 <= 57 }) == true else { return nil }
        return formatter.date(from: text)?.timeIntervalSince1970
    }

    public func capacity() async throws(AgentError) -> ClusterCapacity {
        let result = try await run("scontrol", ["show", "node", "-o"])
        guard result.status == 0 else { throw Self.failure("scontrol show node", result) }
        return try Self.parseNodes(result.stdout)
    }

    static func parseNodes(_ text: String) throws(AgentError) -> ClusterCapacity {
        var capacity = ClusterCapacity(freeCPUs: 0, freeMemoryMiB: 0, freeGPUs: 0, totalCPUs: 0, totalMemoryMiB: 0,
                                       totalGPUs: 0, nodesUp: 0)
        var sawNode = false
        for line in text.split(whereSeparator: \.isNewline) {
            var fields: [String: String] = [:]
            for word in line.split(separator: " ") {
                let pair = word.split(separator: "=", maxSplits: 1)
                if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
            }
            guard fields["NodeName"] != nil else { continue }
            sawNode = true
            let state = (fields["State"] ?? "").uppercased()
            let unavailable = ["DOWN", "DRAIN", "FAIL", "NOT_RESPONDING", "POWERED_DOWN", "INVAL", "FUTURE", "MAINT"]
            if unavailable.contains(where: { state.contains($0) }) { continue }
            let configured = parseTRES(fields["CfgTRES"] ?? "")
            let allocated = parseTRES(fields["AllocTRES"] ?? "")
            capacity.nodesUp += 1
            capacity.totalCPUs += configured.cpu
            capacity.totalMemoryMiB += configured.memoryMiB
            capacity.totalGPUs += configured.gpus
            capacity.freeCPUs += max(0, configured.cpu - allocated.cpu)
            capacity.freeMemoryMiB += max(0, configured.memoryMiB - allocated.memoryMiB)
            capacity.freeGPUs += max(0, configured.gpus - allocated.gpus)
        }
        guard sawNode else { throw AgentError(.backendFailure, "scontrol listed no nodes") }
        return capacity
    }

    /// Parses `cpu=2,mem=8000M,billing=2,gres/gpu=2`.
    static func parseTRES(_ text: String) -> (cpu: Int, memoryMiB: Int, gpus: Int) {
        var cpu = 0, memory = 0, gpus = 0
        for item in text.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { continue }
            switch pair[0] {
            case "cpu": cpu = Int(pair[1]) ?? 0
            case "mem": memory = memoryMiB(pair[1])
            case "gres/gpu": gpus = Int(pair[1]) ?? 0
            default: break
            }
        }
        return (cpu, memory, gpus)
    }

    /// Memory in TRES text (`8000M`, `1.5G`, `512K`, `2T`) in MiB; 0 when not a number or beyond
    /// any real node (a trap-free conversion whatever the text).
    static func memoryMiB(_ text: String) -> Int {
        guard let unit = text.last else { return 0 }
        let factors: [Character: Double] = ["K": 1.0 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024, "P": 1024 * 1024 * 1024]
        let number = unit.isNumber ? Double(text) : Double(text.dropLast())
        guard let value = number, let factor = unit.isNumber ? 1 : factors[unit] else { return 0 }
        let mib = value * factor
        guard mib.isFinite, mib >= 0, mib < Double(Int32.max) * 1024 else { return 0 }
        return Int(mib)
    }
}
