import EdgeAgent
import Foundation
import Logging
import PodWire
import Testing

/// The agent's API contract on real Slurm: idempotency, deletion, errors, restart, ping, logs.
@Suite struct AgentBehaviourTests {
    @Test func createIsIdempotentOnPodUID() async throws {
        let agent = try agent()
        let pod = Fixtures.pod("idempotent", containers: [Fixtures.container("main", ["sleep", "2"])])
        async let a = agent.create(pod)
        async let b = agent.create(pod)
        async let c = agent.create(pod)
        let ids = try await [a, b, c]
        #expect(Set(ids).count == 1)
        #expect(try await agent.create(pod) == ids[0])
        let jobs = try await SlurmLibrary(logger: .init(label: "t")).jobs()
        let matching = jobs.values.filter { $0.comment?.hasSuffix(":\(pod.pod.metadata.uid)") == true }
        #expect(matching.map(\.jobID) == [ids[0]])
    }

    @Test func deleteCancelsTheJobAndIsIdempotent() async throws {
        let agent = try agent()
        let pod = Fixtures.pod("deleted", containers: [Fixtures.container("main", ["sleep", "300"])])
        let job = try await agent.create(pod)
        let body = try JSONEncoder().encode(pod.pod)
        let first = try await agent.request(.post, "/delete", body: body)
        #expect(first.status == 200)
        let backend = SlurmLibrary(logger: .init(label: "t"))
        var state = try await backend.jobs()[job]?.phase
        let deadline = Date().addingTimeInterval(30)
        while state?.isTerminal == false, Date() < deadline {
            try await Task.sleep(for: .milliseconds(300))
            state = try await backend.jobs()[job]?.phase
        }
        #expect(state == .cancelled || state == nil)
        // Once Slurm confirmed, the pod is forgotten and its folder removed.
        let dir = agent.podDir(pod.pod.metadata.uid)
        let gone = Date().addingTimeInterval(15)
        while FileManager.default.fileExists(atPath: dir), Date() < gone { try await Task.sleep(for: .milliseconds(300)) }
        #expect(!FileManager.default.fileExists(atPath: dir))
        #expect(try await agent.status([pod.pod.metadata.uid]).isEmpty)
        // Deleting again does nothing and says the pod is gone (as Kubernetes does: 404).
        #expect(try await agent.request(.post, "/delete", body: body).status == 404)
    }

    @Test func deleteOfAnUnknownPodIsNotFound() async throws {
        let agent = try agent()
        let pod = Pod(metadata: ObjectMeta(name: "ghost", namespace: "tests", uid: Fixtures.uid()), spec: PodSpec(containers: []))
        let (status, body) = try await agent.request(.post, "/delete", body: try JSONEncoder().encode(pod))
        #expect(status == 404)
        #expect(String(decoding: body, as: UTF8.self).contains("not known"))
    }

    @Test func badRequestsAreRefusedWithAReason() async throws {
        let agent = try agent()
        let malformed = try await agent.request(.post, "/create", body: Data("{\"pod\": {".utf8))
        #expect(malformed.status == 400)
        #expect(String(decoding: malformed.body, as: UTF8.self).contains("not a RetrievedPodData"))
        #expect(try await agent.request(.post, "/create", body: Data("[]".utf8)).status == 400)
        #expect(try await agent.request(.get, "/status", body: Data("{}".utf8)).status == 400)

        let volumeJSON = #"{"pod":{"metadata":{"name":"pvc","namespace":"tests","uid":"\#(Fixtures.uid())"},"spec":{"containers":[{"name":"c","command":["true"]}],"volumes":[{"name":"data","persistentVolumeClaim":{"claimName":"x"}}]}},"container":[{"name":"c"}]}"#
        let unsupported = try await agent.request(.post, "/create", body: Data(volumeJSON.utf8))
        #expect(unsupported.status == 422)
        #expect(String(decoding: unsupported.body, as: UTF8.self).contains("persistentVolumeClaim"))

        let traversal = Fixtures.pod("traversal", containers: [Fixtures.container("c", ["true"])],
                                     volumes: [Volume(name: "cfg", configMap: ConfigMapVolumeSource(name: "cm"))],
                                     configMaps: [ConfigMap(metadata: ObjectMeta(name: "cm"), data: ["../../../etc/cron.d/x": "evil"])])
        let refused = try await agent.request(.post, "/create", body: try JSONEncoder().encode(traversal))
        #expect(refused.status == 400)
        #expect(!FileManager.default.fileExists(atPath: agent.podDir(traversal.pod.metadata.uid)))

        let logs = try await agent.logs(Fixtures.uid(), "main")
        #expect(logs.0 == 404)
    }

