import DTEApply
@testable import DTEEngine
@testable import DTEPlanner
import DTEState
import Foundation
import Testing

/// The engine's apply, in process: a real in-memory state, a fake site that counts calls.
@Suite("Executor")
struct ExecutorTests {
    @Test func applyNeverRunsMoreThanParallelismAtOnce() async throws {
        let store = InMemoryStateStore(), site = FakeSite()
        let specs = (1...8).map { Demo.spec("job\($0)") }
        let report = try await Demo.engine(store, site: site, parallelism: 3).apply(try await Demo.plan(specs, against: store))
        #expect(report.results.allSatisfy { $0.outcome == .created }, "\(report.results)")
        #expect(await site.maxInFlight == 3, "eight independent jobs fill the three slots, never more")
        #expect(try await store.snapshot().resources.count == 8)
    }

    @Test func dependentsAreCreatedOnlyAfterWhatTheyDependOn() async throws {
        let store = InMemoryStateStore(), site = FakeSite()
        let specs = [Demo.spec("publish", after: ["model"]), Demo.spec("model", reads: ["PREP_JOB": "prep"]), Demo.spec("prep")]
        let report = try await Demo.engine(store, site: site).apply(try await Demo.plan(specs, against: store))
        #expect(await site.creates() == ["twin.demo.prep", "twin.demo.model", "twin.demo.publish"])
        #expect(report.failed.isEmpty)
        let prep = try #require(try await store.resource(address: "twin.demo.prep"))
        let model = try #require(try await store.resource(address: "twin.demo.model"))
        #expect(model.jobID != prep.jobID)
        #expect(try await store.intents().isEmpty, "every intent is cleared once its resource is recorded")
    }

    @Test func onlyDependentsOfAFailureAreSkipped() async throws {
        let store = InMemoryStateStore(), site = FakeSite()
        await site.failCreate("twin.demo.prep", with: [ProviderError(.rejected, site: "hpc", "the agent refused twin.demo.prep (HTTP 422): bad image")])
        let specs = [Demo.spec("prep"), Demo.spec("model", after: ["prep"]), Demo.spec("publish", after: ["model"]), Demo.spec("other")]
        let report = try await Demo.engine(store, site: site).apply(try await Demo.plan(specs, against: store))
        let outcome = Dictionary(uniqueKeysWithValues: report.results.map { ($0.address, $0) })
        #expect(outcome["twin.demo.prep"]?.outcome == .failed)
        #expect(outcome["twin.demo.prep"]?.message?.contains("bad image") == true)
        #expect(outcome["twin.demo.model"]?.outcome == .skipped)
        #expect(outcome["twin.demo.model"]?.message == "twin.demo.prep failed")
        #expect(outcome["twin.demo.publish"]?.message == "twin.demo.model was skipped")
        #expect(outcome["twin.demo.other"]?.outcome == .created, "an independent component still runs")
        #expect(await site.creates().sorted() == ["twin.demo.other", "twin.demo.prep"])
        #expect(try await store.snapshot().resources.map(\.address) == ["twin.demo.other"])
        #expect(try await store.history(limit: 1).first?.result == "failed")
    }

    @Test func deletesRunBeforeCreates() async throws {
        let store = InMemoryStateStore(), site = FakeSite()
        let engine = Demo.engine(store, site: site)
        _ = try await engine.apply(try await Demo.plan([Demo.spec("old")], against: store))
        let second = try await Demo.plan([Demo.spec("new")], against: store)
        #expect(second.changes.map(\.action) == [.create, .delete])
        _ = try await engine.apply(second)
        let calls = await site.calls.filter { !$0.hasPrefix("status") }
        #expect(calls == ["create twin.demo.old", "delete twin.demo.old", "create twin.demo.new"])
        #expect(try await store.snapshot().resources.map(\.address) == ["twin.demo.new"])
    }

    @Test func aTransientErrorIsRetriedWithBackoff() async throws {
        let store = InMemoryStateStore(), site = FakeSite(), events = EventLog()
        let noAnswer = ProviderError(.unreachable, site: "hpc", "cannot reach the agent at https://hpc.example.org: connection reset")
        await site.failCreate("twin.demo.prep", with: [noAnswer, noAnswer])
        let report = try await Demo.engine(store, site: site, events: events).apply(try await Demo.plan([Demo.spec("prep")], against: store))
        #expect(report.results.map(\.outcome) == [.created])
        #expect(await site.creates().count == 3, "two calls without an answer, the third succeeds")
        #expect(events.retries == 2)
        #expect(await site.pods.count == 1, "retrying never duplicates the pod")
    }

