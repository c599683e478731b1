import EdgeAgent
import Foundation
import PodWire
import Testing

/// Startup, liveness and readiness probes: checked before anything is written (every field a
/// pod sets is data in the script, never shell), and run on real Slurm beside the container.
@Suite struct ProbeTests {
    static func pod(_ name: String = "probed", command: [String] = ["sleep", "600"], startup: Probe? = nil, liveness: Probe? = nil,
                    readiness: Probe? = nil, ports: [ContainerPort] = [], initProbe: Bool = false) -> RetrievedPodData {
        var main = Fixtures.container("main", command)
        main.startupProbe = startup
        main.livenessProbe = liveness
        main.readinessProbe = readiness
        main.ports = ports
        var setup = Fixtures.container("setup", ["true"])
        if initProbe { setup.livenessProbe = Probe(exec: ExecAction(command: ["true"])) }
        return Fixtures.pod(name, initContainers: initProbe ? [setup] : [], containers: [main])
    }

    static func http(_ port: PortReference = .number(8080), path: String? = "/healthz", scheme: String? = nil, host: String? = nil,
                     headers: [HTTPHeaderValue] = []) -> Probe {
        Probe(httpGet: HTTPGetAction(path: path, port: port, host: host, scheme: scheme, httpHeaders: headers))
    }

    @Test func probesThatCannotRunSafelyAreRefusedWithTheFieldNamed() {
        let builder = Fixtures.builder()
        var grpc = Probe()
        grpc.grpc = .object(["port": .number(9000)])
        var both = Self.http()
        both.exec = ExecAction(command: ["true"])
        let cases: [(RetrievedPodData, AgentError.Code, String)] = [
            (Self.pod(liveness: grpc), .unsupported, "gRPC probes are not supported"),
            (Self.pod(liveness: Self.http(scheme: "HTTPS")), .unsupported, "plain HTTP only"),
            (Self.pod(liveness: both), .invalidPod, "exactly one of exec, httpGet, tcpSocket and grpc"),
            (Self.pod(liveness: Probe()), .invalidPod, "exactly one of"),
            (Self.pod(liveness: Self.http(.number(0))), .invalidPod, "port 0 is not a port number"),
            (Self.pod(liveness: Self.http(.number(70_000))), .invalidPod, "port 70000"),
            (Self.pod(liveness: Self.http(.name("web"))), .invalidPod, "'web' names no port"),
            (Self.pod(liveness: Self.http(path: "/a b")), .invalidPod, "must start with /"),
            (Self.pod(liveness: Self.http(path: "/x\r\nX-Evil: 1")), .invalidPod, "must start with /"),
            (Self.pod(liveness: Self.http(path: "relative")), .invalidPod, "must start with /"),
            (Self.pod(liveness: Self.http(headers: [HTTPHeaderValue(name: "X-A", value: "v\r\nHost: evil")])), .invalidPod, "header name"),
            (Self.pod(liveness: Self.http(headers: [HTTPHeaderValue(name: "Bad Name", value: "v")])), .invalidPod, "header name"),
            (Self.pod(liveness: Self.http(host: "$(reboot)")), .invalidPod, "not an IP address or DNS name"),
            (Self.pod(liveness: Probe(tcpSocket: TCPSocketAction(port: .number(22), host: "a;b"))), .invalidPod, "not an IP address"),
            (Self.pod(liveness: Probe(exec: ExecAction(command: []))), .invalidPod, "exec.command is empty"),
            (Self.pod(liveness: Probe(exec: ExecAction(command: ["a\u{0}b"]))), .invalidPod, "NUL"),
            (Self.pod(liveness: Probe(exec: ExecAction(command: ["true"]), successThreshold: 2)), .invalidPod, "must be 1 for a liveness probe"),
            (Self.pod(startup: Probe(exec: ExecAction(command: ["true"]), periodSeconds: 0)), .invalidPod, "periodSeconds 0 is out of range"),
            (Self.pod(readiness: Probe(exec: ExecAction(command: ["true"]), timeoutSeconds: 86_400 * 10)), .invalidPod, "timeoutSeconds"),
            (Self.pod(readiness: Probe(exec: ExecAction(command: ["true"]), initialDelaySeconds: -1)), .invalidPod, "initialDelaySeconds -1"),
            (Self.pod(readiness: Probe(exec: ExecAction(command: ["true"]), failureThreshold: Int.max)), .invalidPod, "failureThreshold"),
            (Self.pod(initProbe: true), .invalidPod, "init container 'setup' cannot have probes"),
        ]
        for (data, code, words) in cases {
            var caught: AgentError?
            do { _ = try builder.build(data) } catch { caught = error }
            #expect(caught?.code == code, "\(words): \(caught?.message ?? "accepted")")
            #expect(caught?.message.contains(words) == true, "\(caught?.message ?? "accepted") should say \(words)")
        }
    }

