import EdgeAgent
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PodWire
import XCTest

/// Faults on the real dev cluster, against the real `dte-agent` binary: SIGKILL in the middle
/// of a burst of creates, and slurmctld stopped under load. XCTest, not Swift Testing: XCTest
/// cases run one at a time, and stopping slurmctld must not overlap other Slurm tests. Jobs are
/// submitted held (`--hold-jobs`) and cancelled at the end, so they take no cluster time.
final class FaultToleranceTests: XCTestCase {
    /// Job ids to cancel in tearDown (only jobs these tests' agents submitted).
    private var instances: [String] = []
    private var agents: [FaultAgent] = []

    override func tearDown() {
        for agent in agents where agent.process.isRunning {
            kill(agent.process.processIdentifier, SIGKILL)
            agent.process.waitUntilExit()
        }
        for instance in instances { Self.cancelJobs(commentPrefix: "dte-agent:\(instance):") }
        super.tearDown()
    }

    // MARK: - kill -9 during a burst

    func testKillMinus9DuringBurstOf300CreatesThenReplayGivesExactlyOneJobEach() async throws {
        try SlurmCluster.require()
        let dir = Self.tempDir("kill9-burst")
        let port = try ProcessRestartTests.freePort()
        let first = try startAgent(dataDir: dir, port: port)
        let instance = try await first.instance()
        instances.append(instance)
        let pods = (0..<300).map { Fixtures.pod("burst-\($0)", containers: [Fixtures.container("main", ["true"])]) }
        let bodies = try pods.map { try JSONEncoder().encode($0) }

        // 300 concurrent creates; SIGKILL once 60 have been answered.
        let answered = AnswerCount()
        let burst = Task {
            await withTaskGroup(of: Void.self) { group in
                for body in bodies {
                    group.addTask {
                        if let (status, _, _) = try? await first.call("/create", body), status == 200 {
                            if answered.increment() == 60 {
                                kill(first.process.processIdentifier, SIGKILL)
                            }
                        }
                    }
                }
            }
        }
        await burst.value
        first.process.waitUntilExit()
        XCTAssertEqual(first.process.terminationReason, .uncaughtSignal)
        let beforeKill = answered.value
        XCTAssertGreaterThanOrEqual(beforeKill, 60)
        XCTAssertLessThan(beforeKill, 300, "the kill came after every create was answered: nothing was interrupted")

        let jobsAtKill = Self.slurmJobs(commentPrefix: "dte-agent:\(instance):").count
        // Restart on the same data, replay every create (retrying while 503) until all answer.
        let second = try startAgent(dataDir: dir, port: port)
        let started = Date()
        let jobs = try await Self.createAll(bodies, on: second, deadline: 120)
        let replaySeconds = Date().timeIntervalSince(started)
        XCTAssertEqual(jobs.count, 300, "every replayed create got a job")
        XCTAssertEqual(Set(jobs.values).count, 300, "no two pods share a job")

        // Slurm holds exactly one job per pod, the one the agent answered.
        let inSlurm = Self.slurmJobs(commentPrefix: "dte-agent:\(instance):")
        XCTAssertEqual(inSlurm.count, 300, "Slurm holds one job per pod, no duplicates")
        for pod in pods {
            let uid = pod.pod.metadata.uid
            XCTAssertEqual(inSlurm.filter { $0.value == uid }.map(\.key), jobs[uid].map { [$0] } ?? [], "pod \(uid)")
        }
        print("kill -9 burst: \(beforeKill) of 300 answered before the kill, \(jobsAtKill) jobs in Slurm then; replay converged in "
              + String(format: "%.1f", replaySeconds) + " s")
    }

    // MARK: - slurmctld stopped under load

