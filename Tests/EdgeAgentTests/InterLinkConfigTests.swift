import DTETestSupport
import EdgeAgent
import Foundation
import Testing

/// interLink's Slurm plugin's SlurmConfig.yaml read by the agent: every key acts or is a
/// warning naming it; bad values name the file, line and key; flags win over the file.
@Suite struct InterLinkConfigTests {
    /// The plugin's own example file (its keys and value styles), with flavors as its docs show them.
    static let pluginExample = """
    SidecarPort: "4000"
    Socket: ""
    SbatchPath: "/opt/slurm/bin/sbatch"
    ScancelPath: "/usr/bin/scancel"
    SqueuePath: "/usr/bin/squeue"
    CommandPrefix: ""
    SingularityPrefix: ""
    SingularityPath: "singularity"
    ExportPodData: true
    DataRootFolder: ".local/interlink/jobs/"
    Namespace: "vk"
    Tsocks: false
    TsocksPath: "$WORK/tsocks-1.8beta5+ds1/libtsocks.so"
    TsocksLoginNode: "login01"
    BashPath: /bin/bash
    VerboseLogging: true
    ErrorsOnlyLogging: false
    SingularityDefaultOptions: ["--nv", "--no-eval", "--containall", "--cleanenv"]
    DefaultFlavor: default
    Flavors:
      default:
        Name: default
        Description: "two cores"
        CPUDefault: 2
        MemoryDefault: "4G"
        SlurmFlags: ["--partition=cpu"]
      gpu-nvidia:
        Name: gpu-nvidia
        CPUDefault: 8
        MemoryDefault: "32000M"
        UID: 1001
        SlurmFlags: ["--gres=gpu:1", "--partition=gpu", "-C nvlink"]
    """

    @Test func pluginConfigActsOrWarnsForEveryKey() throws {
        var configuration = AgentConfiguration()
        let warnings = try InterLinkConfig.apply(Self.pluginExample, file: "SlurmConfig.yaml", to: &configuration,
                                                 currentDirectory: "/home/il")
        #expect(configuration.listen == .tcp(host: "127.0.0.1", port: 4000))
        #expect(configuration.workDir == "/home/il/.local/interlink/jobs")
        #expect(configuration.runtime == .singularity)
        #expect(configuration.runtimePath == nil, "singularity on PATH is the runtime's own name")
        #expect(configuration.layout == .interlink)
        #expect(configuration.logLevel == "debug")
        #expect(configuration.bashPath == "/bin/bash")
        #expect(configuration.apptainerOptions == ["--nv", "--no-eval", "--containall", "--cleanenv"])
        #expect(configuration.defaultFlavor == "default")
        #expect(configuration.flavors.map(\.name) == ["default", "gpu-nvidia"])
        let gpu = try #require(configuration.flavors.last)
        #expect(gpu.cpus == 8 && gpu.memoryMiB == 32000)
        #expect(gpu.options.gpus == 1 && gpu.options.partition == "gpu" && gpu.options.extra == ["--constraint=nvlink"])
        #expect(configuration.flavors.first?.memoryMiB == 4096)
        try configuration.validate()
        // what is not acted on is named, with its line
        for (key, line) in [("SbatchPath", 3), ("Namespace", 11), ("TsocksPath", 13), ("TsocksLoginNode", 14),
                            ("Flavors.gpu-nvidia.UID", 31)] {
            #expect(warnings.contains { $0.hasPrefix("SlurmConfig.yaml line \(line): \(key): ") }, "\(key): \(warnings)")
        }
        // what acts (or matches what the agent does) is not warned about
        for key in ["SidecarPort", "ExportPodData", "DataRootFolder", "BashPath", "SingularityPath", "Tsocks:", "CommandPrefix"] {
            #expect(!warnings.contains { $0.contains(" \(key)") }, "\(key): \(warnings)")
        }
    }

    @Test func keysTheAgentDoesNotFollowAreWarnings() throws {
        var configuration = AgentConfiguration()
        let warnings = try InterLinkConfig.apply("""
            Socket: unix:///run/plugin.sock
            SidecarPort: 4000
            ExportPodData: false
            CommandPrefix: "module load apptainer"
            EnableProbes: true
            Tsocks: true
            ContainerRuntime: enroot
            EnrootPath: /opt/enroot/bin/enroot
            EnrootDefaultOptions: ["--rw", "--root"]
            DefaultUID: 1000
            Flavours: {}
            """, file: "/etc/interlink/SlurmConfig.yaml", to: &configuration)
        #expect(configuration.listen == .unix(path: "/run/plugin.sock"))
        #expect(configuration.runtime == .enroot)
        #expect(configuration.runtimePath == "/opt/enroot/bin/enroot")
        #expect(configuration.enrootStartOptions == ["--rw", "--root"])
        for key in ["ExportPodData", "CommandPrefix", "Tsocks", "DefaultUID", "Flavours"] {
            #expect(warnings.contains { $0.contains("SlurmConfig.yaml line") && $0.contains(": \(key): ") }, "\(key): \(warnings)")
        }
        // probes are run: EnableProbes is followed, not warned about
        #expect(!warnings.contains { $0.contains(": EnableProbes: ") })
        #expect(configuration.runProbes)
        var off = AgentConfiguration()
        _ = try InterLinkConfig.apply("EnableProbes: false\n", file: "SlurmConfig.yaml", to: &off)
        #expect(!off.runProbes)
    }

