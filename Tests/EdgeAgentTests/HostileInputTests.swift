import EdgeAgent
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PodWire
import Testing

/// Numbers from a pod, a file or a setting that used to trap the agent (integer overflow,
/// Double→Int conversion): each is now a 400 (a pod) or a start-up error (a setting) that
/// names the field and its limit.
@Suite struct HostileInputTests {
    /// The pods that trapped the agent, with what the answer must name.
    static func trapPods() -> [(pod: RetrievedPodData, names: [String])] {
        func pod(_ name: String, limits: [String: String] = [:], annotations: [String: String] = [:],
                 volumes: [Volume] = [], mounts: [VolumeMount] = [], configMaps: [ConfigMap] = [],
                 edit: (inout Pod) -> Void = { _ in }) -> RetrievedPodData {
            var data = Fixtures.pod(name, containers: [Fixtures.container("main", ["true"], mounts: mounts, limits: limits)],
                                    volumes: volumes, annotations: annotations, configMaps: configMaps)
            edit(&data.pod)
            return data
        }
        let map = ConfigMap(metadata: ObjectMeta(name: "cfg"), data: ["k": "v"])
        return [
            (pod("walltime", annotations: ["dte.io/walltime": "999999999999999999"]),
             ["dte.io/walltime", "31536000"]),
            (pod("walltime-days", annotations: ["dte.io/walltime": "99999999999999-00:00:00"]),
             ["dte.io/walltime", "31536000"]),
            (pod("cpu", limits: ["cpu": "1e19"]), ["cpu", "10000"]),
            (pod("memory", limits: ["memory": "1e30"]), ["memory", "1073741824"]),
            (pod("gpus", limits: ["nvidia.com/gpu": "1e19"]), ["nvidia.com/gpu", "1024"]),
            (pod("deadline") { $0.spec.activeDeadlineSeconds = Int.max - 10 }, ["activeDeadlineSeconds", "31536000"]),
            (pod("setuid-mode", volumes: [Volume(name: "cfg", configMap: ConfigMapVolumeSource(name: "cfg", defaultMode: 0o4755))],
                 mounts: [VolumeMount(name: "cfg", mountPath: "/cfg")], configMaps: [map]),
             ["defaultMode", "0777"]),
            (pod("huge-mode", volumes: [Volume(name: "cfg", configMap: ConfigMapVolumeSource(
                name: "cfg", items: [KeyToPath(key: "k", path: "k", mode: Int.max)]))],
                 mounts: [VolumeMount(name: "cfg", mountPath: "/cfg")], configMaps: [map]),
             ["mode", "0777"]),
            (pod("secret-mode", volumes: [Volume(name: "s", secret: SecretVolumeSource(secretName: "s", defaultMode: -1))],
                 mounts: [VolumeMount(name: "s", mountPath: "/s")]),
             ["defaultMode", "0777"]),
        ]
    }

    @Test func trapValuesInAPodAreA400NamingTheFieldAndLimit() throws {
        for (pod, names) in Self.trapPods() {
            let error = #expect(throws: AgentError.self, "\(pod.pod.metadata.name)") { try Fixtures.builder().build(pod) }
            #expect(error?.status.code == 400, "\(pod.pod.metadata.name): \(error?.message ?? "")")
            for name in names {
                #expect(error?.message.contains(name) == true, "\(pod.pod.metadata.name): '\(error?.message ?? "")' lacks \(name)")
            }
        }
        // Values at the limits still work.
        var fine = Fixtures.pod("at-limit", containers: [Fixtures.container("main", ["true"], limits: ["cpu": "10000"])],
                                annotations: ["dte.io/walltime": "365-00:00:00"])
        fine.pod.spec.activeDeadlineSeconds = 365 * 86_400
        let job = try Fixtures.builder().build(fine)
        #expect(job.request.cpusPerTask == 10_000 && job.request.timeLimitMinutes == 525_600)
    }

    @Test func slurmTimeParsingNeverOverflows() {
        #expect(PodValidation.walltimeSeconds("90") == 5_400)
        #expect(PodValidation.walltimeSeconds("1-00:00:00") == 86_400)
        #expect(PodValidation.walltimeSeconds("999999999999999999") == Int.max)
        #expect(PodValidation.walltimeSeconds("99999999999999999999999999:00") == Int.max)
        #expect(PodValidation.walltimeSeconds("9223372036854775807-23:59:59") == Int.max)
        #expect(PodValidation.walltimeSeconds("1:-5") == nil && PodValidation.walltimeSeconds("") == nil)
    }

