import EdgeAgent
import Foundation
import PodWire
import Testing

/// interLink's test-set behaviours, run as real Slurm jobs with the bwrap runtime.
@Suite struct SlurmPodTests {
    static let printArgv = "import json, os, sys; print(json.dumps({'argv': sys.argv[1:], 'env': os.environ.get('PAYLOAD')}))"

    @Test func helloWorld() async throws {
        let agent = try agent()
        let pod = Fixtures.pod("hello", containers: [Fixtures.container("main", ["echo", "hello world"])])
        let job = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid)
        #expect(status.jobID == job)
        #expect(status.exitCode("main") == 0)
        #expect(status.reason("main") == "Completed")
        #expect(status.container("main")?.state.terminated?.startedAt != nil)
        let (code, text) = try await agent.logs(pod.pod.metadata.uid, "main")
        #expect(code == 200)
        #expect(text == "hello world\n")
    }

    @Test func multiLineArgs() async throws {
        let agent = try agent()
        let script = "import sys\nfor i in range(3):\n    print('line', i)\nprint('done')"
        let pod = Fixtures.pod("multiline", containers: [Fixtures.container("main", ["python3", "-c"], args: [script])])
        _ = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid)
        #expect(status.exitCode("main") == 0)
        #expect(try await agent.logs(pod.pod.metadata.uid, "main").1 == "line 0\nline 1\nline 2\ndone\n")
    }

    @Test func envFromValuesConfigMapsAndSecrets() async throws {
        let agent = try agent()
        let env = [
            EnvVar(name: "PLAIN", value: "value"),
            EnvVar(name: "FROM_MAP", valueFrom: EnvVarSource(configMapKeyRef: KeySelector(name: "settings", key: "mode"))),
            EnvVar(name: "FROM_SECRET", valueFrom: EnvVarSource(secretKeyRef: KeySelector(name: "creds", key: "password"))),
        ]
        var main = Fixtures.container("main", ["python3", "-c"],
                                      args: ["import os; print(os.environ['PLAIN'], os.environ['FROM_MAP'], os.environ['FROM_SECRET'], os.environ['CFG_level'])"],
                                      env: env)
        main.envFrom = [EnvFromSource(prefix: "CFG_", configMapRef: NameReference(name: "settings"))]
        let pod = Fixtures.pod("env", containers: [main],
                               configMaps: [ConfigMap(metadata: ObjectMeta(name: "settings"), data: ["mode": "fast", "level": "3"])],
                               secrets: [Fixtures.secret("creds", ["password": "s3cr3t"])])
        _ = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid)
        #expect(status.exitCode("main") == 0)
        #expect(try await agent.logs(pod.pod.metadata.uid, "main").1 == "value fast s3cr3t 3\n")
        let script = try String(contentsOfFile: "\(agent.podDir(pod.pod.metadata.uid))/job.slurm", encoding: .utf8)
        #expect(!script.contains("s3cr3t"))
    }

    @Test func twoContainersShareAnEmptyDir() async throws {
        let agent = try agent()
        let mount = [VolumeMount(name: "shared", mountPath: "/shared")]
        let pod = Fixtures.pod(
            "shared",
            containers: [
                Fixtures.container("writer", ["sh", "-c", "echo from-writer > /shared/msg.tmp && mv /shared/msg.tmp /shared/msg"],
                                   mounts: mount, requests: ["cpu": "100m"]),
                Fixtures.container("reader", ["sh", "-c", "for i in $(seq 100); do [ -f /shared/msg ] && break; sleep 0.1; done; cat /shared/msg"],
                                   mounts: mount, requests: ["cpu": "100m"]),
            ],
            volumes: [Volume(name: "shared", emptyDir: EmptyDirVolumeSource())])
        _ = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid)
        #expect(status.exitCode("writer") == 0 && status.exitCode("reader") == 0)
        #expect(try await agent.logs(pod.pod.metadata.uid, "reader").1 == "from-writer\n")
    }

    @Test func configMapAndSecretVolumes() async throws {
        let agent = try agent()
        let pod = Fixtures.pod(
            "volumes",
            containers: [Fixtures.container("main", ["sh", "-c", "cat /etc/app/app.conf /secrets/token; echo; stat -c %a /secrets/token"],
                                            mounts: [VolumeMount(name: "cfg", mountPath: "/etc/app"), VolumeMount(name: "sec", mountPath: "/secrets")])],
            volumes: [Volume(name: "cfg", configMap: ConfigMapVolumeSource(name: "app")),
                      Volume(name: "sec", secret: SecretVolumeSource(secretName: "tok"))],
            configMaps: [ConfigMap(metadata: ObjectMeta(name: "app"), data: ["app.conf": "a = 1\nb = 2\n"])],
            secrets: [Fixtures.secret("tok", ["token": "abc123"])])
        _ = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid)
        #expect(status.exitCode("main") == 0)
        #expect(try await agent.logs(pod.pod.metadata.uid, "main").1 == "a = 1\nb = 2\nabc123\n600\n")
    }

    @Test func initContainersRunInOrderAndFailFast() async throws {
        let agent = try agent()
        let mount = [VolumeMount(name: "w", mountPath: "/w")]
        let ordered = Fixtures.pod(
            "init-order",
            initContainers: [Fixtures.container("first", ["sh", "-c", "echo first >> /w/order"], mounts: mount),
                             Fixtures.container("second", ["sh", "-c", "echo second >> /w/order"], mounts: mount)],
            containers: [Fixtures.container("main", ["cat", "/w/order"], mounts: mount)],
            volumes: [Volume(name: "w", emptyDir: EmptyDirVolumeSource())])
        let failing = Fixtures.pod(
            "init-fail",
            initContainers: [Fixtures.container("breaks", ["sh", "-c", "exit 3"]),
                             Fixtures.container("never", ["sh", "-c", "echo should-not-run"])],
            containers: [Fixtures.container("main", ["echo", "should-not-run"])])
        _ = try await agent.create(ordered)
        _ = try await agent.create(failing)
        let ok = try await agent.finished(ordered.pod.metadata.uid)
        #expect(ok.initContainers.map { $0.state.terminated?.exitCode } == [0, 0])
        #expect(try await agent.logs(ordered.pod.metadata.uid, "main").1 == "first\nsecond\n")
        let first = try #require(ok.container("first")?.state.terminated?.finishedAt)
        let second = try #require(ok.container("second")?.state.terminated?.startedAt)
        #expect(first <= second)

        let failed = try await agent.finished(failing.pod.metadata.uid)
        #expect(failed.exitCode("breaks") == 3)
        #expect(failed.reason("never") == "NotStarted")
        #expect(failed.reason("main") == "NotStarted")
        #expect(try await agent.logs(failing.pod.metadata.uid, "main").1 == "")
    }

    @Test func failingContainersReportTheirExitCodes() async throws {
        let agent = try agent()
        let pod = Fixtures.pod(
            "exit-codes",
            containers: [Fixtures.container("ok", ["true"], requests: ["cpu": "100m"]),
                         Fixtures.container("seven", ["sh", "-c", "exit 7"], requests: ["cpu": "100m"]),
                         Fixtures.container("two", ["sh", "-c", "exit 2"], requests: ["cpu": "100m"])])
        let job = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid)
        #expect(status.exitCode("ok") == 0)
        #expect(status.exitCode("seven") == 7 && status.reason("seven") == "Error")
        #expect(status.exitCode("two") == 2)
        // The job's own exit code is the highest of its containers'.
        let slurm = try await SlurmLibrary(logger: .init(label: "t")).jobs()
        #expect(slurm[job]?.exitCode == 7)
        #expect(slurm[job]?.phase == .failed)
    }

    @Test func projectedVolumeKeepsMultiLinePEM() async throws {
        let agent = try agent()
        let pem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUYz\n+/=abc\n-----END CERTIFICATE-----\n"
        let pod = Fixtures.pod(
            "projected",
            containers: [Fixtures.container("main", ["python3", "-c", "import sys; sys.stdout.write(repr(open('/var/run/secrets/kubernetes.io/serviceaccount/ca.crt').read()))"],
                                            mounts: [VolumeMount(name: "kube-api-access", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount")])],
            volumes: [Volume(name: "kube-api-access", projected: ProjectedVolumeSource())],
            projected: [ConfigMap(metadata: ObjectMeta(name: "kube-api-access"), data: ["ca.crt": pem, "namespace": "tests"])])
        _ = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid)
        #expect(status.exitCode("main") == 0)
        let file = try Data(contentsOf: URL(fileURLWithPath: "\(agent.podDir(pod.pod.metadata.uid))/projectedVolumeMaps/kube-api-access/ca.crt"))
        #expect(file == Data(pem.utf8))
        #expect(try await agent.logs(pod.pod.metadata.uid, "main").1 == "'" + pem.replacingOccurrences(of: "\n", with: "\\n") + "'\n")
    }

    @Test func gpuRequestBecomesAGPUAllocation() async throws {
        let agent = try agent()
        let pod = Fixtures.pod("gpu", containers: [Fixtures.container("main", ["true"], limits: ["nvidia.com/gpu": "1"])])
        let job = try await agent.create(pod)
        _ = try await agent.finished(pod.pod.metadata.uid)
        let show = try await CommandRunner.run("scontrol", ["show", "job", "-o", job])
        #expect(show.stdout.contains("gres/gpu=1"), "\(show.stdout)")
    }

    @Test func injectionAttemptsReachTheProgramByteExact() async throws {
        let agent = try agent()
        let marker = "\(agent.dataDir)/pwned-\(UUID().uuidString.prefix(6))"
        let hostile = ["$(touch \(marker))", "`touch \(marker)`", "'; touch \(marker); echo '", "\"double\" and 'single'",
                       "semi;colon && pipe | amp &", "new\nline", "back\\slash $HOME ${PATH} *", "-n", ""]
        let payload = "it's \"quoted\" $(touch \(marker)) `id` ;\nsecond line"
        let pod = Fixtures.pod("inject", containers: [Fixtures.container(
            "main", ["python3", "-c", Self.printArgv], args: hostile, env: [EnvVar(name: "PAYLOAD", value: payload)])])
        _ = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid)
        #expect(status.exitCode("main") == 0)
        let text = try await agent.logs(pod.pod.metadata.uid, "main").1
        struct Echo: Decodable { var argv: [String]; var env: String? }
        let echo = try JSONDecoder().decode(Echo.self, from: Data(text.utf8))
        #expect(echo.argv == hostile)
        #expect(echo.env == payload)
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func memoryLimitEndsInOOMKilled() async throws {
        let agent = try agent()
        let pod = Fixtures.pod("oom", containers: [Fixtures.container(
            "hog", ["python3", "-c", "import time\nx = bytearray(600 * 1024 * 1024)\nfor i in range(0, len(x), 4096): x[i] = 1\ntime.sleep(30)"],
            limits: ["memory": "150Mi"])])
        let job = try await agent.create(pod)
        // the container's own status says why it ended as soon as it has ended
        let status = try await agent.finished(pod.pod.metadata.uid, timeout: 90)
        #expect(status.reason("hog") == "OOMKilled", "\(status)")
        #expect(status.exitCode("hog") == 137)
        // and Slurm ends the job for the same reason (a moment later on a busy node)
        let ended = try await SlurmCluster.ended(job)
        #expect(ended?.phase == .outOfMemory, "\(String(describing: ended))")
    }

    @Test func lifecycleHooksRunInTheContainer() async throws {
        let agent = try agent()
        var main = Fixtures.container("main", ["sh", "-c", "for i in $(seq 100); do [ -f /w/hooked ] && break; sleep 0.1; done; cat /w/hooked"],
                                      mounts: [VolumeMount(name: "w", mountPath: "/w")])
        main.lifecycle = Lifecycle(postStart: LifecycleHandler(exec: ExecAction(command: ["sh", "-c", "echo post-start > /w/hooked"])))
        let pod = Fixtures.pod("hooks", containers: [main], volumes: [Volume(name: "w", emptyDir: EmptyDirVolumeSource())])
        _ = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid)
        #expect(status.exitCode("main") == 0)
        #expect(try await agent.logs(pod.pod.metadata.uid, "main").1 == "post-start\n")
    }

    @Test func noneRuntimeRunsOnTheNode() async throws {
        let agent = try TestAgent(runtime: .none, access: .cli)
        defer { agent.stop() }
        let pod = Fixtures.pod("none", containers: [Fixtures.container(
            "main", ["python3", "-c", Self.printArgv], args: ["a b", "$(x)"], env: [EnvVar(name: "PAYLOAD", value: "v'1")])])
        _ = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid)
        #expect(status.exitCode("main") == 0)
        #expect(try await agent.logs(pod.pod.metadata.uid, "main").1 == #"{"argv": ["a b", "$(x)"], "env": "v'1"}"# + "\n")
    }
}

