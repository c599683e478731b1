import ArgumentParser
import AsyncHTTPClient
import EdgeAgent
import Foundation
import Hummingbird
import Logging
import PodWire

@main
struct DTEAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dte-agent",
        abstract: "Runs Kubernetes pods as Slurm jobs; speaks interLink's plugin API.",
        subcommands: [Serve.self, Render.self, Usage.self],
        defaultSubcommand: Serve.self)
}

/// Settings shared by `serve` and `render`. Sources, each overriding the one before: the
/// defaults, interLink's SlurmConfig.yaml (`--interlink-config`), the agent's own file
/// (`--config`), then these flags.
struct SettingOptions: ParsableArguments {
    @Option(help: ArgumentHelp("interLink Slurm plugin's SlurmConfig.yaml to read (its keys act or are warned about at start).",
                               discussion: "Read first: --config and the flags below win over it; it sets --layout interlink."))
    var interlinkConfig: String?
    @Option(help: "YAML config file; its keys are these flags' long names. Flags win over it.")
    var config: String?
    @Option(help: "Pod folder layout: dte, or interlink (adds the plugin's job.sh, JobID.jid, PodUID.uid, PodNamespace.ns).")
    var layout: String?
    @Option(help: "The runtime's program (default: its name on PATH).")
    var runtimePath: String?
    @Option(help: "The flavor of pods that name none (a flavor of --interlink-config).")
    var defaultFlavor: String?
    @Option(help: "A resource name meaning GPUs, RESOURCE or RESOURCE=GPU-TYPE (repeatable; default nvidia.com/gpu).")
    var gpuResource: [String] = []
    @Flag(help: "Honour slurm-job.vk.io/pre-exec (shell run in the job before the containers).")
    var allowPreExec = false
    @Option(help: "HOST:PORT or unix:///PATH (default 127.0.0.1:4555).")
    var listen: String?
    @Option(help: "One folder for the database and pod folders (DIR and DIR/pods).")
    var dataDir: String?
    @Option(help: "Folder of the SQLite database (local disk).")
    var stateDir: String?
    @Option(help: "Folder of pod folders (visible to compute nodes).")
    var workDir: String?
    @Option(help: "Batch system: slurm or htcondor.")
    var backend: String?
    @Option(help: "How to reach Slurm: library (libslurm) or cli.")
    var slurmApi: String?
    @Option(help: "Container runtime: apptainer, singularity, enroot, podman, bwrap, none.")
    var runtime: String?
    @Option(help: "Default Slurm partition.")
    var partition: String?
    @Option(help: "Default Slurm account.")
    var account: String?
    @Option(help: "Default Slurm QoS.")
    var qos: String?
    @Option(help: "Memory for pods that request none (MiB or a quantity like 2Gi).")
    var defaultMemory: String?
    @Option(help: "CPUs for pods that request none.")
    var defaultCpus: String?
    @Option(help: "Walltime for pods without a deadline (2h, 90m, 01:30:00).")
    var defaultWalltime: String?
    @Option(help: "Prefix for image names without a scheme (apptainer/singularity).")
    var imagePrefix: String?
    @Option(help: "Folder of the condor_* tools (backend htcondor; default: PATH).")
    var htcondorBinDir: String?
    @Option(help: "Options for apptainer/singularity, comma-separated.")
    var apptainerOptions: String?
    @Option(help: "An sbatch flag pods may set through slurm-job.vk.io/flags (repeatable).")
    var allowedSbatchFlag: [String] = []
    @Option(help: "A host folder hostPath volumes may use (repeatable).")
    var allowedHostPath: [String] = []
    @Option(help: "The site's name in APEL usage records (GOCDB name); enables /v1/usage?format=apel-job|apel-summary.")
    var apelSite: String?
    @Option(help: "The benchmark of the site's cores in APEL records: TYPE=VALUE (HEPscore23=12.5, HEPSPEC=10).")
    var apelServiceLevel: String?
    @Flag(help: "With --apel-site: serve GPU usage as APEL-accelerator-message (/v1/usage?format=apel-accelerator).")
    var apelAccelerator = false
    @Option(help: "How long finished pods are kept (7d, 12h).")
    var retention: String?
    @Option(help: "Seconds between Slurm polls.")
    var pollInterval: String?
    @Option(help: "Seconds a submit or cancel may take before the caller gets 503 Retry-After (default 5).")
    var backendTimeout: String?
    @Option(help: "Seconds the job poll may take (default 30).")
    var pollTimeout: String?
    @Option(help: "Most pods tracked at once.")
    var maxPods: String?
    @Option(help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?
    @Flag(help: "Submit every job held (released with scontrol release); for maintenance and benchmarks.")
    var holdJobs = false
    @Flag(help: "Honour runAsUser/runAsGroup (the agent must run as root; never uid 0).")
    var allowRunAsUser = false
    @Option(help: "An OIDC issuer whose tokens are accepted (repeatable; exact match of iss).")
    var oidcIssuer: [String] = []
    @Option(help: "What a token's aud must contain (required with --oidc-issuer).")
    var oidcAudience: String?
    @Option(help: "Clock skew allowed on exp/nbf/iat, in seconds (default 60).")
    var oidcLeeway: String?
    @Option(help: "Least seconds between two key fetches of one issuer (default 60).")
    var oidcKeyRefresh: String?
    @Option(help: "An entitlement callers must hold one of (repeatable; AARC-G002 URN).")
    var entitlement: [String] = []
    @Option(help: "NS=URN: an entitlement needed, in addition, for namespace NS (repeatable).")
    var namespaceEntitlement: [String] = []
    @Option(help: "Most pods one identity may have at once.")
    var maxPodsPerIdentity: String?
    @Option(help: "TLS certificate chain (PEM) for a TCP listener.")
    var tlsCert: String?
    @Option(help: "TLS private key (PEM, not readable by others).")
    var tlsKey: String?
    @Option(help: "CA (PEM) whose client certificates are required (mutual TLS).")
    var tlsClientCa: String?
    @Option(help: "Group of the unix socket (mode 0660).")
    var socketGroup: String?
    @Flag(help: "Allow plain HTTP on a non-loopback address (only behind a trusted network).")
    var allowInsecureListen = false
    @Option(help: "Most open connections (default 256).")
    var maxConnections: String?
    @Option(help: "Seconds a connection may stay silent (default 60).")
    var idleTimeout: String?
    @Option(help: "With --allow-run-as-user: uids pods may run as, comma-separated (1000-1999,alice).")
    var runAsUsers: String?
    @Option(help: "With --allow-run-as-user: gids pods may run as (default: any group of the user but 0).")
    var runAsGroups: String?
    @Option(help: "With --allow-run-as-user: the account (name or uid) of pods without runAsUser.")
    var runAsDefaultUser: String?

    /// The settings; warnings about the interLink config go to standard error.
    func load() throws -> AgentConfiguration {
        let (configuration, warnings) = try loadWithWarnings()
        for warning in warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        return configuration
    }

    /// The settings and the start-up warnings of `--interlink-config` (keys not acted on).
    func loadWithWarnings() throws -> (AgentConfiguration, [String]) {
        var configuration = AgentConfiguration()
        var warnings: [String] = []
        if let interlinkConfig {
            guard let data = FileManager.default.contents(atPath: interlinkConfig) else {
                throw ValidationError("cannot read the interLink config file \(interlinkConfig)")
            }
            warnings = try InterLinkConfig.apply(String(decoding: data, as: UTF8.self), file: interlinkConfig, to: &configuration)
        }
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else {
                throw ValidationError("cannot read the config file \(config)")
            }
            try ConfigFile.apply(try ConfigFile.parse(String(decoding: data, as: UTF8.self)), to: &configuration)
        }
        let flags: [(String, String?)] = [
            ("listen", listen), ("data-dir", dataDir), ("state-dir", stateDir), ("work-dir", workDir),
            ("backend", backend), ("slurm-api", slurmApi), ("runtime", runtime), ("partition", partition),
            ("account", account), ("qos", qos), ("default-memory", defaultMemory), ("default-cpus", defaultCpus),
            ("default-walltime", defaultWalltime), ("image-prefix", imagePrefix), ("htcondor-bin-dir", htcondorBinDir), ("apptainer-options", apptainerOptions),
            ("retention", retention), ("poll-interval", pollInterval), ("max-pods", maxPods), ("log-level", logLevel),
            ("oidc-audience", oidcAudience), ("oidc-leeway", oidcLeeway), ("oidc-key-refresh", oidcKeyRefresh),
            ("max-pods-per-identity", maxPodsPerIdentity), ("tls-cert", tlsCert), ("tls-key", tlsKey),
            ("tls-client-ca", tlsClientCa), ("socket-group", socketGroup), ("max-connections", maxConnections),
            ("idle-timeout", idleTimeout),
            ("run-as-users", runAsUsers), ("run-as-groups", runAsGroups), ("run-as-default-user", runAsDefaultUser),
            ("backend-timeout", backendTimeout), ("poll-timeout", pollTimeout),
            ("apel-site", apelSite), ("apel-service-level", apelServiceLevel),
            ("layout", layout), ("runtime-path", runtimePath), ("default-flavor", defaultFlavor),
        ]
        for (key, value) in flags {
            if let value { try ConfigSetting.apply(key: key, value: .scalar(value), to: &configuration) }
        }
        let lists: [(String, [String])] = [
            ("oidc-issuer", oidcIssuer), ("entitlement", entitlement), ("namespace-entitlement", namespaceEntitlement),
            ("gpu-resources", gpuResource),
        ]
        for (key, values) in lists where !values.isEmpty {
            try ConfigSetting.apply(key: key, value: .list(values), to: &configuration)
        }
        if allowInsecureListen { configuration.allowInsecureListen = true }
        if holdJobs { configuration.holdJobs = true }
        if apelAccelerator { configuration.apelAccelerator = true }
        if allowRunAsUser { configuration.allowRunAsUser = true }
        if allowPreExec { configuration.allowPreExec = true }
        if !allowedSbatchFlag.isEmpty {
            try ConfigSetting.apply(key: "allowed-sbatch-flags", value: .list(allowedSbatchFlag), to: &configuration)
        }
        if !allowedHostPath.isEmpty {
            try ConfigSetting.apply(key: "allowed-host-paths", value: .list(allowedHostPath), to: &configuration)
        }
        try configuration.validate()
        return (configuration, warnings)
    }
}

