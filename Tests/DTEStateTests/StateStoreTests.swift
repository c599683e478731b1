import DTEState
import Foundation
import Testing

/// A state backend under test: a fresh store, and a second handle on the same state (for SQLite
/// a new connection to the same file, as a second process would open it; in memory the same store).
struct Backend: Sendable {
    enum Kind: String, Sendable, CaseIterable { case sqlite, memory }
    let kind: Kind
    let dir = NSTemporaryDirectory() + "dte-state-" + UUID().uuidString
    let memory = InMemoryStateStore()

    init(_ kind: Kind) { self.kind = kind }

    func open() throws -> any StateStore {
        switch kind {
        case .sqlite: return try SQLiteStateStore(path: dir + "/.dte/state.db")
        case .memory: return memory
        }
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: dir) }
}

func job(_ name: String, hash: String = "h1") -> ResourceRecord {
    ResourceRecord(address: "twin.demo.\(name)", site: "local", specHash: hash, spec: "{\"cpus\":1}", podUID: "uid-\(name)")
}

/// The state-store contract: every backend runs these same tests (as Terraform's backends do).
@Suite("StateStoreConformance")
struct StateStoreConformance {
    @Test("a new state has a lineage that never changes", arguments: Backend.Kind.allCases)
    func newStateHasALineageThatNeverChanges(_ kind: Backend.Kind) async throws {
        let backend = Backend(kind)
        defer { backend.cleanUp() }
        let s = try backend.open()
        let a = try await s.snapshot()
        #expect(a.serial == 0)
        #expect(a.formatVersion == 1)
        #expect(a.lineage.count == 36)
        try await s.commit(job("a"))
        let b = try await backend.open().snapshot()
        #expect(b.lineage == a.lineage, "reopening keeps the lineage")
        #expect(b.resources.map(\.address) == ["twin.demo.a"])
    }

    @Test("the serial moves only when content changes", arguments: Backend.Kind.allCases)
    func serialMovesOnlyWhenContentChanges(_ kind: Backend.Kind) async throws {
        let backend = Backend(kind)
        defer { backend.cleanUp() }
        let s = try backend.open()
        #expect(try await s.commit(job("a")) == 1)
        #expect(try await s.commit(job("a")) == 1, "the same record again is no change")
        #expect(try await s.commit(job("a", hash: "h2")) == 2)
        #expect(try await s.remove(address: "twin.demo.nothing") == 2)
        #expect(try await s.remove(address: "twin.demo.a") == 3)
        try await s.setOutputs([OutputValue(name: "demo.job", value: "7", note: nil)])
        try await s.setOutputs([OutputValue(name: "demo.job", value: "7", note: nil)])
        let snap = try await s.snapshot()
        #expect(snap.serial == 4, "new outputs move the serial once")
        #expect(snap.resources.isEmpty)
        #expect(try await s.outputs().map(\.value) == ["7"])
    }

    @Test("bad addresses and duplicate pod UIDs are refused", arguments: Backend.Kind.allCases)
    func refusesBadAddressesAndDuplicatePodUIDs(_ kind: Backend.Kind) async throws {
        let backend = Backend(kind)
        defer { backend.cleanUp() }
        let s = try backend.open()
        var bad = job("a")
        bad.address = "preprocess"
        await #expect(throws: StateError.self, "an address outside twin./site. must be refused") { try await s.commit(bad) }
        try await s.commit(job("a"))
        var clash = job("b")
        clash.podUID = "uid-a"
        await #expect(throws: StateError.self, "two resources cannot share a pod UID") { try await s.commit(clash) }
        #expect(try await s.snapshot().resources.map(\.address) == ["twin.demo.a"], "nothing of a refused write is kept")
    }

    @Test("a second lock holder is told who holds it", arguments: Backend.Kind.allCases)
    func secondLockHolderIsToldWhoHoldsIt(_ kind: Backend.Kind) async throws {
        let backend = Backend(kind)
        defer { backend.cleanUp() }
        let a = try backend.open(), b = try backend.open()
        let lease = try await a.acquireLock(holder: "ci-job-17", operation: "apply", ttl: 60)
        do {
            _ = try await b.acquireLock(holder: "ci-job-18", operation: "apply", ttl: 60)
            Issue.record("the second apply must not get the lock")
        } catch let e as StateError {
            #expect(e.code == .locked)
            #expect(e.holder?.holder == "ci-job-17")
            #expect(e.message.contains("dte state lock break \(lease.id)"), "\(e.message)")
        }
        #expect(try await b.locks().map(\.id) == [lease.id])
        try await a.releaseLock(lease)
        #expect(try await b.acquireLock(holder: "ci-job-18", operation: "apply", ttl: 60).holder == "ci-job-18")
    }