    @Test func aSiteThatNeverAnswersFailsAfterTheBoundedAttempts() async throws {
        let store = InMemoryStateStore(), site = FakeSite()
        let noAnswer = ProviderError(.unreachable, site: "hpc", "cannot reach the agent")
        await site.failCreate("twin.demo.prep", with: Array(repeating: noAnswer, count: 10))
        let report = try await Demo.engine(store, site: site) { $0.retry = RetryPolicy(attempts: 3, initialDelay: 1, maxDelay: 2) }
            .apply(try await Demo.plan([Demo.spec("prep")], against: store))
        #expect(report.results.first?.outcome == .failed)
        #expect(report.results.first?.message?.contains("no answer after 3 attempts") == true, "\(report.results)")
        #expect(await site.creates().count == 3)
    }

    @Test(arguments: [ProviderError.Kind.rejected, .forbidden, .unauthenticated, .credentials, .failed])
    func aRefusalIsNotRetried(_ kind: ProviderError.Kind) async throws {
        let store = InMemoryStateStore(), site = FakeSite(), events = EventLog()
        await site.failCreate("twin.demo.prep", with: [ProviderError(kind, site: "hpc", "refused: \(kind.rawValue)")])
        let report = try await Demo.engine(store, site: site, events: events).apply(try await Demo.plan([Demo.spec("prep")], against: store))
        #expect(report.results.first?.outcome == .failed)
        #expect(report.results.first?.message?.contains("refused: \(kind.rawValue)") == true)
        #expect(await site.creates().count == 1, "asking again cannot help")
        #expect(events.retries == 0)
    }

    @Test func aCrashBetweenIntentAndCommitIsAdoptedOnRerun() async throws {
        let store = InMemoryStateStore(), site = FakeSite()
        let crashing = CrashingStore(base: store, failCommitOf: "twin.demo.prep")
        let first = try await Demo.engine(crashing, site: site).apply(try await Demo.plan([Demo.spec("prep")], against: store))
        #expect(first.results.first?.outcome == .failed, "the commit after the create was lost")
        #expect(try await store.intents().map(\.address) == ["twin.demo.prep"], "the intent written before the create is still there")
        #expect(await site.pods.count == 1, "the site has the pod")
        let rerun = try await Demo.engine(store, site: site).apply(try await Demo.plan([Demo.spec("prep")], against: store))
        let r = try #require(rerun.results.first)
        #expect(r.outcome == .created)
        #expect(r.message?.contains("adopted job") == true, "\(r)")
        #expect(await site.creates().count == 1, "the rerun adopts the pod instead of creating it again")
        #expect(await site.pods.count == 1)
        #expect(try await store.resource(address: "twin.demo.prep")?.jobID == r.jobID)
        #expect(try await store.intents().isEmpty)
    }

    @Test func anIntentForAPodTheSiteNeverGotIsCreatedOnce() async throws {
        let store = InMemoryStateStore(), site = FakeSite()
        let uid = PodUID.make(lineage: store.lineage, address: "twin.demo.prep", generation: 1)
        try await store.addIntent(ApplyIntent(address: "twin.demo.prep", site: "hpc", podUID: uid, action: "create", createdAt: Date()))
        let report = try await Demo.engine(store, site: site).apply(try await Demo.plan([Demo.spec("prep")], against: store))
        #expect(report.results.first?.outcome == .created)
        #expect(report.results.first?.message == nil)
        #expect(await site.creates().count == 1)
        #expect(await site.pods.keys.sorted() == [uid])
    }

