import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A scratch repository (the DTE types and the local site), a state file of its own and a real
/// `dte-agent` on a free loopback port submitting to the development cluster's Slurm. Twins get
/// unique names (`e2e-<random>`) because tests share the cluster.
public final class AgentTestbed {
    public let folder: String
    public var repository: String { folder + "/repo" }
    public var statePath: String { folder + "/state.db" }
    public var agentLog: String { folder + "/agent.log" }
    /// The twin this testbed owns: its jobs are named `<twin>.<component>`.
    public let twin: String
    public private(set) var agentURL = ""
    public private(set) var agent: Process?

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Added to the environment of every `dte` this testbed runs (e.g. `DTE_TOKEN`).
    public var environment: [String: String] = [:]

    /// Creates the repository and starts the agent (unless `startingAgent` is false: then call
    /// `startAgent(arguments:)`).
    public init(sourceRoot: String = packageRoot, startingAgent: Bool = true) throws {
        folder = NSTemporaryDirectory() + "dte-e2e-" + UUID().uuidString.prefix(8).lowercased()
        twin = "e2e-" + UUID().uuidString.prefix(6).lowercased()
        let fm = FileManager.default
        try fm.createDirectory(atPath: repository + "/templates/dte", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: repository + "/sites", withIntermediateDirectories: true)
        try "version: 1\n".write(toFile: repository + "/dte.yaml", atomically: true, encoding: .utf8)
        try fm.copyItem(atPath: sourceRoot + "/templates/dte/types.yaml", toPath: repository + "/templates/dte/types.yaml")
        try fm.copyItem(atPath: sourceRoot + "/sites/local.yaml", toPath: repository + "/sites/local.yaml")
        if startingAgent { try startAgent() }
    }

    /// Destroys what the twin created, cancels any job left, stops the agent, removes the folder.
    public func tearDown() {
        if agent?.isRunning == true {
            kill(agent?.processIdentifier ?? 0, SIGCONT)
            _ = try? dte(["apply", "--auto-approve", "--destroy", "--site", "local", "--refresh=false"])
        }
        for job in slurmJobs() {
            _ = try? runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["scancel", String(job.split(separator: " ")[0])], in: folder)
        }
        stopAgent()
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Starts the agent with `arguments` added to the testbed's (its log: `agentLog`).
    /// `scheme`: "https" for an agent given `--tls-cert`/`--tls-key`.
    public func startAgent(arguments: [String] = [], scheme: String = "http") throws {
        let started = try startTestAgent(dataDir: folder + "/agent", arguments: arguments, logFile: agentLog, scheme: scheme)
        agent = started.process
        agentURL = started.url
    }

    public func stopAgent() {
        agent?.terminate()
        agent?.waitUntilExit()
        agent = nil
    }

    /// Freezes the agent (SIGSTOP): connections are accepted by the kernel, nothing answers.
    public func pauseAgent() { agent.map { _ = kill($0.processIdentifier, SIGSTOP) } }
    public func resumeAgent() { agent.map { _ = kill($0.processIdentifier, SIGCONT) } }

    /// Writes `templates/<twin>.yaml`: the twin (project demo, placed on the local site's batch
    /// partition) and the given node templates, indented as in `node_templates`.
    public func writeTwin(components: String) throws {
        let text = """
        tosca_definitions_version: tosca_simple_yaml_1_3
        imports: [dte/types.yaml]
        topology_template:
          node_templates:
            \(twin): { type: dte.nodes.DigitalTwin, properties: { project: demo, source: https://example.org/e2e } }
        \(components)
          policies:
            - here: { type: dte.policies.Placement, properties: { sites: [local], partition: batch }, targets: [\(twin)] }

        """
        try text.write(toFile: repository + "/templates/\(twin).yaml", atomically: true, encoding: .utf8)
    }

    /// A batch job of the twin running `command` with bubblewrap, after the named components.
    public func batchJob(_ name: String, command: [String], after: [String] = []) -> String {
        let quoted = command.map { "'" + $0.replacingOccurrences(of: "'", with: "''") + "'" }.joined(separator: ", ")
        let needs = ([" { twin: \(twin) }"] + after.map { " { after: \($0) }" }).joined(separator: ",")
        return """
            \(name):
              type: dte.nodes.BatchJob
              properties: { image: docker://debian:12, command: [\(quoted)], cpus: 1, memory: 32 MB, walltime: 5 m, runtime: bwrap }
              requirements: [\(needs) ]

        """
    }

