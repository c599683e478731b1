import DTEApply
@testable import DTEEngine
@testable import DTEPlanner
import DTEState
import Foundation

/// A site in memory that counts every call: what was created, deleted and asked, in order, and
/// how many creates ran at once. `create` is idempotent on the pod UID (as the agent's is).
actor FakeSite {
    struct Pod { var jobID: String; var phase: PodObservation.Phase }
    private(set) var pods: [String: Pod] = [:]
    private(set) var calls: [String] = []
    private(set) var inFlight = 0
    private(set) var maxInFlight = 0
    private var nextJob = 100
    /// Errors the next creates of an address throw, in order.
    private var createErrors: [String: [ProviderError]] = [:]
    /// Addresses whose create waits until `release(address)`.
    private var held: Set<String> = []
    /// How long each create takes.
    var createTime: TimeInterval = 0.02

    func failCreate(_ address: String, with errors: [ProviderError]) { createErrors[address] = errors }
    func hold(_ address: String) { held.insert(address) }
    func release(_ address: String) { held.remove(address) }
    func setPhase(_ uid: String, _ phase: PodObservation.Phase) { pods[uid]?.phase = phase }

    /// A pod the site has (as if an earlier, interrupted apply had submitted it).
    func seed(uid: String, jobID: String) { pods[uid] = Pod(jobID: jobID, phase: .running) }

    func creates() -> [String] { calls.filter { $0.hasPrefix("create ") }.map { String($0.dropFirst(7)) } }

    func create(_ pod: PodRequest) async throws -> String {
        calls.append("create \(pod.address)")
        inFlight += 1
        maxInFlight = max(maxInFlight, inFlight)
        defer { inFlight -= 1 }
        try? await Task.sleep(nanoseconds: UInt64(createTime * 1e9))
        while held.contains(pod.address) { try? await Task.sleep(nanoseconds: 10_000_000) }
        if var errors = createErrors[pod.address], !errors.isEmpty {
            let e = errors.removeFirst()
            createErrors[pod.address] = errors
            throw e
        }
        if let existing = pods[pod.uid] { return existing.jobID }
        nextJob += 1
        pods[pod.uid] = Pod(jobID: String(nextJob), phase: .pending)
        return String(nextJob)
    }

    func status(_ refs: [PodRef]) -> [PodObservation] {
        calls.append("status " + refs.map { "\($0.namespace).\($0.name)" }.joined(separator: ","))
        return refs.compactMap { r in pods[r.uid].map { PodObservation(uid: r.uid, jobID: $0.jobID, phase: $0.phase, exitCode: nil) } }
    }

    func delete(_ ref: PodRef) {
        calls.append("delete twin.\(ref.namespace).\(ref.name)")
        pods[ref.uid] = nil
    }
}

struct FakeProvider: Provider {
    let site: FakeSite
    var endpoint: String { "memory://fake" }
    func create(_ pod: PodRequest) async throws -> String { try await site.create(pod) }
    func status(_ pods: [PodRef]) async throws -> [PodObservation] { await site.status(pods) }
    func delete(_ pod: PodRef) async throws { await site.delete(pod) }
}

/// A clock whose waits are short (the heartbeats and backoffs of a test take milliseconds).
struct FastClock: EngineClock {
    var scale = 0.01
    var now: Date { Date() }
    func sleep(seconds: TimeInterval) async throws { try await Task.sleep(nanoseconds: UInt64(max(0, seconds * scale) * 1e9)) }
}

/// Collects the engine's events.
final class EventLog: @unchecked Sendable {
    // @unchecked: `events` is only touched under `lock`.
    private let lock = NSLock()
    private var events: [ApplyEvent] = []

    func record(_ e: ApplyEvent) {
        lock.lock()
        events.append(e)
        lock.unlock()
    }

    var all: [ApplyEvent] {
        lock.lock()
        defer { lock.unlock() }
        return events
    }

    var retries: Int { all.filter { if case .retrying = $0 { return true } else { return false } }.count }
}

/// A hook that answers `verdict` in its phases and remembers what it was given.
final class RecordingHook: Hook, @unchecked Sendable {
    // @unchecked: `seen` is only touched under `lock`.
    let name: String
    let phases: Set<HookPhase>
    let blocking: Bool
    let verdict: HookVerdict
    private let lock = NSLock()
    private var seen: [HookInput] = []

    init(_ name: String, phases: Set<HookPhase>, blocking: Bool = true, verdict: HookVerdict = .pass) {
        self.name = name
        self.phases = phases
        self.blocking = blocking
        self.verdict = verdict
    }

    var inputs: [HookInput] {
        lock.lock()
        defer { lock.unlock() }
        return seen
    }

    func remember(_ input: HookInput) {
        lock.withLock { seen.append(input) }
    }

    func run(_ input: HookInput) async -> [HookResult] {
        remember(input)
        return [HookResult(name: name, phase: input.phase, verdict: verdict, blocking: blocking,
                           summary: verdict == .fail ? "twin flood reaches bronze; silver required" : "all good",
                           evidence: [HookEvidence(check: "QC.Lic", passed: verdict != .fail, detail: "LICENSE")],
                           remedy: verdict == .fail ? "add CONTRIBUTING.md and a SemVer tag" : nil, subject: "twin.flood")]
    }
}

/// Components of twin `demo` on site `hpc`, and plans of them against a store.
enum Demo {
    static func spec(_ name: String, after: [String] = [], reads: [String: String] = [:]) -> ComponentSpec {
        var deferred: [String: AttributeExpression] = [:]
        var env: [String: String] = [:]
        for (variable, other) in reads {
            deferred["env.\(variable)"] = .attribute(address: "twin.demo.\(other)", name: "job_id")
            env[variable] = "{ get_attribute: [\(other), job_id] }"
        }
        return ComponentSpec(twin: "demo", component: name, project: "demo", kind: "batch", image: "docker://debian:12",
                             command: ["true"], args: [], env: env, cpus: 1, memory: 1e8, gpus: 0, gpuModel: nil, walltime: 60,
                             runtime: "bwrap", after: after, schedule: nil, deferred: deferred.isEmpty ? nil : deferred)
    }

    static func desired(_ specs: [ComponentSpec]) -> DesiredState {
        let placement = PlacementDecision(site: "hpc", partition: "batch", qos: nil, reason: "batch partition fits", rejected: [])
        return DesiredState(resources: specs.map { DesiredResource(spec: $0, placement: placement, protected: false) }, sites: [], outputs: nil)
    }

    static func plan(_ specs: [ComponentSpec], against store: any StateStore) async throws -> Plan {
        Planner.plan(desired: desired(specs), state: try await store.snapshot(), options: PlanOptions(), sourceHash: "test", gitCommit: "abc123")
    }

    static func engine(_ store: any StateStore, site: FakeSite, hooks: [any Hook] = [], events: EventLog = EventLog(),
                       parallelism: Int = 10, configure: (inout ApplySettings) -> Void = { _ in }) -> Engine {
        var settings = ApplySettings(parallelism: parallelism, holder: "test@engine")
        settings.retry = RetryPolicy(attempts: 4, initialDelay: 1, maxDelay: 8)
        settings.pollInterval = 1
        configure(&settings)
        let provider = FakeProvider(site: site)
        return Engine(store: store, providers: { $0 == "hpc" ? provider : nil }, clock: FastClock(), hooks: HookPipeline(hooks),
                      events: { events.record($0) }, repositoryRoot: "/nonexistent", settings: settings)
    }
}