    @Test func badValuesNameFileLineAndKey() {
        let cases: [(String, String)] = [
            ("Socket: \"\"\nSidecarPort: \"http\"\n", "SlurmConfig.yaml line 2: SidecarPort: 'http' is not a port"),
            ("ContainerRuntime: docker\n", "SlurmConfig.yaml line 1: ContainerRuntime: 'docker' is not a runtime"),
            ("ExportPodData: maybe\n", "SlurmConfig.yaml line 1: ExportPodData: 'maybe' is not true or false"),
            ("Flavors:\n  big:\n    MemoryDefault: lots\n", "SlurmConfig.yaml line 3: Flavors.big.MemoryDefault: 'lots' is not a memory size"),
            ("Flavors:\n  big:\n    CPUDefault: -1\n", "SlurmConfig.yaml line 3: Flavors.big.CPUDefault"),
            ("Flavors:\n  big:\n    SlurmFlags: [\"--output=/etc/x\"]\n", "SlurmConfig.yaml line 3: Flavors.big.SlurmFlags: --output=/etc/x"),
            ("Flavors:\n  big:\n    SlurmFlags: [\"--bogus\"]\n", "SlurmConfig.yaml line 3: Flavors.big.SlurmFlags: '--bogus' is not an sbatch option"),
            ("ImagePrefix: [a, b]\n", "SlurmConfig.yaml line 1: ImagePrefix: expected one value"),
            ("SidecarPort: 1\nSidecarPort: 2\n", "SlurmConfig.yaml line 2: SidecarPort is given twice"),
            ("a: &x 1\nb: *x\n", "SlurmConfig.yaml line 1: anchors and aliases are not supported"),
            ("DataRootFolder: [\n", "SlurmConfig.yaml line"),
        ]
        for (text, expected) in cases {
            var configuration = AgentConfiguration()
            let error = #expect(throws: AgentError.self) {
                _ = try InterLinkConfig.apply(text, file: "SlurmConfig.yaml", to: &configuration, currentDirectory: "/")
            }
            #expect(error?.message.hasPrefix(expected) == true, "\(text): \(error?.message ?? "")")
        }
        // a default flavor that names no flavor stops the start
        var configuration = AgentConfiguration()
        #expect(throws: AgentError.self) {
            _ = try InterLinkConfig.apply("DefaultFlavor: huge\n", file: "f", to: &configuration)
            try configuration.validate()
        }
    }

    @Test func deepOrHugeFilesAreRefusedNotTrapped() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        var configuration = AgentConfiguration()
        let error = #expect(throws: AgentError.self) { _ = try InterLinkConfig.apply(deep, file: "f", to: &configuration) }
        #expect(error?.message.contains("nested deeper than") == true)
        // the agent's own flat file still says what it expects
        #expect(throws: AgentError.self) { _ = try ConfigFile.parse("Flavors:\n  a:\n    b: 1\n") }
    }

    /// The real binary: `--interlink-config` is read, its warnings printed, flags win over it,
    /// a bad value stops it naming file and line, and --help says which source wins.
    @Test func commandLineReadsThePluginConfigAndFlagsWin() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dte-ilcfg-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/SlurmConfig.yaml"
        try "DataRootFolder: \(dir)/jobs\nContainerRuntime: singularity\nNamespace: vk\nImagePrefix: \"oras://r.example/\"\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let pod = dir + "/pod.json"
        try #"{"metadata":{"name":"p","namespace":"ns","uid":"0b0e5a44-56c4-4cf1-9a35-1d1b1b1c2f11"},"spec":{"containers":[{"name":"c","image":"alpine","command":["true"]}]}}"#
            .write(toFile: pod, atomically: true, encoding: .utf8)
        let agent = builtExecutable("dte-agent").path
        guard case .success(let fromFile) = CommandRunner.runBlocking(agent, ["render", "--interlink-config", config, pod], environment: nil, timeout: 60)
        else { Issue.record("dte-agent did not run"); return }
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        #expect(fromFile.stdout.contains("exec singularity exec"), "\(fromFile.stdout)")
        #expect(fromFile.stdout.contains("oras://r.example/alpine"))
        #expect(fromFile.stdout.contains("# \(dir)/jobs/ns-0b0e5a44-56c4-4cf1-9a35-1d1b1b1c2f11/job.slurm"))
        #expect(fromFile.stderr.contains("warning: \(config) line 3: Namespace: not used"), "\(fromFile.stderr)")
        guard case .success(let flags) = CommandRunner.runBlocking(
            agent, ["render", "--interlink-config", config, "--runtime", "bwrap", "--work-dir", dir + "/other", pod], environment: nil, timeout: 60)
        else { Issue.record("dte-agent did not run"); return }
        #expect(flags.stdout.contains("exec bwrap"), "the flag wins over ContainerRuntime")
        #expect(flags.stdout.contains("# \(dir)/other/ns-"), "the flag wins over DataRootFolder")
        try "SidecarPort: nope\n".write(toFile: config, atomically: true, encoding: .utf8)
        guard case .success(let bad) = CommandRunner.runBlocking(agent, ["serve", "--interlink-config", config, "--data-dir", dir + "/d"],
                                                                 environment: nil, timeout: 60)
        else { Issue.record("dte-agent did not run"); return }
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("\(config) line 1: SidecarPort: 'nope' is not a port"), "\(bad.stderr)")
        guard case .success(let help) = CommandRunner.runBlocking(agent, ["serve", "--help"], environment: nil, timeout: 60)
        else { Issue.record("dte-agent did not run"); return }
        let words = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(words.contains("a flag given on the command line wins over both files"), "\(help.stdout)")
        #expect(help.stdout.contains("--interlink-config"))
    }
}
