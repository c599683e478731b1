import EdgeAgent
import Foundation
import PodWire
import Testing

/// Behaviours that depend on site settings or on the agent's life, on real Slurm: preStop
/// hooks, hostPath volumes, retention, runAsUser, resubmission after an interrupted create.
@Suite struct SiteBehaviourTests {
    @Test func preStopRunsWhenTheJobIsCancelled() async throws {
        let agent = try agent()
        var main = Fixtures.container("main", ["sh", "-c", "echo started; sleep 120"],
                                      mounts: [VolumeMount(name: "w", mountPath: "/w")])
        main.lifecycle = Lifecycle(preStop: LifecycleHandler(exec: ExecAction(command: ["sh", "-c", "echo stopping > /w/pre-stop"])))
        let pod = Fixtures.pod("pre-stop", containers: [main], volumes: [Volume(name: "w", emptyDir: EmptyDirVolumeSource())])
        let uid = pod.pod.metadata.uid
        let job = try await agent.create(pod)
        let deadline = Date().addingTimeInterval(60)
        while try await agent.status([uid]).first?.container("main")?.state.running == nil, Date() < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        // Cancelled by Slurm (as on a time limit or preemption), not deleted: the folder stays.
        let scancel = try await CommandRunner.run("scancel", [job], environment: nil)
        #expect(scancel.status == 0)
        let status = try await agent.finished(uid, timeout: 60)
        #expect(status.reason("main") == "Cancelled")
        // Slurm records the cancellation at once; the job's script runs preStop in the KillWait
        // that follows (30 s on the development cluster, Slurm's default), so the file may come
        // a moment later: on a loaded machine, starting the hook's container takes seconds.
        let path = "\(agent.podDir(uid))/emptyDirs/w/pre-stop"
        var written = FileManager.default.contents(atPath: path)
        let wrote = Date().addingTimeInterval(35)
        while written == nil, Date() < wrote {
            try await Task.sleep(for: .milliseconds(200))
            written = FileManager.default.contents(atPath: path)
        }
        #expect(written.map { String(decoding: $0, as: UTF8.self) } == "stopping\n")
    }

    @Test func hostPathVolumesUnderAllowedFolders() async throws {
        let host = FileManager.default.temporaryDirectory.appendingPathComponent("dte-agent-host-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: "\(host)/data", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: host) }
        try "from the host\n".write(toFile: "\(host)/data/input.txt", atomically: true, encoding: .utf8)
        let agent = try TestAgent { $0.allowedHostPaths = [host] }
        defer { agent.stop() }
        let main = Fixtures.container("main", ["sh", "-c", "cat /data/input.txt; echo from-the-pod > /data/output.txt"],
                                      mounts: [VolumeMount(name: "data", mountPath: "/data")])
        let pod = Fixtures.pod("host-path", containers: [main],
                               volumes: [Volume(name: "data", hostPath: HostPathVolumeSource(path: "\(host)/data"))])
        _ = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid)
        #expect(status.exitCode("main") == 0)
        #expect(try await agent.logs(pod.pod.metadata.uid, "main").1 == "from the host\n")
        #expect(try String(contentsOfFile: "\(host)/data/output.txt", encoding: .utf8) == "from-the-pod\n")

        // Outside the allowed folders: refused before anything reaches Slurm.
        let outside = Fixtures.pod("host-path-outside", containers: [main],
                                   volumes: [Volume(name: "data", hostPath: HostPathVolumeSource(path: "/etc"))])
        #expect(try await agent.request(.post, "/create", body: try JSONEncoder().encode(outside)).status == 422)
    }

    @Test func finishedPodsExpireAfterTheRetention() async throws {
        let agent = try TestAgent { $0.retentionSeconds = 2 }
        defer { agent.stop() }
        let pod = Fixtures.pod("expires", containers: [Fixtures.container("main", ["true"])])
        let uid = pod.pod.metadata.uid
        _ = try await agent.create(pod)
        _ = try await agent.finished(uid)
        let deadline = Date().addingTimeInterval(15)
        while try await !agent.status([uid]).isEmpty, Date() < deadline {
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(try await agent.status([uid]).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: agent.podDir(uid)))
        #expect(try PodStore.open(stateDir: agent.configuration.stateDir).find(uid) == nil)
        #expect(try await agent.logs(uid, "main").0 == 404)
    }

    @Test func runAsUserOnlyWhereTheSiteAllowsIt() async throws {
        func pod(_ name: String, user: Int, group: Int? = nil) -> RetrievedPodData {
            var data = Fixtures.pod(name, containers: [Fixtures.container("main", ["sh", "-c", "id -u; id -g"])])
            data.pod.spec.securityContext = PodSecurityContext(runAsUser: user, runAsGroup: group)
            return data
        }
        // Not allowed (the default): refused, never silently run as the agent.
        let shared = try agent()
        let refused = try await shared.request(.post, "/create", body: try JSONEncoder().encode(pod("run-as-refused", user: 65534)))
        #expect(refused.status == 422)
        #expect(String(decoding: refused.body, as: UTF8.self).contains("allow-run-as-user"))

        let agent = try TestAgent(runtime: .none) {
            $0.allowRunAsUser = true
            $0.runAsUsers = [65534...65534]
        }
        defer { agent.stop() }
        #expect(try await agent.request(.post, "/create", body: try JSONEncoder().encode(pod("run-as-root", user: 0, group: 0))).status == 422)
        let nobody = pod("run-as-nobody", user: 65534)
        let uid = nobody.pod.metadata.uid
        _ = try await agent.create(nobody)
        let status = try await agent.finished(uid)
        #expect(status.exitCode("main") == 0)
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        try #require(getpwuid_r(65534, &entry, &buffer, buffer.count, &result) == 0 && result != nil)
        #expect(try await agent.logs(uid, "main").1.hasPrefix("65534\n\(entry.pw_gid)\n"))
        var info = stat()
        #expect(stat(agent.podDir(uid), &info) == 0 && info.st_uid == 65534)

        // The script the job runs is the agent's, outside the folder the job's user owns.
        #expect(!FileManager.default.fileExists(atPath: "\(agent.podDir(uid))/job.slurm"))
        #expect(stat("\(agent.configuration.workDir)/.scripts/tests-\(uid).slurm", &info) == 0 && info.st_uid == 0
                    && info.st_mode & 0o077 == 0)