    func testSlurmctldStoppedFor30SecondsAnswers503ThenConverges() async throws {
        try SlurmCluster.require()
        let dir = Self.tempDir("ctld-outage")
        let port = try ProcessRestartTests.freePort()
        let agent = try startAgent(dataDir: dir, port: port, extra: ["--backend-timeout", "3"])
        let instance = try await agent.instance()
        instances.append(instance)

        // Before the outage: 20 pods with jobs; 10 of them are deleted during it.
        let before = (0..<20).map { Fixtures.pod("steady-\($0)", containers: [Fixtures.container("main", ["true"])]) }
        let beforeJobs = try await Self.createAll(try before.map { try JSONEncoder().encode($0) }, on: agent, deadline: 60)
        XCTAssertEqual(beforeJobs.count, 20)
        let doomed = Array(before.prefix(10))
        try await waitForPoll(agent, pods: before)

        // slurmctld goes down; it is started again in every path (teardown included).
        addTeardownBlock { Self.cluster("start-ctld") }
        Self.cluster("stop-ctld")
        let outageStart = Date()
        XCTAssertNotEqual(Self.scontrolPing(), true, "slurmctld still answers after stop-ctld")

        // Creates and deletes answer 503 with Retry-After within a few seconds, not hanging.
        let during = (0..<20).map { Fixtures.pod("outage-\($0)", containers: [Fixtures.container("main", ["true"])]) }
        let duringBodies = try during.map { try JSONEncoder().encode($0) }
        let createAnswers = try await Self.concurrently(duringBodies) { try await agent.timedCall("/create", $0) }
        for answer in createAnswers {
            XCTAssertEqual(answer.status, 503, "create during the outage: \(answer.text)")
            XCTAssertNotNil(answer.retryAfter, "503 carries Retry-After")
            XCTAssertLessThan(answer.seconds, 8, "create answered in \(answer.seconds) s")
            XCTAssertFalse(answer.text.contains("slurm_"), "no libslurm internals to callers: \(answer.text)")
        }
        let deleteAnswers = try await Self.concurrently(try doomed.map { try JSONEncoder().encode($0.pod) }) {
            try await agent.timedCall("/delete", $0)
        }
        for answer in deleteAnswers {
            XCTAssertEqual(answer.status, 503, "delete during the outage: \(answer.text)")
            XCTAssertNotNil(answer.retryAfter)
            XCTAssertLessThan(answer.seconds, 8, "delete answered in \(answer.seconds) s")
        }
        // Status still answers from the cache: every earlier pod with its job.
        let status = try await agent.timedCall("/status", try JSONEncoder().encode(before.map(\.pod)))
        XCTAssertEqual(status.status, 200)
        XCTAssertLessThan(status.seconds, 3)
        let statuses = try JSONDecoder().decode([PodStatus].self, from: status.body)
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: statuses.map { ($0.uid, $0.jobID) }), beforeJobs)

        // Clients keep retrying their creates through the outage (30 s) and after it.
        let retrying = Self.inBackground(duringBodies, on: agent, deadline: 150)
        let left = 30 - Date().timeIntervalSince(outageStart)
        if left > 0 { try await Task.sleep(for: .milliseconds(Int(left * 1000))) }
        let restored = Date()
        Self.cluster("start-ctld")
        let duringJobs = try await retrying.value
        let convergeSeconds = Date().timeIntervalSince(restored)

        // Every pod created during the outage has exactly one job.
        XCTAssertEqual(duringJobs.count, 20)
        let deadline = Date().addingTimeInterval(60)
        var inSlurm: [String: String] = [:]
        repeat {
            inSlurm = Self.slurmJobs(commentPrefix: "dte-agent:\(instance):")
            if inSlurm.count >= 40 { break }
            try await Task.sleep(for: .milliseconds(500))
        } while Date() < deadline
        for pod in during {
            let uid = pod.pod.metadata.uid
            XCTAssertEqual(inSlurm.filter { $0.value == uid }.map(\.key), duringJobs[uid].map { [$0] } ?? [], "pod \(uid)")
        }
        XCTAssertEqual(inSlurm.count, 40, "one job per pod, none lost or duplicated")

        // The deletions stored during the outage complete by themselves: the jobs end cancelled.
        let cancelled = Self.eventually(timeout: 60) {
            let states = Self.jobStates(doomed.compactMap { beforeJobs[$0.pod.metadata.uid] })
            return states.count == 10 && states.values.allSatisfy { $0.hasPrefix("CANCELLED") }
        }
        XCTAssertTrue(cancelled, "the jobs of pods deleted during the outage were cancelled once slurmctld was back")
        // The pods that were not deleted still hold their (held, pending) jobs.
        let kept = Self.jobStates(before.dropFirst(10).compactMap { beforeJobs[$0.pod.metadata.uid] })
        XCTAssertEqual(kept.count, 10)
        XCTAssertTrue(kept.values.allSatisfy { $0 == "PENDING" }, "\(kept)")
        print("slurmctld outage: creates converged " + String(format: "%.1f", convergeSeconds)
              + " s after slurmctld was started again (start-ctld included)")
    }

    // MARK: - Recovery from accounting

    /// An interrupted create whose job reached Slurm, ended, and is no longer in slurmctld's
    /// memory (simulated: the backend hides slurmctld's job list): recovery finds the job in
    /// accounting (`sacct`) and adopts it instead of submitting a second one.
    func testInterruptedCreateWhoseJobSlurmctldForgotIsAdoptedFromAccounting() async throws {
        try SlurmCluster.require()
        let dir = Self.tempDir("from-sacct")
        let before = try TestAgent(dataDir: dir)
        before.stop()
        let instance = before.controller.builder.instanceID
        instances.append(instance)
        let pod = Fixtures.pod("forgotten", containers: [Fixtures.container("main", ["true"])])
        let job = try before.controller.builder.build(pod)
        let created = Date().timeIntervalSince1970 - 1
        try FileManager.default.createDirectory(atPath: job.podDir, withIntermediateDirectories: true)
        try job.batchScript.write(toFile: "\(job.podDir)/job.slurm", atomically: true, encoding: .utf8)
        try job.runnerScript.write(toFile: "\(job.podDir)/job.sh", atomically: true, encoding: .utf8)
        var held = job.request
        held.hold = true
        let slurm = SlurmLibrary(logger: .init(label: "t"))
        let submitted = try await slurm.submit(held, script: job.batchScript, scriptPath: "\(job.podDir)/job.slurm")
        try await slurm.cancel(jobID: submitted)
        // Accounting has the job, its working directory included, once slurmctld has sent it
        // to slurmdbd (a few seconds; slurmctld keeps a job for MinJobAge, 300 s, far longer).
        XCTAssertTrue(Self.eventually(timeout: 30) { Self.accountedWorkDir(submitted) == job.podDir })
        let store = try PodStore.open(stateDir: dir)
        try store.save(PodRecord(uid: job.uid, namespace: job.namespace, name: job.name, jobID: nil, phase: .submitting,
                                 podDir: job.podDir, initContainers: [], containers: [TrackedContainer(name: "main", image: "")],
                                 request: held, createdAt: created, updatedAt: created))

        let after = try TestAgent(dataDir: dir, backend: ForgetfulSlurm(slurm))
        defer { after.stop() }
        let status = try await after.finished(job.uid, timeout: 30)
        XCTAssertEqual(status.jobID, submitted, "the job from accounting was adopted")
        let jobs = Self.slurmJobs(commentPrefix: "dte-agent:\(instance):")
        XCTAssertEqual(Array(jobs.keys), [submitted], "nothing was submitted again")
    }

    // MARK: - Error answers

    func testOversizeBodyIs413AndSlurmRefusalIs502WithoutInternals() async throws {
        try SlurmCluster.require()
        let agent = try startAgent(dataDir: Self.tempDir("errors"), port: try ProcessRestartTests.freePort())
        instances.append(try await agent.instance())

        // A body over the 32 MiB limit: 413 naming the limit, not 400.
        var big = Data("{\"pod\":{\"metadata\":{\"name\":\"".utf8)
        big.append(Data(repeating: UInt8(ascii: "a"), count: AgentAPI.maxBodyBytes + 1))
        big.append(Data("\"}}}".utf8))
        let (status, body, _) = try await agent.call("/create", big)
        XCTAssertEqual(status, 413)
        XCTAssertTrue(String(decoding: body, as: UTF8.self).contains("\(AgentAPI.maxBodyBytes) bytes"))

        // Slurm refuses the job (no such partition): 502 with a short reason, libslurm's text
        // stays in the agent's log; the pod is not kept.
        let pod = Fixtures.pod("refused", containers: [Fixtures.container("main", ["true"])],
                               annotations: ["dte.io/partition": "nosuchpartition"])
        let refused = try await agent.timedCall("/create", try JSONEncoder().encode(pod))
        XCTAssertEqual(refused.status, 502, refused.text)
        XCTAssertFalse(refused.text.lowercased().contains("invalid partition"), refused.text)
        XCTAssertTrue(refused.text.contains("Slurm refused the job"), refused.text)
        let statuses = try await agent.timedCall("/status", try JSONEncoder().encode([pod.pod]))
        XCTAssertEqual(statuses.text.trimmingCharacters(in: .whitespacesAndNewlines), "[]")
    }

    // MARK: - Deadlines and their settings

    func testToolPastItsDeadlineIsKilledAndReportedUnavailable() async throws {
        let marker = "dte-deadline-\(UUID().uuidString.prefix(8))"
        let started = Date()
        do {
            _ = try await CommandRunner.run("bash", ["-c", "exec -a \(marker) sleep 30"], timeout: 0.5)
            XCTFail("a 30 s program returned within a 0.5 s deadline")
        } catch {
            XCTAssertEqual(error.code, .unavailable)
            XCTAssertEqual(error.status.code, 503)
            XCTAssertTrue(error.message.contains("0.5 s"), error.message)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        // The program is gone, not left running.
        let left = try await CommandRunner.run("pgrep", ["-f", marker])
        XCTAssertEqual(left.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "")
    }

    func testTimeoutSettingsAreRangeChecked() throws {
        var configuration = AgentConfiguration()
        try ConfigFile.apply(try ConfigFile.parse("backend-timeout: 2.5\npoll-timeout: 1m\n"), to: &configuration)
        XCTAssertEqual(configuration.backendTimeouts, BackendTimeouts(call: 2.5, poll: 60))
        for bad in ["0", "-1", "abc", "3601", "nan", "inf"] {
            XCTAssertThrowsError(try ConfigSetting.apply(key: "backend-timeout", value: .scalar(bad), to: &configuration),
                                 "backend-timeout \(bad)") { error in
                XCTAssertTrue("\(error)".contains("backend-timeout"), "\(error)")
            }
        }
    }

    // MARK: - Helpers

    private func startAgent(dataDir: String, port: Int, extra: [String] = []) throws -> FaultAgent {
        let agent = try FaultAgent(dataDir: dataDir, port: port, extra: extra)
        agents.append(agent)
        return agent
    }

    /// Waits until the poller has seen every pod's job.
    private func waitForPoll(_ agent: FaultAgent, pods: [RetrievedPodData]) async throws {
        let body = try JSONEncoder().encode(pods.map(\.pod))
        for _ in 0..<40 {
            let answer = try await agent.timedCall("/status", body)
            if let statuses = try? JSONDecoder().decode([PodStatus].self, from: answer.body),
               statuses.count == pods.count, statuses.allSatisfy({ !$0.jobID.isEmpty }) { return }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Creates every pod, retrying on 503 (as interLink does) until each has a job or the
    /// deadline passes; returns the job per pod UID.
    static func createAll(_ bodies: [Data], on agent: FaultAgent, deadline seconds: Double) async throws -> [String: String] {
        let deadline = Date().addingTimeInterval(seconds)
        let answers = try await concurrently(bodies) { body -> CreateResponse? in
            while Date() < deadline {
                if let (status, data, _) = try? await agent.call("/create", body) {
                    if status == 200 { return try JSONDecoder().decode(CreateResponse.self, from: data) }
                    XCTAssertEqual(status, 503, String(decoding: data, as: UTF8.self))
                }
                try await Task.sleep(for: .milliseconds(500))
            }
            return nil
        }
        var jobs: [String: String] = [:]
        for answer in answers { if let answer { jobs[answer.podUID] = answer.podJID } }
        return jobs
    }

    static func inBackground(_ bodies: [Data], on agent: FaultAgent, deadline: Double) -> Task<[String: String], any Error> {
        Task { try await createAll(bodies, on: agent, deadline: deadline) }
    }

    static func concurrently<T: Sendable>(_ bodies: [Data], _ body: @escaping @Sendable (Data) async throws -> T) async throws -> [T] {
        try await withThrowingTaskGroup(of: T.self) { group in
            for item in bodies { group.addTask { try await body(item) } }
            var out: [T] = []
            for try await value in group { out.append(value) }
            return out
        }
    }

    static func tempDir(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("dte-agent-\(name)-\(UUID().uuidString.prefix(8))").path
    }

    static func repositoryRoot() -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func cluster(_ command: String) {
        let script = repositoryRoot().appendingPathComponent("scripts/dev-cluster.sh").path
        if case .success(let result) = CommandRunner.runBlocking(script, [command], environment: nil, timeout: 120),
           result.status != 0 {
            print("dev-cluster.sh \(command) failed: \(result.stdout)\(result.stderr)")
        }
    }

    static func scontrolPing() -> Bool? {
        guard case .success(let result) = CommandRunner.runBlocking("scontrol", ["ping"], environment: nil, timeout: 20) else { return nil }
        return result.stdout.contains("is UP")
    }

    /// Job id → pod UID of the jobs slurmctld holds with this comment prefix (every state).
    static func slurmJobs(commentPrefix: String) -> [String: String] {
        guard case .success(let result) = CommandRunner.runBlocking(
            "squeue", ["-h", "-a", "-t", "all", "-o", "%i|%k"], environment: nil, timeout: 30), result.status == 0 else { return [:] }
        var jobs: [String: String] = [:]
        for line in result.stdout.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: "|", maxSplits: 1).map(String.init)
            guard fields.count == 2, fields[1].hasPrefix(commentPrefix) else { continue }
            jobs[fields[0]] = String(fields[1].dropFirst(commentPrefix.count))
        }
        return jobs
    }

    /// Job id → state, from accounting.
    static func jobStates(_ ids: [String]) -> [String: String] {
        guard !ids.isEmpty, case .success(let result) = CommandRunner.runBlocking(
            "sacct", ["-n", "-P", "-X", "-j", ids.joined(separator: ","), "-o", "JobID,State"], environment: nil, timeout: 30),
            result.status == 0 else { return [:] }
        var states: [String: String] = [:]
        for line in result.stdout.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: "|").map(String.init)
            if fields.count == 2 { states[fields[0]] = fields[1] }
        }
        return states
    }

    static func accountedWorkDir(_ id: String) -> String? {
        guard case .success(let result) = CommandRunner.runBlocking(
            "sacct", ["-n", "-P", "-X", "-j", id, "-o", "WorkDir"], environment: nil, timeout: 30), result.status == 0 else { return nil }
        return result.stdout.split(whereSeparator: \.isNewline).first.map(String.init)
    }

    static func cancelJobs(commentPrefix: String) {
        let ids = Array(slurmJobs(commentPrefix: commentPrefix).keys)
        guard !ids.isEmpty else { return }
        _ = CommandRunner.runBlocking("scancel", ids, environment: nil, timeout: 60)
    }

    static func eventually(timeout: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.5)
        } while Date() < deadline
        return condition()
    }
}