extension DTEAgent {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the agent's HTTP service and Slurm poller.",
            discussion: "Settings come from --interlink-config (interLink's SlurmConfig.yaml), then --config, then the flags: "
                + "a flag given on the command line wins over both files, --config over --interlink-config.")

        @OptionGroup var options: SettingOptions

        func run() async throws {
            MallocTuning.configure()
            let (configuration, warnings) = try options.loadWithWarnings()
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = Logger.Level(rawValue: configuration.logLevel) ?? .info
                return handler
            }
            var logger = Logger(label: "dte-agent")
            logger.logLevel = Logger.Level(rawValue: configuration.logLevel) ?? .info
            let backend = configuration.makeBackend(logger: logger)
            let store = try PodStore.open(stateDir: configuration.stateDir)
            try FileManager.default.createDirectory(atPath: configuration.workDir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            // Jobs of other accounts (allow-run-as-user) must reach their own folders inside:
            // the work folder (and the data folder holding it) can be passed, not listed.
            if configuration.allowRunAsUser {
                chmod(configuration.workDir, 0o711)
                let parent = (configuration.workDir as NSString).deletingLastPathComponent
                if parent == configuration.stateDir { chmod(parent, 0o711) }
            }
            let controller = try PodController(configuration: configuration, backend: backend, store: store, logger: logger)
            let (server, applicationConfiguration) = try Listener.server(configuration, logger: logger)
            // Discovery, JWKS and UserInfo requests (only with OIDC).
            let httpClient = configuration.access.enabled ? HTTPClient(eventLoopGroupProvider: .singleton) : nil
            let access = AccessControl(
                verifier: httpClient.map { OIDCVerifier(settings: configuration.access, client: $0, logger: logger) },
                policy: AccessPolicy(configuration.access))
            let router = AgentAPI.router(controller: controller, access: access, logger: logger)
            // The socket is created by bind: with this umask it never exists with a wider mode.
            let previousMask = configuration.listen.isUnix ? umask(0o117) : nil
            let startLogger = logger
            let app = Application(
                router: router, server: server, configuration: applicationConfiguration,
                services: [PollerService(controller: controller, interval: configuration.pollIntervalSeconds, logger: logger)],
                onServerRunning: { _ in
                    if let previousMask { umask(previousMask) }
                    do { try Listener.secureSocket(configuration) } catch {
                        startLogger.critical("cannot secure the unix socket; stopping", metadata: ["error": "\(error)"])
                        Foundation.exit(1)
                    }
                    startLogger.info("dte-agent listening", metadata: ["listen": "\(configuration.listen)"])
                },
                logger: logger)
            logger.info("dte-agent starting", metadata: [
                "listen": "\(configuration.listen)", "state-dir": "\(configuration.stateDir)",
                "work-dir": "\(configuration.workDir)", "runtime": "\(configuration.runtime.rawValue)",
                "slurm-api": "\(configuration.slurmAccess.rawValue)",
            ])
            for warning in warnings { logger.warning("interLink config: \(warning)") }
            let exposure = Listener.exposure(configuration)
            logger.log(level: exposure.level, "\(exposure.message)")
            do {
                try await app.runService()
            } catch {
                try? await httpClient?.shutdown()
                throw error
            }
            try? await httpClient?.shutdown()
        }
    }

    struct Render: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the job script a pod would get, without submitting it.",
            discussion: "POD.json is a RetrievedPodData object (as POST /create takes) or a bare Kubernetes Pod.")

        @OptionGroup var options: SettingOptions

        @Argument(help: "The pod as JSON ('-' reads standard input).")
        var pod: String

        func run() async throws {
            let configuration = try options.load()
            let data: Data
            if pod == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let contents = FileManager.default.contents(atPath: pod) else {
                    throw ValidationError("cannot read \(pod)")
                }
                data = contents
            }
            let decoder = JSONDecoder()
            let retrieved: RetrievedPodData
            if let full = try? decoder.decode(RetrievedPodData.self, from: data) {
                retrieved = full
            } else {
                retrieved = RetrievedPodData(pod: try decoder.decode(Pod.self, from: data))
            }
            let job = try PodJobBuilder(configuration: configuration, instanceID: "render").build(retrieved)
            print("# \(job.scriptPath)")
            print(job.batchScript, terminator: "")
            if configuration.backend == .htcondor {
                print("# \(job.podDir)/job.sub")
                print(try HTCondorCLI.submitDescription(job.request, executable: "\(job.podDir)/job.slurm",
                                                        environment: SlurmCLI.jobEnvironment()), terminator: "")
            }
        }
    }

    struct Usage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print what finished jobs used, as the agent collects it (one accounting query for all).",
            discussion: "Job ids as arguments, or none to read them (whitespace-separated) from standard input. "
                + "Prints one JSON object: job id -> usage; jobs accounting does not hold are left out.")

        @OptionGroup var options: SettingOptions

        @Argument(help: "Job ids (none: read from standard input).")
        var jobs: [String] = []

        func run() async throws {
            let configuration = try options.load()
            var ids = jobs
            if ids.isEmpty {
                ids = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                    .split(whereSeparator: \.isWhitespace).map(String.init)
            }
            guard !ids.isEmpty else { throw ValidationError("name at least one job id") }
            if let bad = ids.first(where: { $0.isEmpty || $0.utf8.count > 20 || !$0.allSatisfy(\.isNumber) }) {
                throw ValidationError("'\(bad.prefix(40))' is not a job id")
            }
            let logger = Logger(label: "dte-agent")
            let backend: any BatchBackend = configuration.backend == .htcondor
                ? HTCondorCLI(logger: logger, binDir: configuration.htcondorBinDir, timeouts: configuration.backendTimeouts)
                : SlurmCLI(logger: logger, timeouts: configuration.backendTimeouts)
            let usage = try await backend.usage(jobIDs: ids)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(usage), as: UTF8.self))
        }
    }
}