        // A group the user belongs to (its primary group) is honoured; one it does not, never.
        let grouped = pod("run-as-group", user: 65534, group: Int(entry.pw_gid))
        _ = try await agent.create(grouped)
        #expect(try await agent.finished(grouped.pod.metadata.uid).exitCode("main") == 0)
        #expect(try await agent.logs(grouped.pod.metadata.uid, "main").1.hasPrefix("65534\n\(entry.pw_gid)\n"))
        let foreign = try await agent.request(.post, "/create", body: try JSONEncoder().encode(pod("run-as-foreign", user: 65534, group: 100)))
        #expect(foreign.status == 422)
        #expect(String(decoding: foreign.body, as: UTF8.self).contains("runAsGroup 100 is not a group of user"))
    }

    @Test func interruptedCreateIsResubmittedWhenItsJobNeverReachedSlurm() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dte-agent-resubmit-\(UUID().uuidString.prefix(8))").path
        var configuration = AgentConfiguration()
        configuration.setDataDir(dir)
        configuration.runtime = .bwrap
        configuration.defaultMemoryMiB = 200
        let store = try PodStore.open(stateDir: dir)
        let builder = PodJobBuilder(configuration: configuration, instanceID: try store.instanceID())
        func intent(_ pod: RetrievedPodData, writeScript: Bool) throws -> PodJob {
            let job = try builder.build(pod)
            let fm = FileManager.default
            try fm.createDirectory(atPath: job.podDir, withIntermediateDirectories: true)
            for directory in job.directories {
                try fm.createDirectory(atPath: "\(job.podDir)/\(directory.path)", withIntermediateDirectories: true)
            }
            for file in job.files { try file.contents.write(to: URL(fileURLWithPath: "\(job.podDir)/\(file.path)")) }
            if writeScript { try job.batchScript.write(toFile: job.scriptPath, atomically: true, encoding: .utf8) }
            try store.save(PodRecord(uid: job.uid, namespace: job.namespace, name: job.name, jobID: nil, phase: .submitting,
                                     podDir: job.podDir, initContainers: [], containers: [TrackedContainer(name: "main", image: "")],
                                     request: job.request, createdAt: 0, updatedAt: 0))
            return job
        }
        // The agent stopped after storing the intent and writing the folder, before sbatch.
        let complete = Fixtures.pod("never-submitted", containers: [Fixtures.container("main", ["echo", "resubmitted"])])
        _ = try intent(complete, writeScript: true)
        // …and one that stopped while writing the folder.
        let partial = Fixtures.pod("half-written", containers: [Fixtures.container("main", ["true"])])
        let partialJob = try intent(partial, writeScript: false)

        let agent = try TestAgent(dataDir: dir)
        defer { agent.stop() }
        let status = try await agent.finished(complete.pod.metadata.uid)
        #expect(status.exitCode("main") == 0 && !status.jobID.isEmpty)
        #expect(try await agent.logs(complete.pod.metadata.uid, "main").1 == "resubmitted\n")
        #expect(try await agent.status([partial.pod.metadata.uid]).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: partialJob.podDir))
        #expect(try store.find(partial.pod.metadata.uid) == nil)
        // A create of the dropped pod now works normally.
        _ = try await agent.create(partial)
        #expect(try await agent.finished(partial.pod.metadata.uid).exitCode("main") == 0)
    }
}

@Suite struct RunAsUserScriptTests {
    @Test func honouredUserBecomesSbatchUidAndMixedUsersAreRefused() throws {
        var configuration = Fixtures.configuration()
        configuration.allowRunAsUser = true
        configuration.runAsUsers = [65534...65534]
        var data = Fixtures.pod("as-user", containers: [Fixtures.container("main", ["true"])])
        data.pod.spec.securityContext = PodSecurityContext(runAsUser: 65534, runAsGroup: 65534)
        let builder = Fixtures.builder(configuration)
        if geteuid() == 0 {
            let job = try builder.build(data)
            #expect(job.request.userID == 65534 && job.request.groupID == 65534)
            #expect(job.batchScript.contains("#SBATCH --uid=65534\n#SBATCH --gid=65534\n"))
        }
        data.pod.spec.containers.append(Fixtures.container("other", ["true"]))
        data.pod.spec.containers[1].securityContext = PodSecurityContext(runAsUser: 4321)
        #expect(throws: AgentError.self) { try builder.build(data) }
        #expect((try? Fixtures.builder().build(Fixtures.pod("plain", containers: [Fixtures.container("main", ["true"])])))?.request.userID == nil)
    }
}