/// The real Slurm, except that slurmctld's job list comes back empty (as for jobs it has
/// purged after `MinJobAge`): what is found must come from accounting.
struct ForgetfulSlurm: BatchBackend {
    let slurm: SlurmLibrary
    init(_ slurm: SlurmLibrary) { self.slurm = slurm }
    var schedulerName: String { slurm.schedulerName }
    func submit(_ request: BatchJobRequest, script: String, scriptPath: String) async throws(AgentError) -> String {
        try await slurm.submit(request, script: script, scriptPath: scriptPath)
    }
    func cancel(jobID: String) async throws(AgentError) { try await slurm.cancel(jobID: jobID) }
    func jobs() async throws(AgentError) -> [String: BatchJobStatus] { [:] }
    func jobs(commentPrefix: String) async throws(AgentError) -> [String: BatchJobStatus] { [:] }
    func jobs(commentPrefix: String, changedSince since: Double?) async throws(AgentError) -> JobSnapshot? {
        JobSnapshot(jobs: [:], updated: Date().timeIntervalSince1970)
    }
    func accounting(jobIDs: [String]) async throws(AgentError) -> [String: BatchJobStatus] {
        try await slurm.accounting(jobIDs: jobIDs)
    }
    func accounting(submittedSince since: Double, userID: Int?) async throws(AgentError) -> [String: BatchJobStatus] {
        try await slurm.accounting(submittedSince: since, userID: userID)
    }
    func submissionPending(comment: String) -> Bool { slurm.submissionPending(comment: comment) }
    func capacity() async throws(AgentError) -> ClusterCapacity { try await slurm.capacity() }
}