    @Test func createAcceptsAOneElementList() async throws {
        let agent = try agent()
        let pod = Fixtures.pod("as-list", containers: [Fixtures.container("main", ["true"])])
        let (status, body) = try await agent.request(.post, "/create", body: try JSONEncoder().encode([pod]))
        #expect(status == 200)
        let created = try JSONDecoder().decode(CreateResponse.self, from: body)
        #expect(created.podUID == pod.pod.metadata.uid && !created.podJID.isEmpty)
    }

    /// The ping tells interLink what the virtual node can hold: the size of the nodes that are
    /// up (never what happens to be free, which drains the node when the cluster is busy).
    @Test func pingReportsTheSizeOfTheNodesThatAreUp() async throws {
        let agent = try agent()
        var answer = try await agent.request(.get, "/status", body: Data("[]".utf8))
        let deadline = Date().addingTimeInterval(10)
        while answer.status != 200, Date() < deadline {
            try await Task.sleep(for: .milliseconds(200))
            answer = try await agent.request(.get, "/status", body: Data("[]".utf8))
        }
        #expect(answer.status == 200)
        let ping = try JSONDecoder().decode(PingResponse.self, from: answer.body)
        // The development cluster (scripts/dev-cluster.sh): the batch node with 8 CPUs, 16000 MB and
        // 2 GPUs, and the two nodes of partition mpi with 2 CPUs and 2000 MB each.
        #expect(ping.resources.cpu == "12")
        #expect(ping.resources.memory == "20000Mi")
        let gpus = try #require(ping.resources.accelerators.first { $0.resourceType == "nvidia.com/gpu" })
        #expect(gpus.available == "2")
        let health = try await agent.request(.get, "/healthz")
        #expect(health.status == 200)
    }

    @Test func logOptionsAreHonoured() async throws {
        let agent = try agent()
        let pod = Fixtures.pod("logs", containers: [Fixtures.container("main", ["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done"])])
        _ = try await agent.create(pod)
        _ = try await agent.finished(pod.pod.metadata.uid)
        let uid = pod.pod.metadata.uid
        #expect(try await agent.logs(uid, "main", LogOptions(tail: 2)).1 == "line4\nline5\n")
        #expect(try await agent.logs(uid, "main", LogOptions(limitBytes: 8)).1 == "line1\nli")
        let stamped = try await agent.logs(uid, "main", LogOptions(timestamps: true)).1
        let first = try #require(stamped.split(separator: "\n").first)
        let parts = first.split(separator: " ")
        #expect(WireTime(rfc3339: String(parts[0])) != nil && parts[1] == "line1")
        #expect(try await agent.logs(uid, "main", LogOptions(sinceTime: WireTime(Date().addingTimeInterval(3600)))).1 == "")
        #expect(try await agent.logs(uid, "main", LogOptions(sinceSeconds: 3600)).1.hasPrefix("line1\n"))
        #expect(try await agent.logs(uid, "main", LogOptions(tail: 1, limitBytes: 1)).0 == 400)
    }