/// Jobs ended by Slurm rather than by their containers.
@Suite struct SlurmEndingTests {
    @Test func cancelledJobReportsCancelled() async throws {
        let agent = try agent()
        let pod = Fixtures.pod("cancelled", containers: [Fixtures.container("main", ["sleep", "300"])])
        let job = try await agent.create(pod)
        let deadline = Date().addingTimeInterval(60)
        while try await agent.status([pod.pod.metadata.uid]).first?.container("main")?.state.running == nil, Date() < deadline {
            try await Task.sleep(for: .milliseconds(300))
        }
        try await SlurmLibrary(logger: .init(label: "t")).cancel(jobID: job)
        let status = try await agent.ended(pod.pod.metadata.uid, job: job)
        #expect(status.reason("main") == "Cancelled", "\(status)")
        #expect(status.exitCode("main") == 143)
    }

    @Test func timeLimitReportsSlurmJobTimeout() async throws {
        let agent = try agent()
        var pod = Fixtures.pod("deadline", containers: [Fixtures.container("main", ["sleep", "600"])])
        pod.pod.spec.activeDeadlineSeconds = 30
        let job = try await agent.create(pod)
        let show = try await CommandRunner.run("scontrol", ["show", "job", "-o", job])
        #expect(show.stdout.contains("TimeLimit=00:01:00"))
        let status = try await agent.ended(pod.pod.metadata.uid, job: job, timeout: 180)
        #expect(status.reason("main") == "SlurmJobTimeout", "\(status)")
    }
}