    /// Settings that trapped (or would have run a broken agent): a start-up error naming the setting.
    @Test func trapValuesInSettingsAreStartUpErrors() throws {
        let cases: [(String, String, String)] = [
            ("retention", "99999999999999d", "315360000"),
            ("retention", "999999999999999999999", "315360000"),
            ("default-memory", "1e30", "1073741824"),
            ("default-memory", "99999999999999999999", "1073741824"),
            ("default-cpus", "99999999999999999999", "10000"),
            ("default-walltime", "99999999999999d", "31536000"),
            ("poll-interval", "1e300", "3600"),
            ("poll-interval", "0", "3600"),
            ("poll-interval", "nan", "3600"),
            ("max-pods", "99999999999999999999", "10000000"),
        ]
        for (key, value, limit) in cases {
            var configuration = AgentConfiguration()
            let error = #expect(throws: AgentError.self, "\(key): \(value)") {
                try ConfigSetting.apply(key: key, value: .scalar(value), to: &configuration)
                try configuration.validate()
            }
            #expect(error?.message.contains("'\(key)'") == true && error?.message.contains(limit) == true,
                    "\(key) \(value): \(error?.message ?? "")")
        }
        // Values set in code are checked too before the agent starts.
        var configuration = AgentConfiguration()
        configuration.pollIntervalSeconds = .infinity
        #expect(throws: AgentError.self) { try configuration.validate() }
    }

    /// The real agent binary on Slurm: every trap pod is refused with a 400 naming the field,
    /// the agent stays up, and a normal pod sent afterwards runs.
    @Test func theRunningAgentAnswersEveryTrapPodAndKeepsWorking() async throws {
        try SlurmCluster.require()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dte-agent-hostile-\(UUID().uuidString.prefix(8))").path
        let agent = try ProcessRestartTests.AgentProcess(dataDir: dir, port: try ProcessRestartTests.freePort())
        defer { agent.process.terminate(); agent.process.waitUntilExit() }
        try await agent.waitUntilServing()
        for (pod, names) in Self.trapPods() {
            let (status, body) = try await agent.call("/create", try JSONEncoder().encode(pod))
            let text = String(decoding: body, as: UTF8.self)
            #expect(status == 400, "\(pod.pod.metadata.name): \(status) \(text)")
            #expect(names.allSatisfy(text.contains), "\(pod.pod.metadata.name): \(text)")
            #expect(agent.process.isRunning, "the agent died on \(pod.pod.metadata.name)")
        }
        // A log request with out-of-range numbers in JSON is a 400 too.
        let (logStatus, _) = try await agent.call("/getLogs", Data(#"{"PodUID":"x","Opts":{"Tail":1e30}}"#.utf8))
        #expect(logStatus == 400)

        let normal = Fixtures.pod("after-the-traps", containers: [Fixtures.container("main", ["echo", "still here"])])
        let (created, body) = try await agent.call("/create", try JSONEncoder().encode(normal))
        try #require(created == 200, "\(String(decoding: body, as: UTF8.self))")
        let uid = normal.pod.metadata.uid
        let deadline = Date().addingTimeInterval(120)
        var exit: Int?
        while Date() < deadline, exit == nil {
            let query = [Pod(metadata: ObjectMeta(name: "", namespace: "", uid: uid), spec: PodSpec(containers: []))]
            let (_, answer) = try await agent.call("/status", try JSONEncoder().encode(query))
            exit = (try? JSONDecoder().decode([PodStatus].self, from: answer))?.first?.exitCode("main")
            if exit == nil { try await Task.sleep(for: .milliseconds(300)) }
        }
        #expect(exit == 0)
        let logs = LogStruct(namespace: "tests", podUID: uid, podName: "after-the-traps", containerName: "main", opts: LogOptions())
        let (_, text) = try await agent.call("/getLogs", try JSONEncoder().encode(logs))
        #expect(String(decoding: text, as: UTF8.self) == "still here\n")
    }

    /// The real binary refuses to start on a setting out of range, naming it.
    @Test func theAgentBinaryRefusesSettingsOutOfRange() throws {
        for (flag, value) in [("--retention", "99999999999999d"), ("--poll-interval", "1e300"), ("--default-memory", "1e30")] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try ProcessRestartTests.binary())
            process.arguments = ["render", flag, value, "-"]
            let err = Pipe()
            process.standardError = err
            process.standardOutput = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationReason == .exit && process.terminationStatus != 0, "\(flag) \(value)")
            #expect(text.contains("'\(flag.dropFirst(2))'") && text.contains("out of range"), "\(flag) \(value): \(text)")
        }
    }
}