    /// `dte` arguments with this testbed's state and agent added where the command takes them.
    public func arguments(_ args: [String]) -> [String] {
        var a = args
        let command = args.first ?? ""
        if ["plan", "apply", "state", "logs", "status", "graph"].contains(command) && !args.contains("--state") {
            a += ["--state", statePath]
        }
        if ["plan", "apply", "logs", "status"].contains(command) && !args.contains("--agent") {
            a += ["--agent", "local=" + agentURL]
        }
        return a
    }

    /// Runs `dte` in the repository to its end.
    @discardableResult
    public func dte(_ args: [String]) throws -> CommandOutput {
        try runCommand(builtExecutable("dte"), arguments(args), in: repository,
                       environment: ["NO_COLOR": "1"].merging(environment) { _, new in new })
    }

    /// Starts `dte` in the repository without waiting for it.
    public func start(_ args: [String]) throws -> RunningCommand {
        try RunningCommand(builtExecutable("dte"), arguments(args), in: repository,
                           environment: ["NO_COLOR": "1"].merging(environment) { _, new in new })
    }

    /// This twin's Slurm jobs (`<id> <name>`) in any state slurmctld still remembers.
    public func slurmJobs() -> [String] {
        let r = try? runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["squeue", "-h", "-t", "all", "-o", "%i %j"], in: NSTemporaryDirectory())
        return (r?.out ?? "").split(separator: "\n").map(String.init).filter { $0.contains(" \(twin).") }
    }

    /// Waits (up to `timeout` seconds) until `condition` holds; whether it did.
    public func eventually(timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return try condition()
    }
}

/// A program started in the background: its output can be read while it runs.
public final class RunningCommand {
    public let process: Process
    private let out: Pipe
    private let errors: PipeReader
    private var seen = Data()

    public init(_ executable: URL, _ arguments: [String], in directory: String, environment: [String: String] = [:]) throws {
        process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        errors = PipeReader(err.fileHandleForReading)
    }

    /// Reads standard output until it contains `text` or ends; what was read so far.
    @discardableResult
    public func read(until text: String) -> String {
        while !String(decoding: seen, as: UTF8.self).contains(text) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += chunk
        }
        return String(decoding: seen, as: UTF8.self)
    }

    /// Waits for the end: exit status and everything printed.
    public func wait() -> CommandOutput {
        seen += out.fileHandleForReading.readDataToEndOfFile()
        let e = errors.wait()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: seen, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}

/// A real `dte-agent` (bubblewrap runtime, partition `batch`, 1 s polls) on a free loopback port.
public struct TestAgentProcess {
    public let process: Process
    public let url: String
}

/// Starts `dte-agent` with its database and pod folders in `dataDir` and `arguments` added;
/// returns once it listens (its log says so) and, over plain HTTP, answers `/healthz` (a port
/// taken by another process is tried again with another). Its standard error goes to `logFile`
/// when given.
public func startTestAgent(dataDir: String, arguments: [String] = [], logFile: String? = nil,
                           scheme: String = "http") throws -> TestAgentProcess {
    for _ in 0..<5 {
        let port = Int.random(in: 20_000...40_000)
        let p = Process()
        p.executableURL = builtExecutable("dte-agent")
        p.arguments = ["serve", "--listen", "127.0.0.1:\(port)", "--data-dir", dataDir, "--runtime", "bwrap",
                       "--partition", "batch", "--poll-interval", "1"] + arguments
        p.standardOutput = FileHandle.nullDevice
        let log = logFile ?? (dataDir + ".agent.log")
        FileManager.default.createFile(atPath: log, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: log) ?? FileHandle.nullDevice
        try p.run()
        let url = "\(scheme)://127.0.0.1:\(port)"
        for _ in 0..<100 {
            let listening = (try? String(contentsOfFile: log, encoding: .utf8))?.contains("dte-agent listening") == true
            if listening, scheme != "http" || agentAnswers(url) { return TestAgentProcess(process: p, url: url) }
            if !p.isRunning { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        p.terminate()
        p.waitUntilExit()
    }
    throw AgentTestbed.Failure(description: "dte-agent did not start")
}

/// Whether the agent at `base` (`http://127.0.0.1:PORT`) answers `/healthz` with 200 within two
/// seconds. A socket of its own, closed before returning: a pooled keep-alive connection (or one
/// the client leaves half-closed) would count against the agent's `max-connections`.
public func agentAnswers(_ base: String) -> Bool {
    guard let port = base.split(separator: ":").last.flatMap({ UInt16($0) }) else { return false }
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    let request = Array("GET /healthz HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n".utf8)
    guard connected == 0, send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return false }
    var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&poller, 1, 2000) > 0 else { return false }
    var buffer = [UInt8](repeating: 0, count: 16)
    let got = recv(fd, &buffer, buffer.count, 0)
    return got > 0 && String(decoding: buffer[0..<got], as: UTF8.self).hasPrefix("HTTP/1.1 200")
}
