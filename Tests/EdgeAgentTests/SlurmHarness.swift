import EdgeAgent
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PodWire
import Testing

/// The development cluster. Tests that need Slurm fail (never skip) when it is not running:
/// CI always starts it with `scripts/dev-cluster.sh start`.
enum SlurmCluster {
    static let ready: Result<Void, SetupFailure> = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        if ProcessInfo.processInfo.environment["SLURM_CONF"] == nil {
            let script = root.appendingPathComponent("scripts/dev-cluster.sh").path
            guard case .success(let result) = CommandRunner.runBlocking(script, ["env"], environment: nil), result.status == 0 else {
                return .failure(SetupFailure(message: "scripts/dev-cluster.sh env failed; start the cluster with scripts/dev-cluster.sh start"))
            }
            for line in result.stdout.split(whereSeparator: \.isNewline) {
                let text = line.replacingOccurrences(of: "export ", with: "")
                let pair = text.split(separator: "=", maxSplits: 1).map(String.init)
                if pair.count == 2 { setenv(pair[0], pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"'")), 1) }
            }
        }
        guard case .success(let sinfo) = CommandRunner.runBlocking("sinfo", ["-h", "-o", "%t"], environment: nil),
              sinfo.status == 0, !sinfo.stdout.isEmpty else {
            return .failure(SetupFailure(message: "sinfo failed: Slurm is not running (scripts/dev-cluster.sh start)"))
        }
        return .success(())
    }()

    struct SetupFailure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    static func require() throws { try ready.get() }

    /// The job as Slurm reports it once it has ended (a moment after its containers on a busy
    /// node); its last report when `timeout` passes first, nil when Slurm does not know it.
    static func ended(_ job: String, timeout: Double = 60) async throws -> BatchJobStatus? {
        let slurm = try SlurmLibrary(logger: .init(label: "t"))
        let deadline = Date().addingTimeInterval(timeout)
        var last = try await slurm.jobs()[job]
        while last?.phase.isTerminal != true, Date() < deadline {
            try await Task.sleep(for: .milliseconds(300))
            last = try await slurm.jobs()[job]
        }
        return last
    }
}

/// An agent on its own temporary data folder, driven through its HTTP router (no socket),
/// with a poller that runs every 0.5 s.
final class TestAgent: Sendable {
    let dataDir: String
    let configuration: AgentConfiguration
    let controller: PodController
    let logger: Logger
    let poller: Task<Void, Never>

    /// `backend`: another batch system than the development cluster's Slurm (the HTCondor
    /// stand-in); nil: Slurm through `access`. `poll`: false runs no poller (the test calls
    /// `controller.pollOnce()` itself, so nothing changes between two of its reads).
    init(runtime: ContainerRuntimeKind = .bwrap, access: SlurmAccess = .library, dataDir: String? = nil,
         backend custom: (any BatchBackend)? = nil, poll: Bool = true,
         configure: (inout AgentConfiguration) -> Void = { _ in }) throws {
        if custom == nil { try SlurmCluster.require() }
        let dir = dataDir ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("dte-agent-test-\(UUID().uuidString.prefix(8))").path
        var configuration = AgentConfiguration()
        configuration.setDataDir(dir)
        configuration.runtime = runtime
        configuration.slurmAccess = access
        configuration.defaultMemoryMiB = 200
        configuration.pollIntervalSeconds = 0.5
        configure(&configuration)
        try FileManager.default.createDirectory(atPath: configuration.workDir, withIntermediateDirectories: true)
        self.dataDir = dir
        self.configuration = configuration
        var logger = Logger(label: "dte-agent-test")
        logger.logLevel = .warning
        let backend: any BatchBackend = custom ?? (access == .library ? SlurmLibrary(logger: logger) : SlurmCLI(logger: logger))
        let controller = try PodController(configuration: configuration, backend: backend,
                                           store: try PodStore.open(stateDir: configuration.stateDir), logger: logger)
        self.controller = controller
        self.logger = logger
        self.poller = Task {
            guard poll else { return }
            try? await controller.recover()
            while !Task.isCancelled {
                await controller.pollOnce()
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    deinit { poller.cancel() }

    func stop() { poller.cancel() }

    /// Sends one request to the agent's router.
    func request(_ method: HTTPRequest.Method, _ path: String, body: Data? = nil) async throws -> (status: Int, body: Data) {
        let app = Application(router: AgentAPI.router(controller: controller, logger: logger))
        return try await app.test(.router) { client in
            try await client.execute(uri: path, method: method, headers: [.contentType: "application/json"],
                                     body: body.map { ByteBuffer(bytes: $0) }) { response in
                (Int(response.status.code), Data(response.body.readableBytesView))
            }
        }
    }

    func create(_ pod: RetrievedPodData) async throws -> String {
        let (status, body) = try await request(.post, "/create", body: try JSONEncoder().encode(pod))
        try #require(status == 200, "create answered \(status): \(String(decoding: body, as: UTF8.self))")
        return try JSONDecoder().decode(CreateResponse.self, from: body).podJID
    }

    func status(_ uids: [String]) async throws -> [PodStatus] {
        let pods = uids.map { Pod(metadata: ObjectMeta(name: "", namespace: "", uid: $0), spec: PodSpec(containers: [])) }
        let (status, body) = try await request(.get, "/status", body: try JSONEncoder().encode(pods))
        try #require(status == 200)
        return try JSONDecoder().decode([PodStatus].self, from: body)
    }

    /// Waits until every container of the pod is terminated; returns the final status.
    func finished(_ uid: String, timeout: Double = 150) async throws -> PodStatus {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let status = try await status([uid]).first,
               !(status.containers + status.initContainers).isEmpty,
               (status.containers + status.initContainers).allSatisfy({ $0.state.terminated != nil }) {
                return status
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw SlurmCluster.SetupFailure(message: "pod \(uid) did not finish within \(Int(timeout)) s")
    }

    /// The pod's status once Slurm has ended its job and the agent's poll (every 0.5 s) has seen
    /// that: why a job ended (cancelled, timed out) is Slurm's to say, a moment after the
    /// containers' own exits on a busy node.
    func ended(_ uid: String, job: String, timeout: Double = 150) async throws -> PodStatus {
        _ = try await finished(uid, timeout: timeout)
        _ = try await SlurmCluster.ended(job)
        try await Task.sleep(for: .milliseconds(1500))
        return try await finished(uid, timeout: timeout)
    }

    func logs(_ uid: String, _ container: String, _ options: LogOptions = LogOptions()) async throws -> (Int, String) {
        let query = LogStruct(namespace: "tests", podUID: uid, podName: "", containerName: container, opts: options)
        let (status, body) = try await request(.get, "/getLogs", body: try JSONEncoder().encode(query))
        return (status, String(decoding: body, as: UTF8.self))
    }

    func podDir(_ uid: String, namespace: String = "tests") -> String { "\(configuration.workDir)/\(namespace)-\(uid)" }
}

extension PodStatus {
    func container(_ name: String) -> ContainerStatus? {
        (containers + initContainers).first { $0.name == name }
    }
    func exitCode(_ name: String) -> Int? { container(name)?.state.terminated?.exitCode }
    func reason(_ name: String) -> String? { container(name)?.state.terminated?.reason }
}

/// One agent shared by the Slurm tests that need no special configuration (they run in parallel).
let sharedAgent: Result<TestAgent, any Error> = Result { try TestAgent() }
func agent() throws -> TestAgent { try sharedAgent.get() }