    @Test func losingTheLockStopsApplyAndNothingIsWrittenAfter() async throws {
        let store = InMemoryStateStore(), site = FakeSite()
        await site.hold("twin.demo.prep")
        let plan = try await Demo.plan([Demo.spec("prep"), Demo.spec("model", after: ["prep"])], against: store)
        let engine = Demo.engine(store, site: site) { $0.lockTTL = 9 }  // renewed every 3 s of the fast clock: 30 ms
        let apply = Task { try await engine.apply(plan) }
        while await site.creates().isEmpty { try await Task.sleep(nanoseconds: 5_000_000) }
        let lease = try #require(try await store.locks().first)
        try await store.breakLock(id: lease.id)
        try await Task.sleep(nanoseconds: 200_000_000)  // several heartbeats
        let writesAtLoss = await store.writes
        await site.release("twin.demo.prep")
        do {
            _ = try await apply.value
            Issue.record("an apply whose lease was broken must stop")
        } catch let e as EngineError {
            #expect(e.code == .lockLost)
            #expect(e.message.contains("lost the state lock \(lease.id)"), "\(e.message)")
        }
        #expect(await store.writes == writesAtLoss, "nothing is written after the lease was lost")
        #expect(try await store.snapshot().resources.isEmpty)
        #expect(try await store.history(limit: 5).isEmpty)
        #expect(await site.creates() == ["twin.demo.prep"], "the dependent is never submitted")
    }

    @Test func aStalePlanIsRefused() async throws {
        let store = InMemoryStateStore(), site = FakeSite()
        let plan = try await Demo.plan([Demo.spec("prep")], against: store)
        try await store.commit(ResourceRecord(address: "twin.demo.other", site: "hpc", specHash: "x", spec: "{}"))
        await #expect(throws: EngineError(.stale, "the plan is stale: it was made against state serial 0, and the state is now at serial 1 (another apply ran since); make a new plan with dte plan --out and review it")) {
            try await Demo.engine(store, site: site).apply(plan)
        }
        #expect(await site.calls.isEmpty)
        #expect(try await store.locks().isEmpty, "the lock is released")
    }

    @Test func aPlanWhoseOrderIsACycleIsRefusedBeforeAnySiteIsTouched() async throws {
        let store = InMemoryStateStore(), site = FakeSite()
        let specs = [Demo.spec("a", after: ["b"]), Demo.spec("b", reads: ["A_JOB": "a"]), Demo.spec("c")]
        let error = await #expect(throws: EngineError.self) {
            try await Demo.engine(store, site: site).apply(try await Demo.plan(specs, against: store))
        }
        #expect(error?.code == .cycle)
        #expect(error?.message.contains("a → b → a") == true, "\(error?.message ?? "")")
        #expect(await site.calls.isEmpty, "not even the independent component is submitted")
        #expect(try await store.locks().isEmpty)
    }
}

/// The in-memory state, except that committing one address fails (as if the process died right
/// after the site accepted the pod).
struct CrashingStore: StateStore {
    let base: InMemoryStateStore
    let failCommitOf: String

    func snapshot() async throws -> StateSnapshot { try await base.snapshot() }
    func resource(address: String) async throws -> ResourceRecord? { try await base.resource(address: address) }
    func commit(_ resource: ResourceRecord) async throws -> Int {
        if resource.address == failCommitOf { throw StateError(.io, "killed") }
        return try await base.commit(resource)
    }
    func remove(address: String) async throws -> Int { try await base.remove(address: address) }
    func addIntent(_ intent: ApplyIntent) async throws { try await base.addIntent(intent) }
    func clearIntent(address: String) async throws { try await base.clearIntent(address: address) }
    func intents() async throws -> [ApplyIntent] { try await base.intents() }
    func acquireLock(holder: String, operation: String, ttl: TimeInterval) async throws -> LockLease {
        try await base.acquireLock(holder: holder, operation: operation, ttl: ttl)
    }
    func heartbeat(_ lease: LockLease, ttl: TimeInterval) async throws -> LockLease { try await base.heartbeat(lease, ttl: ttl) }
    func releaseLock(_ lease: LockLease) async throws { try await base.releaseLock(lease) }
    func locks() async throws -> [LockLease] { try await base.locks() }
    func breakLock(id: String) async throws { try await base.breakLock(id: id) }
    func setOutputs(_ outputs: [OutputValue]) async throws { try await base.setOutputs(outputs) }
    func outputs() async throws -> [OutputValue] { try await base.outputs() }
    func appendHistory(_ entry: HistoryEntry) async throws { try await base.appendHistory(entry) }
    func history(limit: Int) async throws -> [HistoryEntry] { try await base.history(limit: limit) }
}
