import EdgeAgent
import Foundation
import PodWire
import Testing

/// dte-agent in the place of interLink's Slurm plugin, on the real development cluster: the
/// plugin's layout, its annotations, GPUs as Slurm schedules them, `/system-info`, and a ping
/// that never reports an empty cluster while it is merely busy.
@Suite struct InterLinkCompatTests {
    static func scontrolJob(_ id: String) async throws -> String {
        try await CommandRunner.run("scontrol", ["show", "job", "-o", id], environment: nil, timeout: 20).stdout
    }

    @Test func interLinkLayoutHasThePluginsFiles() async throws {
        let agent = try TestAgent { $0.layout = .interlink }
        defer { agent.stop() }
        let pod = Fixtures.pod("layout", containers: [Fixtures.container("main", ["sh", "-c", "echo hello"])])
        let uid = pod.pod.metadata.uid
        let job = try await agent.create(pod)
        let status = try await agent.finished(uid)
        #expect(status.exitCode("main") == 0)
        let dir = agent.podDir(uid)
        let read = { (name: String) in (try? String(contentsOfFile: "\(dir)/\(name)", encoding: .utf8)) }
        #expect(read("JobID.jid") == job, "JobID.jid holds the job id Slurm answered")
        #expect(read("PodUID.uid") == uid)
        #expect(read("PodNamespace.ns") == "tests")
        let runner = try #require(read("job.sh"))
        #expect(try #require(read("job.slurm")).hasSuffix(String(runner.drop { $0 != "\n" }.dropFirst())),
                "job.slurm carries the runner that job.sh holds")
        #expect(read("run-main.out")?.hasSuffix(" hello\n") == true)
        #expect(read("run-main.status")?.contains("exit=0") == true)
    }

    @Test func sbatchFlagsInEveryFormReachSlurm() async throws {
        let agent = try TestAgent { $0.allowedSbatchFlags = ["--nice", "--time", "--mail-type"] }
        defer { agent.stop() }
        let pod = Fixtures.pod("flags", containers: [Fixtures.container("main", ["true"])],
                               annotations: ["slurm-job.vk.io/flags": "--nice 17 -t 7 --mail-type=NONE"])
        let job = try await agent.create(pod)
        _ = try await agent.finished(pod.pod.metadata.uid)
        let shown = try await Self.scontrolJob(job)
        #expect(shown.contains("Nice=17"), "\(shown)")
        #expect(shown.contains("TimeLimit=00:07:00"), "\(shown)")
        // not on the list: 400 naming the option, nothing submitted
        let refused = Fixtures.pod("flags-refused", containers: [Fixtures.container("main", ["true"])],
                                   annotations: ["slurm-job.vk.io/flags": "-w somenode"])
        let answer = try await agent.request(.post, "/create", body: try JSONEncoder().encode(refused))
        #expect(answer.status == 400)
        #expect(String(decoding: answer.body, as: UTF8.self).contains("-w somenode (--nodelist) is not an allowed sbatch option"))
        #expect(try await agent.status([refused.pod.metadata.uid]).isEmpty)
    }

    @Test func mappedGPUResourcesAndFlavorsRunWithTheirGRES() async throws {
        let agent = try TestAgent {
            $0.gpuResources = [GPUResource(resource: "nvidia.com/gpu"), GPUResource(resource: "amd.com/gpu")]
            $0.flavors = [Flavor(name: "gpu-small", cpus: 1, memoryMiB: 150,
                                 options: { var o = SbatchRequestOptions(); o.gpus = 1; return o }())]
        }
        defer { agent.stop() }
        let amd = Fixtures.pod("amd-gpu", containers: [Fixtures.container("main", ["sh", "-c", "echo gpus=$SLURM_JOB_GPUS"],
                                                                           limits: ["amd.com/gpu": "1"])])
        let flavored = Fixtures.pod("flavor-gpu", containers: [Fixtures.container("main", ["true"])],
                                    annotations: ["slurm-job.vk.io/flavor": "gpu-small"])
        for pod in [amd, flavored] {
            let job = try await agent.create(pod)
            let status = try await agent.finished(pod.pod.metadata.uid)
            #expect(status.exitCode("main") == 0, "\(pod.pod.metadata.name)")
            let shown = try await Self.scontrolJob(job)
            #expect(shown.contains("gres/gpu=1"), "\(pod.pod.metadata.name): \(shown)")
        }
        let unknown = Fixtures.pod("flavor-unknown", containers: [Fixtures.container("main", ["true"])],
                                   annotations: ["slurm-job.vk.io/flavor": "gpu-huge"])
        let answer = try await agent.request(.post, "/create", body: try JSONEncoder().encode(unknown))
        #expect(answer.status == 400)
        #expect(String(decoding: answer.body, as: UTF8.self).contains("known: gpu-small"))
    }

    @Test func runtimeAnnotationsPodIPAndPreExecInARealJob() async throws {
        let host = FileManager.default.temporaryDirectory.appendingPathComponent("dte-il-host-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: "\(host)/sw", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: host) }
        try "tool\n".write(toFile: "\(host)/sw/tool.txt", atomically: true, encoding: .utf8)
        let agent = try TestAgent {
            $0.allowedHostPaths = [host]
            $0.allowPreExec = true
        }
        defer { agent.stop() }
        let pod = Fixtures.pod("annotated", containers: [Fixtures.container("main", ["sh", "-c", "cat /sw/tool.txt; echo ip=$POD_IP"])],
                               annotations: ["slurm-job.vk.io/singularity-mounts": "--bind \(host)/sw:/sw:ro",
                                             "interlink.eu/pod-ip": "10.20.30.40",
                                             "slurm-job.vk.io/pre-exec": "echo pre-exec-ran > pre-exec.txt",
                                             "slurm-job.vk.io/what-is-this": "x"])
        let uid = pod.pod.metadata.uid
        _ = try await agent.create(pod)
        let status = try await agent.finished(uid)
        #expect(status.exitCode("main") == 0)
        let log = try await agent.logs(uid, "main").1
        #expect(log.hasPrefix("dte-agent: warning: annotation slurm-job.vk.io/what-is-this is not known"), "\(log)")
        #expect(log.hasSuffix("tool\nip=10.20.30.40\n"), "\(log)")
        #expect((try? String(contentsOfFile: "\(agent.podDir(uid))/pre-exec.txt", encoding: .utf8)) == "pre-exec-ran\n")
        // a bind outside the allowed folders never reaches Slurm
        let outside = Fixtures.pod("annotated-outside", containers: [Fixtures.container("main", ["true"])],
                                   annotations: ["slurm-job.vk.io/singularity-mounts": "--bind /etc:/etc2"])
        #expect(try await agent.request(.post, "/create", body: try JSONEncoder().encode(outside)).status == 422)
    }

    @Test func mpiFlagsLaunchTheContainerThroughSrun() async throws {
        let agent = try agent()
        let pod = Fixtures.pod("mpi", containers: [Fixtures.container("main", ["sh", "-c", "echo in-a-step"])],
                               annotations: ["slurm-job.vk.io/mpi-flags": "--mpi=none"])
        let job = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid)
        #expect(status.exitCode("main") == 0)
        #expect(try await agent.logs(pod.pod.metadata.uid, "main").1 == "in-a-step\n")
        // the container ran as a step of its own (srun), as accounting records it
        var steps = ""
        for _ in 0..<40 where !steps.split(separator: "\n").contains(Substring("\(job).0")) {
            steps = try await CommandRunner.run("sacct", ["-n", "-P", "-j", job, "--format=JobID"], environment: nil, timeout: 20).stdout
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(steps.split(separator: "\n").contains(Substring("\(job).0")), "steps: \(steps)")
    }

    @Test func systemInfoAnswersAsThePluginDoes() async throws {
        let agent = try agent()
        let answer = try await agent.request(.get, "/system-info")
        #expect(answer.status == 200)
        let object = try #require(try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])
        #expect(object["status"] as? String == "ok")
        #expect(object["slurm_connected"] as? Bool == true)
        #expect((object["sinfo_output"] as? String)?.contains("NODES(A/I/O/T)") == true, "\(object)")
        #expect((object["timestamp"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) } != nil)
    }

    /// interLink drains the virtual node when the ping says 0 (its issue #558): with every cpu
    /// of the cluster allocated, the ping still reports the cluster's size.
    @Test func pingIsNeverZeroWhileTheClusterIsBusy() async throws {
        let agent = try agent()
        // one job per node, each taking all its cpus (the cluster has nodes in two partitions)
        let nodes = try await CommandRunner.run("sinfo", ["-h", "-N", "-o", "%N %R %c"], environment: nil, timeout: 20).stdout
        let rows = nodes.split(whereSeparator: \.isNewline).map { $0.split(separator: " ").map(String.init) }.filter { $0.count == 3 }
        try #require(!rows.isEmpty, "sinfo listed no nodes: \(nodes)")
        var cpus = 0
        var jobs: [String] = []
        defer { for job in jobs { _ = CommandRunner.runBlocking("scancel", [job], environment: nil, timeout: 20) } }
        for row in rows {
            let count = try #require(Int(row[2]), "\(row)")
            cpus += count
            let name = "dte-busy-\(UUID().uuidString.prefix(8))"
            let submit = try await CommandRunner.run("sbatch", ["--parsable", "-J", name, "-p", row[1], "-w", row[0], "-c", "\(count)",
                                                               "--mem=50", "-o", "/dev/null", "--wrap", "sleep 300"],
                                                     environment: nil, timeout: 20)
            let job = submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            try #require(submit.status == 0 && !job.isEmpty, "\(submit.stderr)")
            jobs.append(job)
        }
        let deadline = Date().addingTimeInterval(240)
        var busy = false
        while Date() < deadline, !busy {
            let states = try await CommandRunner.run("squeue", ["-h", "-j", jobs.joined(separator: ","), "-o", "%t"],
                                                     environment: nil, timeout: 20).stdout
            if states.split(whereSeparator: \.isNewline).count == jobs.count, states.split(whereSeparator: \.isNewline).allSatisfy({ $0 == "R" }) {
                let free = try await SlurmCLI(logger: agent.logger).capacity()
                busy = free.freeCPUs == 0
            }
            if !busy { try await Task.sleep(for: .seconds(1)) }
        }
        try #require(busy, "the cluster never became busy (every cpu allocated) within 240 s")
        // the poller's next look sees the busy cluster; the ping must still not be 0
        try await Task.sleep(for: .seconds(2))
        let answer = try await agent.request(.get, "/status", body: Data("[]".utf8))
        #expect(answer.status == 200)
        let ping = try JSONDecoder().decode(PingResponse.self, from: answer.body)
        #expect(ping.resources.cpu == String(cpus), "\(ping)")
        #expect(ping.resources.memory != "0Mi" && ping.resources.memory != "0", "\(ping)")
        #expect(ping.resources.accelerators.first?.available != "0", "\(ping)")
    }
}
