import DTEState
import Foundation
import XCTest

/// The state-store contract, run against the SQLite store on a real file.
final class StateStoreTests: XCTestCase {
    var dir = ""

    override func setUp() {
        dir = NSTemporaryDirectory() + "dte-state-" + UUID().uuidString
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func store() throws -> SQLiteStateStore { try SQLiteStateStore(path: dir + "/.dte/state.db") }

    func job(_ name: String, hash: String = "h1") -> ResourceRecord {
        ResourceRecord(address: "twin.demo.\(name)", site: "local", specHash: hash, spec: "{\"cpus\":1}", podUID: "uid-\(name)")
    }

    func testNewStateHasALineageThatNeverChanges() async throws {
        let s = try store()
        let a = try await s.snapshot()
        XCTAssertEqual(a.serial, 0)
        XCTAssertEqual(a.formatVersion, 1)
        XCTAssertEqual(a.lineage.count, 36)
        try await s.commit(job("a"))
        let reopened = try store()
        let b = try await reopened.snapshot()
        XCTAssertEqual(b.lineage, a.lineage, "reopening keeps the lineage")
        XCTAssertEqual(b.resources.map(\.address), ["twin.demo.a"])
    }

    func testSerialMovesOnlyWhenContentChanges() async throws {
        let s = try store()
        let v1 = try await s.commit(job("a"))
        XCTAssertEqual(v1, 1)
        let v2 = try await s.commit(job("a"))
        XCTAssertEqual(v2, 1, "the same record again is no change")
        let v3 = try await s.commit(job("a", hash: "h2"))
        XCTAssertEqual(v3, 2)
        let v4 = try await s.remove(address: "twin.demo.nothing")
        XCTAssertEqual(v4, 2)
        let v5 = try await s.remove(address: "twin.demo.a")
        XCTAssertEqual(v5, 3)
        let snap = try await s.snapshot()
        XCTAssertEqual(snap.serial, 3)
        XCTAssertTrue(snap.resources.isEmpty)
    }

    func testSchemaRejectsBadAddressesAndDuplicatePodUIDs() async throws {
        let s = try store()
        var bad = job("a")
        bad.address = "preprocess"
        do {
            try await s.commit(bad)
            XCTFail("an address outside twin./site. must be refused")
        } catch let e as StateError {
            XCTAssertEqual(e.code, .io)
        }
        try await s.commit(job("a"))
        var clash = job("b")
        clash.podUID = "uid-a"
        do {
            try await s.commit(clash)
            XCTFail("two resources cannot share a pod UID")
        } catch {}
    }

    func testSecondLockHolderIsToldWhoHoldsIt() async throws {
        let a = try store(), b = try store()
        let lease = try await a.acquireLock(holder: "ci-job-17", operation: "apply", ttl: 60)
        do {
            _ = try await b.acquireLock(holder: "ci-job-18", operation: "apply", ttl: 60)
            XCTFail("the second apply must not get the lock")
        } catch let e as StateError {
            XCTAssertEqual(e.code, .locked)
            XCTAssertEqual(e.holder?.holder, "ci-job-17")
            XCTAssertTrue(e.message.contains("dte state lock break \(lease.id)"), e.message)
        }
        let v6 = try await b.locks().map(\.id)
        XCTAssertEqual(v6, [lease.id])
        try await a.releaseLock(lease)
        let second = try await b.acquireLock(holder: "ci-job-18", operation: "apply", ttl: 60)
        XCTAssertEqual(second.holder, "ci-job-18")
    }

    func testExpiredLeaseIsTakenOverAndHeartbeatKeepsItAlive() async throws {
        let s = try store()
        let old = try await s.acquireLock(holder: "dead", operation: "apply", ttl: 0.2)
        let renewed = try await s.heartbeat(old, ttl: 0.2)
        XCTAssertGreaterThan(renewed.expiresAt, old.expiresAt)
        try await Task.sleep(nanoseconds: 300_000_000)
        let new = try await s.acquireLock(holder: "alive", operation: "plan", ttl: 60)
        XCTAssertEqual(new.holder, "alive")
        do {
            _ = try await s.heartbeat(old, ttl: 60)
            XCTFail("a lease that was taken over cannot be renewed")
        } catch let e as StateError {
            XCTAssertEqual(e.code, .notLocked)
        }
    }

    func testBreakingALockById() async throws {
        let s = try store()
        let lease = try await s.acquireLock(holder: "stuck", operation: "apply", ttl: 3600)
        try await s.breakLock(id: lease.id)
        let v7 = try await s.locks().isEmpty
        XCTAssertTrue(v7)
        do {
            try await s.breakLock(id: lease.id)
            XCTFail("breaking a lock that is gone must say so")
        } catch let e as StateError {
            XCTAssertEqual(e.code, .lockNotFound)
        }
    }

    func testIntentsSurviveAReopen() async throws {
        let s = try store()
        try await s.addIntent(ApplyIntent(address: "twin.demo.a", site: "local", podUID: "uid-a", action: "create", createdAt: Date()))
        let reopened = try store()
        let v8 = try await reopened.intents().map(\.podUID)
        XCTAssertEqual(v8, ["uid-a"])
        try await reopened.clearIntent(address: "twin.demo.a")
        let v9 = try await s.intents().isEmpty
        XCTAssertTrue(v9)
    }

    func testHistoryIsNewestFirst() async throws {
        let s = try store()
        for (i, r) in ["succeeded", "failed"].enumerated() {
            try await s.appendHistory(HistoryEntry(operation: "apply", who: "ci", gitCommit: "abc\(i)", startedAt: Date(), finishedAt: Date(),
                                                   result: r, summary: "{}", serialBefore: i, serialAfter: i + 1))
        }
        let h = try await s.history(limit: 10)
        XCTAssertEqual(h.map(\.result), ["failed", "succeeded"])
        XCTAssertEqual(h.first?.gitCommit, "abc1")
    }

    func testUnwritableLocationIsAClearError() {
        XCTAssertThrowsError(try SQLiteStateStore(path: "/proc/dte/state.db")) { e in
            XCTAssertTrue("\(e)".contains("/proc/dte"), "\(e)")
        }
    }
}