    @Test func followStreamsUntilTheContainerEnds() async throws {
        let agent = try agent()
        let pod = Fixtures.pod("follow", containers: [Fixtures.container("main", ["sh", "-c", "echo start; sleep 2; echo end"])])
        _ = try await agent.create(pod)
        let started = Date()
        let (status, text) = try await agent.logs(pod.pod.metadata.uid, "main", LogOptions(follow: true))
        #expect(status == 200)
        #expect(text == "start\nend\n")
        #expect(Date().timeIntervalSince(started) >= 1.5)
    }

    @Test func restartKeepsEveryPodAndItsJob() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dte-agent-restart-\(UUID().uuidString.prefix(8))").path
        let before = try TestAgent(dataDir: dir)
        let done = Fixtures.pod("finished-before", containers: [Fixtures.container("main", ["echo", "done"])])
        let running = Fixtures.pod("running-across", containers: [Fixtures.container("main", ["sleep", "4"])])
        let doneJob = try await before.create(done)
        let runningJob = try await before.create(running)
        _ = try await before.finished(done.pod.metadata.uid)

        // A create that was interrupted after the job reached Slurm but before the store knew its id.
        let orphanPod = Fixtures.pod("interrupted", containers: [Fixtures.container("main", ["true"])])
        let job = try before.controller.builder.build(orphanPod)
        let backend = SlurmLibrary(logger: .init(label: "t"))
        try FileManager.default.createDirectory(atPath: job.podDir, withIntermediateDirectories: true)
        try job.batchScript.write(toFile: "\(job.podDir)/job.slurm", atomically: true, encoding: .utf8)
        let submitted = try await backend.submit(job.request, script: job.batchScript, scriptPath: "\(job.podDir)/job.slurm")
        let store = try PodStore.open(stateDir: dir)
        try store.save(PodRecord(uid: job.uid, namespace: job.namespace, name: job.name, jobID: nil, phase: .submitting,
                                 podDir: job.podDir, initContainers: [], containers: [TrackedContainer(name: "main", image: "")],
                                 request: job.request, createdAt: 0, updatedAt: 0))
        before.stop()

        let after = try TestAgent(dataDir: dir)
        defer { after.stop() }
        let statuses = try await after.status([done.pod.metadata.uid, running.pod.metadata.uid])
        #expect(statuses.map(\.jobID).sorted() == [doneJob, runningJob].sorted())
        #expect(try await after.create(running) == runningJob)
        let finished = try await after.finished(running.pod.metadata.uid)
        #expect(finished.exitCode("main") == 0 && finished.jobID == runningJob)
        let adopted = try await after.finished(orphanPod.pod.metadata.uid)
        #expect(adopted.jobID == submitted)
        #expect(try await after.logs(done.pod.metadata.uid, "main").1 == "done\n")

        // A job with this agent's comment that matches no pod is reported, not cancelled.
        var stray = job.request
        stray.comment = "dte-agent:\(after.controller.builder.instanceID):not-a-known-pod"
        stray.hold = true
        let strayJob = try await backend.submit(stray, script: job.batchScript, scriptPath: "\(job.podDir)/job.slurm")
        defer { Task { try? await backend.cancel(jobID: strayJob) } }
        var orphans: [String] = []
        let deadline = Date().addingTimeInterval(10)
        while !orphans.contains(strayJob), Date() < deadline {
            try await Task.sleep(for: .milliseconds(300))
            let health = try await after.request(.get, "/v1/health")
            orphans = try JSONDecoder().decode(AgentHealth.self, from: health.body).orphanJobs
        }
        #expect(orphans.contains(strayJob))
        #expect(try await backend.jobs()[strayJob]?.phase == .queued)
    }

    @Test func cliBackendRunsPodsToo() async throws {
        let agent = try TestAgent(access: .cli)
        defer { agent.stop() }
        let pod = Fixtures.pod("cli", containers: [Fixtures.container("main", ["sh", "-c", "echo via-cli; exit 4"])])
        _ = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid)
        #expect(status.exitCode("main") == 4)
        #expect(try await agent.logs(pod.pod.metadata.uid, "main").1 == "via-cli\n")
    }
}