    @Test("an expired lease is taken over; a heartbeat keeps one alive", arguments: Backend.Kind.allCases)
    func expiredLeaseIsTakenOverAndHeartbeatKeepsItAlive(_ kind: Backend.Kind) async throws {
        let backend = Backend(kind)
        defer { backend.cleanUp() }
        let s = try backend.open()
        let old = try await s.acquireLock(holder: "dead", operation: "apply", ttl: 0.2)
        let renewed = try await s.heartbeat(old, ttl: 0.2)
        #expect(renewed.expiresAt > old.expiresAt)
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(try await s.acquireLock(holder: "alive", operation: "plan", ttl: 60).holder == "alive")
        do {
            _ = try await s.heartbeat(old, ttl: 60)
            Issue.record("a lease that was taken over cannot be renewed")
        } catch let e as StateError {
            #expect(e.code == .notLocked)
        }
    }

    @Test("a lock is broken by id, and breaking it twice says so", arguments: Backend.Kind.allCases)
    func breakingALockById(_ kind: Backend.Kind) async throws {
        let backend = Backend(kind)
        defer { backend.cleanUp() }
        let s = try backend.open()
        let lease = try await s.acquireLock(holder: "stuck", operation: "apply", ttl: 3600)
        try await s.breakLock(id: lease.id)
        #expect(try await s.locks().isEmpty)
        do {
            try await s.breakLock(id: lease.id)
            Issue.record("breaking a lock that is gone must say so")
        } catch let e as StateError {
            #expect(e.code == .lockNotFound)
        }
        do {
            _ = try await s.heartbeat(lease, ttl: 60)
            Issue.record("a broken lease cannot be renewed")
        } catch let e as StateError {
            #expect(e.code == .notLocked)
        }
    }

    @Test("intents are kept until cleared", arguments: Backend.Kind.allCases)
    func intentsAreKeptUntilCleared(_ kind: Backend.Kind) async throws {
        let backend = Backend(kind)
        defer { backend.cleanUp() }
        let s = try backend.open()
        try await s.addIntent(ApplyIntent(address: "twin.demo.a", site: "local", podUID: "uid-a", action: "create", createdAt: Date()))
        let reopened = try backend.open()
        #expect(try await reopened.intents().map(\.podUID) == ["uid-a"])
        #expect(try await reopened.snapshot().serial == 0, "an intent is not content")
        try await reopened.clearIntent(address: "twin.demo.a")
        #expect(try await s.intents().isEmpty)
    }

    @Test("history is newest first and keeps hook results", arguments: Backend.Kind.allCases)
    func historyIsNewestFirstAndKeepsHookResults(_ kind: Backend.Kind) async throws {
        let backend = Backend(kind)
        defer { backend.cleanUp() }
        let s = try backend.open()
        let hooks = #"[{"name":"quality","phase":"pre-apply","verdict":"fail"}]"#
        for (i, r) in ["succeeded", "failed"].enumerated() {
            try await s.appendHistory(HistoryEntry(operation: "apply", who: "ci", gitCommit: "abc\(i)", startedAt: Date(), finishedAt: Date(),
                                                   result: r, summary: "{}", serialBefore: i, serialAfter: i + 1, hooks: i == 1 ? hooks : "[]"))
        }
        let h = try await backend.open().history(limit: 10)
        #expect(h.map(\.result) == ["failed", "succeeded"])
        #expect(h.first?.gitCommit == "abc1")
        #expect(h.map(\.hooks) == [hooks, "[]"])
        #expect(try await s.history(limit: 1).count == 1)
    }

    @Test("hook results in the history must be JSON", arguments: Backend.Kind.allCases)
    func historyRefusesHookResultsThatAreNotJSON(_ kind: Backend.Kind) async throws {
        let backend = Backend(kind)
        defer { backend.cleanUp() }
        let s = try backend.open()
        await #expect(throws: StateError.self) {
            try await s.appendHistory(HistoryEntry(operation: "apply", who: "ci", gitCommit: nil, startedAt: Date(), finishedAt: Date(),
                                                   result: "failed", summary: "", serialBefore: 0, serialAfter: 0, hooks: "not json"))
        }
    }
}