    @Test func everyProbeValueIsQuotedIntoTheScript() throws {
        let probe = Self.http(.name("web"), path: "/h?q='$(id)'&x=`uname`", host: "localhost",
                              headers: [HTTPHeaderValue(name: "X-Token", value: "a'b $(id)")])
        let job = try Fixtures.builder().build(Self.pod(liveness: probe, readiness: Probe(exec: ExecAction(command: ["cat", "/tmp/$(id)"])),
                                                        ports: [ContainerPort(name: "web", containerPort: 8081)]))
        let script = job.runnerScript
        #expect(script.contains("dte_http_get localhost 8081 \(Shell.quote("/h?q='$(id)'&x=`uname`")) \(Shell.quote("X-Token: a'b $(id)"))"))
        #expect(script.contains(Shell.quote("/tmp/$(id)")))
        #expect(script.contains("dte_probe \"$1\" \"$2\" run-main liveness dte_run_0_probe_0 0 10 1 1 3 30 &"))
        #expect(script.contains("dte_probe \"$1\" \"$2\" run-main readiness dte_run_0_probe_1 0 10 1 1 3 30 &"))
        // not ready until the readiness probe says so
        #expect(script.contains("dte_ready run-main 0\ndte_run run main dte_run_0 - - dte_run_0_probes &"))
    }

    @Test func aSiteCanTurnProbesOff() throws {
        var configuration = Fixtures.configuration()
        configuration.runProbes = false
        let job = try Fixtures.builder(configuration).build(Self.pod(liveness: Probe(exec: ExecAction(command: ["false"]))))
        #expect(!job.runnerScript.contains("dte_run_0_probes"))
        #expect(job.warnings.contains { $0.contains("does not run probes") && $0.contains("main") })
    }

    // MARK: - on Slurm

    @Test func aFailingLivenessProbeStopsTheContainer() async throws {
        let agent = try agent()
        let pod = Self.pod("liveness-fails", command: ["sleep", "600"],
                           liveness: Probe(exec: ExecAction(command: ["sh", "-c", "exit 1"]), periodSeconds: 1, failureThreshold: 2))
        _ = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid, timeout: 120)
        // TERM from the prober: 128 + 15, after two failures a second apart (not the 600 s of sleep)
        #expect(status.exitCode("main") == 143)
        let started = try #require(status.container("main")?.state.terminated?.startedAt?.date)
        let finished = try #require(status.container("main")?.state.terminated?.finishedAt?.date)
        #expect(finished.timeIntervalSince(started) < 60)
        let (code, log) = try await agent.logs(pod.pod.metadata.uid, "main")
        #expect(code == 200)
        #expect(log.contains("dte-agent: the liveness probe failed 2 times in a row; the container is stopped"))
    }

    @Test func readinessFollowsTheProbeAndAPassingLivenessProbeLeavesTheContainerBe() async throws {
        let agent = try agent()
        // ready once /tmp/ready exists (made after 3 s); a liveness probe on an open TCP port passes
        let script = "python3 -c 'import socket,time\ns=socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen()\n"
            + "open(\"/tmp/port\",\"w\").write(str(s.getsockname()[1]))\ntime.sleep(3); open(\"/tmp/ready\",\"w\").close(); time.sleep(15)'"
        let pod = Self.pod("readiness", command: ["sh", "-c", script],
                           // generous timeouts: on a busy node starting a check's container can take a while
                           liveness: Probe(exec: ExecAction(command: ["bash", "-c", "test ! -f /tmp/port || exec 3<>/dev/tcp/127.0.0.1/$(cat /tmp/port)"]),
                                           periodSeconds: 1, timeoutSeconds: 20, failureThreshold: 2),
                           readiness: Probe(exec: ExecAction(command: ["test", "-f", "/tmp/ready"]), periodSeconds: 1, timeoutSeconds: 20,
                                            failureThreshold: 1))
        _ = try await agent.create(pod)
        let uid = pod.pod.metadata.uid
        var sawRunningUnready = false
        var sawReady = false
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            guard let main = try await agent.status([uid]).first?.container("main") else { break }
            if main.state.running != nil {
                if main.ready { sawReady = true } else if !sawReady { sawRunningUnready = true }
            }
            if main.state.terminated != nil { break }
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(sawRunningUnready, "running but not yet ready while /tmp/ready is missing")
        #expect(sawReady, "ready once the readiness probe passed")
        let status = try await agent.finished(uid, timeout: 60)
        #expect(status.exitCode("main") == 0, "the liveness probe passed: the container ran to its end")
        #expect(!(try await agent.logs(uid, "main").1.contains("probe failed")))
    }
}