/// A `dte-agent serve` process on a loopback port, jobs submitted held.
final class FaultAgent: Sendable {
    let process: Process
    let port: Int
    let session: URLSession

    init(dataDir: String, port: Int, extra: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ProcessRestartTests.binary())
        process.arguments = ["serve", "--listen", "127.0.0.1:\(port)", "--data-dir", dataDir, "--runtime", "bwrap",
                             "--poll-interval", "0.5", "--default-memory", "100", "--hold-jobs", "--log-level", "error"] + extra
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        self.process = process
        self.port = port
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 400
        configuration.timeoutIntervalForRequest = 60
        self.session = URLSession(configuration: configuration)
    }

    func call(_ path: String, _ body: Data? = nil) async throws -> (Int, Data, HTTPURLResponse?) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = body == nil ? "GET" : "POST"
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let (data, response) = try await session.data(for: request)
        let http = response as? HTTPURLResponse
        return (http?.statusCode ?? 0, data, http)
    }

    struct Answer: Sendable {
        var status: Int
        var body: Data
        var retryAfter: String?
        var seconds: Double
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func timedCall(_ path: String, _ body: Data) async throws -> Answer {
        let start = Date()
        let (status, data, response) = try await call(path, body)
        return Answer(status: status, body: data, retryAfter: response?.value(forHTTPHeaderField: "Retry-After"),
                      seconds: Date().timeIntervalSince(start))
    }

    /// Waits until the agent serves, then returns its instance id (from `/v1/health`).
    func instance() async throws -> String {
        for _ in 0..<100 {
            if let (status, data, _) = try? await call("/v1/health"), status == 200,
               let health = try? JSONDecoder().decode(AgentHealth.self, from: data) {
                return health.instance
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw SlurmCluster.SetupFailure(message: "the agent did not start on port \(port)")
    }
}

/// A lock-protected count shared by concurrent tasks.
final class AnswerCount: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    /// Adds one; returns the new count.
    func increment() -> Int { lock.withLock { count += 1; return count } }
}