/// What only the SQLite store has: a file.
@Suite("SQLiteStateStore")
struct SQLiteStateStoreTests {
    @Test func unwritableLocationIsAClearError() {
        let error = #expect(throws: StateError.self) { try SQLiteStateStore(path: "/proc/dte/state.db") }
        #expect(error.map { "\($0)".contains("/proc/dte") } == true, "the message names the location")
    }

    /// A loop and a `dte status` that open a state nobody made yet must not both migrate it
    /// ("table meta already exists"): every opener succeeds and sees one lineage.
    @Test func openersOfANewStateAtOnceAllSucceed() async throws {
        for _ in 0..<5 {
            let dir = NSTemporaryDirectory() + "dte-state-race-" + UUID().uuidString
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let path = dir + "/state.db"
            let lineages = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<8 { group.addTask { try await SQLiteStateStore(path: path).snapshot().lineage } }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(lineages.count == 1, "one lineage: \(lineages)")
        }
    }
}

@Suite("ResourceAddress")
struct ResourceAddressTests {
    @Test func readsAndWritesTheTwoForms() {
        #expect(ResourceAddress("twin.flood.model") == .component(twin: "flood", component: "model"))
        #expect(ResourceAddress("site.vega") == .site("vega"))
        #expect(ResourceAddress.component(twin: "flood", component: "model").description == "twin.flood.model")
        #expect(ResourceAddress("twin.flood.model")?.sibling("prep")?.description == "twin.flood.prep")
    }

    @Test(arguments: ["", "twin", "twin.", "twin.a", "twin.a.", "twin..b", "twin.a.b.c", "site.", "site.a.b", "pod.a.b", "preprocess"])
    func refusesAnythingElse(_ text: String) {
        #expect(ResourceAddress(text) == nil)
    }
}

extension Backend {
    /// The same state as the reconcile loop sees it (its records, pin and status).
    func openReconcile() throws -> any StateStore & ReconcileRecordStore {
        switch kind {
        case .sqlite: return try SQLiteStateStore(path: dir + "/.dte/state.db")
        case .memory: return memory
        }
    }
}

@Suite("ReconcileRecordStoreConformance")
struct ReconcileRecordStoreConformance {
    @Test("reconcile records keep the newest N, a pin and a status survive reopening, and none moves the serial",
          arguments: Backend.Kind.allCases)
    func recordsPinAndStatus(_ kind: Backend.Kind) async throws {
        let backend = Backend(kind)
        defer { backend.cleanUp() }
        let s = try backend.openReconcile()
        try await s.commit(job("a"))
        let serial = try await s.snapshot().serial
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        for i in 1...5 {
            try await s.appendReconcileRecord(ReconcileRecord(source: "file:///repo.git main", revision: "rev\(i)", result: i == 5 ? "failed" : "applied",
                                                              startedAt: t, finishedAt: t.addingTimeInterval(Double(i)), drift: i == 5 ? 2 : 0,
                                                              actions: "{\"create\":\(i)}", message: String(repeating: "x", count: 10_000)),
                                              keep: 3)
        }
        let again = try backend.openReconcile()
        let records = try await again.reconcileRecords(limit: 10)
        #expect(records.map(\.revision) == ["rev5", "rev4", "rev3"], "only the newest 3, newest first")
        #expect(records.first?.result == "failed")
        #expect(records.first?.drift == 2)
        #expect(records.first?.duration == 5)
        #expect(records.first?.actions == "{\"create\":5}")
        #expect((records.first?.message.utf8.count ?? 0) <= ReconcileRecord.maxMessageBytes, "a huge message is bounded")
        #expect(try await again.reconcilePin() == nil)
        try await s.setReconcilePin(ReconcilePin(revision: String(repeating: "a", count: 40), who: "ops", at: t))
        #expect(try await again.reconcilePin()?.revision == String(repeating: "a", count: 40))
        #expect(try await again.reconcilePin()?.who == "ops")
        try await s.setReconcilePin(nil)
        #expect(try await again.reconcilePin() == nil, "--unpin clears it")
        try await s.setReconcileStatus("{\"appliedRevision\":\"rev4\"}")
        #expect(try await again.reconcileStatus() == "{\"appliedRevision\":\"rev4\"}")
        await #expect(throws: StateError.self, "a status that is not a JSON object is refused") { try await s.setReconcileStatus("[1") }
        #expect(try await again.snapshot().serial == serial, "records, pin and status never move the serial")
    }
}
