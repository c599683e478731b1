import Foundation
import Logging

/// Where the agent listens.
public enum ListenAddress: Sendable, Hashable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    /// Parses `HOST:PORT`, `[V6]:PORT` or `unix:///PATH`.
    public init?(_ text: String) {
        if text.hasPrefix("unix://") {
            let path = String(text.dropFirst("unix://".count))
            guard path.hasPrefix("/") else { return nil }
            self = .unix(path: path)
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self = .tcp(host: host, port: port)
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix://\(path)"
        }
    }
}

/// The container runtime a pod's containers run under on the compute node.
public enum ContainerRuntimeKind: String, Sendable, CaseIterable, Codable {
    case apptainer, singularity, enroot, podman, bwrap, none
}

/// The batch system behind the agent.
public enum BackendKind: String, Sendable, CaseIterable, Codable {
    case slurm, htcondor
}

/// How the agent talks to Slurm: through libslurm (no process per job) or the CLI tools.
public enum SlurmAccess: String, Sendable, CaseIterable, Codable {
    case library, cli
}

/// Everything a site configures about its agent. Built from defaults, then the YAML config
/// file, then command-line flags (each later source overrides the earlier).
public struct AgentConfiguration: Sendable, Hashable {
    public var listen: ListenAddress = .tcp(host: "127.0.0.1", port: 4555)
    /// The SQLite database folder (local disk: SQLite is unsafe on NFS/Lustre).
    public var stateDir: String = "/var/lib/dte-agent"
    /// Pod folders; must be visible to the compute nodes (the shared filesystem).
    public var workDir: String = "/var/lib/dte-agent/pods"
    public var backend: BackendKind = .slurm
    public var slurmAccess: SlurmAccess = .library
    public var runtime: ContainerRuntimeKind = .apptainer
    public var partition: String?
    public var account: String?
    public var qos: String?
    /// `--mem` for pods that request no memory, in MiB.
    public var defaultMemoryMiB: Int = 1024
    /// `--cpus-per-task` for pods that request no cpu.
    public var defaultCPUs: Int = 1
    /// `--time` for pods without a deadline, in seconds (nil: the partition's default).
    public var defaultWalltimeSeconds: Int?
    /// Prefix for image names that are neither absolute paths nor carry a scheme.
    public var imagePrefix: String = "docker://"
    /// Folder of the condor_* tools (backend htcondor); nil: looked up on PATH.
    public var htcondorBinDir: String?
    /// Options for apptainer/singularity before the image (interLink's defaults).
    public var apptainerOptions: [String] = ["--nv", "--no-eval", "--containall"]
    /// Extra `#SBATCH` flags (by name, e.g. `--constraint`) pods may set through the
    /// `slurm-job.vk.io/flags` annotation. Empty: the annotation is refused.
    public var allowedSbatchFlags: [String] = []
    /// Host folders that `hostPath` volumes may mount (and their subfolders). Empty: none.
    public var allowedHostPaths: [String] = []
    /// Whether a pod's `runAsUser` is honoured (it never is when false: jobs run as the agent).
    public var allowRunAsUser: Bool = false
    /// How long a finished pod's folder and record are kept, in seconds.
    public var retentionSeconds: Int = 7 * 86_400
    /// How often the poller queries Slurm, in seconds.
    public var pollIntervalSeconds: Double = 3
    /// Deadlines of batch-system calls (`backend-timeout`: submit, cancel, capacity, default
    /// 5 s; `poll-timeout`: the job poll and accounting, default 30 s). Past one, `/create`
    /// and `/delete` answer 503 with `Retry-After` and the poller tries again.
    public var backendTimeouts = BackendTimeouts()
    /// The most pods the agent tracks at once, active and finished (the ping reports the rest as free `pods`).
    public var maxPods: Int = 10_000
    /// Submit every job held (`--hold`): Slurm queues it but starts it only after
    /// `scontrol release`. For maintenance windows and submission benchmarks.
    public var holdJobs: Bool = false
    /// Log level name (trace, debug, info, notice, warning, error, critical).
    public var logLevel: String = "info"

    public init() {}

    /// Sets both folders from one data folder: `DIR` for the database, `DIR/pods` for pods.
    public mutating func setDataDir(_ dir: String) {
        stateDir = dir
        workDir = (dir as NSString).appendingPathComponent("pods")
    }

    /// Checks that values make sense together; the message says which setting to fix.
    public func validate() throws(AgentError) {
        guard defaultMemoryMiB > 0 else { throw AgentError(.badRequest, "default-memory must be positive") }
        guard defaultCPUs > 0 else { throw AgentError(.badRequest, "default-cpus must be positive") }
        guard pollIntervalSeconds > 0 else { throw AgentError(.badRequest, "poll-interval must be positive") }
        for name in [partition, account, qos].compactMap({ $0 }) where !PodValidation.isSlurmName(name) {
            throw AgentError(.badRequest, "'\(name)' is not a valid Slurm partition/account/QoS name")
        }
        for flag in allowedSbatchFlags where !flag.hasPrefix("--") || flag.contains("=") {
            throw AgentError(.badRequest, "allowed-sbatch-flags entries are long flag names like '--constraint', not '\(flag)'")
        }
        for path in allowedHostPaths where !path.hasPrefix("/") {
            throw AgentError(.badRequest, "allowed-host-paths entries must be absolute, not '\(path)'")
        }
        if backend == .htcondor {
            if partition != nil || qos != nil {
                throw AgentError(.badRequest, "backend htcondor has no partitions or QoS: remove the partition and qos settings")
            }
            if !allowedSbatchFlags.isEmpty {
                throw AgentError(.badRequest, "allowed-sbatch-flags applies to Slurm only, not to backend htcondor")
            }
            if allowRunAsUser {
                throw AgentError(.badRequest, "allow-run-as-user is supported with backend slurm only")
            }
        }
        if let dir = htcondorBinDir, !dir.hasPrefix("/") {
            throw AgentError(.badRequest, "htcondor-bin-dir must be an absolute path, not '\(dir)'")
        }
    }
}

extension AgentConfiguration {
    /// The batch-system client these settings ask for.
    public func makeBackend(logger: Logger) -> any BatchBackend {
        switch backend {
        case .slurm: slurmAccess == .library ? SlurmLibrary(logger: logger, timeouts: backendTimeouts)
            : SlurmCLI(logger: logger, timeouts: backendTimeouts)
        case .htcondor: HTCondorCLI(logger: logger, binDir: htcondorBinDir, timeouts: backendTimeouts)
        }
    }
}
