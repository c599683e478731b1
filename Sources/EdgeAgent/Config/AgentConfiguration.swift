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

    public var isUnix: Bool {
        if case .unix = self { return true }
        return false
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

/// How a pod folder is laid out: DTE's own, or also the files interLink's Slurm plugin writes
/// (`job.sh`, `JobID.jid`, `PodUID.uid`, `PodNamespace.ns`) so that a site's scripts keep working.
public enum PodLayout: String, Sendable, CaseIterable, Codable {
    case dte, interlink
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
    /// The pod folder's layout (`layout`: dte, or interlink for the plugin's extra files).
    public var layout: PodLayout = .dte
    /// The shell of `job.slurm` (`bash-path`; it must be bash: the runner uses its features).
    public var bashPath: String = "/bin/bash"
    /// The runtime's program (`runtime-path`, e.g. `/opt/apptainer/bin/apptainer`); nil: its name on PATH.
    public var runtimePath: String?
    /// Options of `enroot start` (`enroot-options`, interLink's `EnrootDefaultOptions`).
    public var enrootStartOptions: [String] = ["--rw"]
    /// Whether `slurm-job.vk.io/pre-exec` (shell run in the job before the containers) is honoured.
    public var allowPreExec: Bool = false
    /// Options pods may add through `slurm-job.vk.io/singularity-options`.
    public var allowedSingularityOptions: [String] = ["--nv", "--rocm", "--cleanenv", "--contain", "--containall", "--no-home",
                                                      "--writable-tmpfs", "--no-init", "--no-eval", "--compat", "--no-umask"]
    /// Options pods may add through `slurm-job.vk.io/enroot-options`.
    public var allowedEnrootOptions: [String] = ["--rw"]
    /// The site's flavors (interLink's `Flavors`), picked with `slurm-job.vk.io/flavor`.
    public var flavors: [Flavor] = []
    /// The flavor of pods that name none (`default-flavor`).
    public var defaultFlavor: String?
    /// Kubernetes resource names that mean GPUs, with their Slurm GPU type (`gpu-resources`).
    public var gpuResources: [GPUResource] = [GPUResource(resource: "nvidia.com/gpu")]
    /// Whether a pod's `runAsUser` is honoured (it never is when false: jobs run as the agent).
    public var allowRunAsUser: Bool = false
    /// The uids pods may run as with `allow-run-as-user` (`run-as-users`: ranges, uids, names).
    public var runAsUsers: [ClosedRange<Int>] = []
    /// The gids pods may run as (`run-as-groups`); empty: any group of the user (never 0).
    public var runAsGroups: [ClosedRange<Int>] = []
    /// The uid a pod without `runAsUser` runs as (`run-as-default-user`); nil: such a pod is refused.
    public var runAsDefaultUser: Int?
    /// The site's name in APEL records (`apel-site`, the GOCDB name); nil: no APEL records.
    public var apelSite: String?
    /// The benchmark of the site's cores in APEL records (`apel-service-level`, `HEPscore23=12.5`).
    public var apelServiceLevel: APELRecords.ServiceLevel?
    /// Serve GPU usage as `APEL-accelerator-message` too (`apel-accelerator`).
    public var apelAccelerator = false
    /// How usage is written as APEL records; nil without `apel-site`.
    public var apel: APELRecords? {
        apelSite.map { APELRecords(site: $0, serviceLevel: apelServiceLevel, submitHost: ProcessInfo.processInfo.hostName,
                                 accelerator: apelAccelerator) }
    }
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
    /// Run pods' startup, liveness and readiness probes in their jobs (`run-probes`; interLink's
    /// `EnableProbes`). Off: probes are not run, and each pod that declares one is told so in its events.
    public var runProbes: Bool = true
    /// Log level name (trace, debug, info, notice, warning, error, critical).
    public var logLevel: String = "info"
    /// Who may call the agent (OIDC issuers, audience, entitlements).
    public var access = AccessSettings()
    /// TLS for a TCP listener: certificate chain and key (PEM), and the CA whose client
    /// certificates are required (mutual TLS) when set.
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var tlsClientCA: String?
    /// Group of the unix socket (mode 0660): the group whose members may call the agent.
    public var socketGroup: String?
    /// Plain HTTP on an address other than loopback (only behind a trusted network).
    public var allowInsecureListen: Bool = false
    /// Open connections at most; further ones wait in the kernel's backlog.
    public var maxConnections: Int = 256
    /// Seconds a connection may stay silent (no request, or a request not sent completely).
    public var idleTimeoutSeconds: Int = 60

    public init() {}

    /// Sets both folders from one data folder: `DIR` for the database, `DIR/pods` for pods.
    public mutating func setDataDir(_ dir: String) {
        stateDir = dir
        workDir = (dir as NSString).appendingPathComponent("pods")
    }

    /// Checks that values make sense together; the message says which setting to fix.
    public func validate() throws(AgentError) {
        _ = try Checked.inRange(defaultMemoryMiB, Limits.memoryMiB, "setting 'default-memory'", unit: "MiB", code: .badRequest)
        _ = try Checked.inRange(defaultCPUs, Limits.cpus, "setting 'default-cpus'", code: .badRequest)
        if let seconds = defaultWalltimeSeconds {
            _ = try Checked.inRange(seconds, Limits.walltimeSeconds, "setting 'default-walltime'", unit: "s", code: .badRequest)
        }
        _ = try Checked.inRange(retentionSeconds, Limits.retentionSeconds, "setting 'retention'", unit: "s", code: .badRequest)
        _ = try Checked.inRange(maxPods, Limits.maxPods, "setting 'max-pods'", code: .badRequest)
        guard Limits.pollIntervalSeconds.contains(pollIntervalSeconds) else {
            throw AgentError(.badRequest, "setting 'poll-interval': \(pollIntervalSeconds) s is out of range "
                                + "(allowed: \(Limits.pollIntervalSeconds.lowerBound) to \(Limits.pollIntervalSeconds.upperBound) s)")
        }
        if allowRunAsUser {
            guard !runAsUsers.isEmpty || runAsDefaultUser != nil else {
                throw AgentError(.badRequest, "allow-run-as-user needs run-as-users (the uids pods may use, e.g. "
                                    + "[1000-1999, alice]) or run-as-default-user")
            }
        } else if !runAsUsers.isEmpty || !runAsGroups.isEmpty || runAsDefaultUser != nil {
            throw AgentError(.badRequest, "run-as-users, run-as-groups and run-as-default-user apply only with allow-run-as-user")
        }
        for (setting, ranges) in [("run-as-users", runAsUsers), ("run-as-groups", runAsGroups)] {
            for range in ranges where range.lowerBound < Limits.accountID.lowerBound || range.upperBound > Limits.accountID.upperBound {
                throw AgentError(.badRequest, "setting '\(setting)': \(range.lowerBound)-\(range.upperBound) is out of range "
                                    + "(allowed: \(Limits.accountID.lowerBound) to \(Limits.accountID.upperBound); 0, root, never)")
            }
        }
        if let uid = runAsDefaultUser, !Limits.accountID.contains(uid) {
            throw AgentError(.badRequest, "setting 'run-as-default-user': uid \(uid) is out of range "
                                + "(allowed: \(Limits.accountID.lowerBound) to \(Limits.accountID.upperBound); 0, root, never)")
        }
        for name in [partition, account, qos].compactMap({ $0 }) where !PodValidation.isSlurmName(name) {
            throw AgentError(.badRequest, "'\(name)' is not a valid Slurm partition/account/QoS name")
        }
        for flag in allowedSbatchFlags where !flag.hasPrefix("--") || flag.contains("=") || SbatchFlags.longName(flag) == nil {
            throw AgentError(.badRequest, "allowed-sbatch-flags entries are sbatch's long option names like '--constraint', not '\(flag)'")
        }
        for flag in allowedSbatchFlags where SbatchFlags.reserved.contains(flag) {
            throw AgentError(.badRequest, "allowed-sbatch-flags: \(flag) is set by the agent itself and cannot be allowed")
        }
        if let name = defaultFlavor, !flavors.contains(where: { $0.name == name }) {
            throw AgentError(.badRequest, "default-flavor '\(name)' is not one of the flavors (\(flavors.map(\.name).joined(separator: ", ")))")
        }
        guard bashPath.hasPrefix("/"), !bashPath.contains("\n"), !PodValidation.hasNUL(bashPath) else {
            throw AgentError(.badRequest, "bash-path must be an absolute path, not '\(bashPath)'")
        }
        if let path = runtimePath, !PodValidation.isContainerPath(path) {
            throw AgentError(.badRequest, "runtime-path must be an absolute path without '..', not '\(path)'")
        }
        if Set(gpuResources.map(\.resource)).count != gpuResources.count {
            throw AgentError(.badRequest, "gpu-resources names a resource twice")
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
        try validateListener()
        if let dir = htcondorBinDir, !dir.hasPrefix("/") {
            throw AgentError(.badRequest, "htcondor-bin-dir must be an absolute path, not '\(dir)'")
        }
    }
}

extension AgentConfiguration {
    /// Whether the listener is reachable from other hosts.
    public var listensBeyondLoopback: Bool {
        if case .tcp(let host, _) = listen { return !AccessSettings.isLoopback(host) }
        return false
    }

    /// A listener anyone on the network could reach needs OIDC, and TLS unless explicitly waived.
    func validateListener() throws(AgentError) {
        try access.validate()
        if (tlsCertificate == nil) != (tlsKey == nil) {
            throw AgentError(.badRequest, "tls-cert and tls-key go together: give both or neither")
        }
        if tlsClientCA != nil, tlsCertificate == nil {
            throw AgentError(.badRequest, "tls-client-ca needs tls-cert and tls-key (mutual TLS is TLS first)")
        }
        for (key, path) in [("tls-cert", tlsCertificate), ("tls-key", tlsKey), ("tls-client-ca", tlsClientCA)] {
            if let path, !path.hasPrefix("/") { throw AgentError(.badRequest, "\(key) must be an absolute path, not '\(path)'") }
        }
        switch listen {
        case .unix:
            if tlsCertificate != nil { throw AgentError(.badRequest, "tls-cert applies to a TCP listener, not to a unix socket") }
        case .tcp(let host, _):
            if socketGroup != nil { throw AgentError(.badRequest, "socket-group applies to a unix socket listener (listen unix:///PATH)") }
            guard !AccessSettings.isLoopback(host) else { break }
            guard access.enabled else {
                throw AgentError(.badRequest, "listening on \(listen) needs oidc-issuer and oidc-audience: without them anyone who "
                                    + "reaches the port could submit jobs on this site's allocation; listen on 127.0.0.1 or a unix socket")
            }
            guard tlsCertificate != nil || allowInsecureListen else {
                throw AgentError(.badRequest, "listening on \(listen) without TLS would send bearer tokens in clear: "
                                    + "give tls-cert and tls-key, or allow-insecure-listen behind a trusted network")
            }
        }
        guard (1...65_536).contains(maxConnections) else { throw AgentError(.badRequest, "max-connections must be 1 to 65536") }
        guard (1...86_400).contains(idleTimeoutSeconds) else { throw AgentError(.badRequest, "idle-timeout must be 1 to 86400 seconds") }
    }

    /// The batch-system client these settings ask for.
    public func makeBackend(logger: Logger) -> any BatchBackend {
        switch backend {
        case .slurm: slurmAccess == .library ? SlurmLibrary(logger: logger, timeouts: backendTimeouts)
            : SlurmCLI(logger: logger, timeouts: backendTimeouts)
        case .htcondor: HTCondorCLI(logger: logger, binDir: htcondorBinDir, timeouts: backendTimeouts)
        }
    }
}
