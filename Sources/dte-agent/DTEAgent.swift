import ArgumentParser
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
        subcommands: [Serve.self, Render.self],
        defaultSubcommand: Serve.self)
}

/// Settings shared by `serve` and `render`; each overrides the config file.
struct SettingOptions: ParsableArguments {
    @Option(help: "YAML config file; its keys are these flags' long names.")
    var config: String?
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

    func load() throws -> AgentConfiguration {
        var configuration = AgentConfiguration()
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
            ("backend-timeout", backendTimeout), ("poll-timeout", pollTimeout),
        ]
        for (key, value) in flags {
            if let value { try ConfigSetting.apply(key: key, value: .scalar(value), to: &configuration) }
        }
        if holdJobs { configuration.holdJobs = true }
        if allowRunAsUser { configuration.allowRunAsUser = true }
        if !allowedSbatchFlag.isEmpty {
            try ConfigSetting.apply(key: "allowed-sbatch-flags", value: .list(allowedSbatchFlag), to: &configuration)
        }
        if !allowedHostPath.isEmpty {
            try ConfigSetting.apply(key: "allowed-host-paths", value: .list(allowedHostPath), to: &configuration)
        }
        try configuration.validate()
        return configuration
    }
}

extension DTEAgent {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the agent's HTTP service and Slurm poller.")

        @OptionGroup var options: SettingOptions

        func run() async throws {
            PodController.limitMallocArenas()
            let configuration = try options.load()
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
            let router = AgentAPI.router(controller: controller, logger: logger)
            let address: BindAddress
            switch configuration.listen {
            case .tcp(let host, let port): address = .hostname(host, port: port)
            case .unix(let path):
                try? FileManager.default.removeItem(atPath: path)
                address = .unixDomainSocket(path: path)
            }
            let app = Application(
                router: router,
                configuration: .init(address: address, serverName: "dte-agent"),
                services: [PollerService(controller: controller, interval: configuration.pollIntervalSeconds, logger: logger)],
                logger: logger)
            logger.info("dte-agent starting", metadata: [
                "listen": "\(configuration.listen)", "state-dir": "\(configuration.stateDir)",
                "work-dir": "\(configuration.workDir)", "runtime": "\(configuration.runtime.rawValue)",
                "slurm-api": "\(configuration.slurmAccess.rawValue)",
            ])
            try await app.runService()
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
            print("# \(job.podDir)/job.slurm")
            print(job.batchScript)
            print("# \(job.podDir)/job.sh")
            print(job.runnerScript, terminator: "")
            if configuration.backend == .htcondor {
                print("# \(job.podDir)/job.sub")
                print(try HTCondorCLI.submitDescription(job.request, executable: "\(job.podDir)/job.slurm",
                                                        environment: SlurmCLI.jobEnvironment()), terminator: "")
            }
        }
    }
}
