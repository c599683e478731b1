import Foundation

/// A state held in memory only: for tests of the engine and for dry runs. It keeps the same
/// contract as `SQLiteStateStore` (both run the shared conformance suite): the serial moves only
/// when content changes, addresses must be `twin.…` or `site.…`, pod UIDs are unique, a lock is
/// a lease that expires unless heartbeated.
public actor InMemoryStateStore: StateStore {
    public nonisolated let lineage: String
    private var serial = 0
    private var resources: [String: ResourceRecord] = [:]
    private var pendingIntents: [String: ApplyIntent] = [:]
    private var lease: LockLease?
    private var recordedOutputs: [OutputValue] = []
    private var entries: [HistoryEntry] = []
    private var reconciles: [ReconcileRecord] = []
    private var pin: ReconcilePin?
    private var status: String?
    private var loopRuns: [LoopRun] = []
    private var seen: [String: [String: Date]] = [:]
    private var cursors: [String: String] = [:]
    /// Counts every write that changed something (tests check that nothing was written after a point).
    public private(set) var writes = 0

    public init(lineage: String = UUID().uuidString.lowercased()) {
        self.lineage = lineage
    }

    public func snapshot() async throws -> StateSnapshot {
        StateSnapshot(formatVersion: SQLiteStateStore.formatVersion, lineage: lineage, serial: serial,
                      resources: resources.values.sorted { $0.address < $1.address })
    }

    public func resource(address: String) async throws -> ResourceRecord? { resources[address] }

    @discardableResult
    public func commit(_ r: ResourceRecord) async throws -> Int {
        guard r.address.hasPrefix("twin.") || r.address.hasPrefix("site.") else {
            throw StateError(.io, "state write failed (in memory): the address \(r.address) is neither twin.… nor site.…")
        }
        guard r.generation >= 1 else {
            throw StateError(.io, "state write failed (in memory): generation \(r.generation) of \(r.address) is below 1")
        }
        if let uid = r.podUID, let other = resources.values.first(where: { $0.podUID == uid && $0.address != r.address }) {
            throw StateError(.io, "state write failed (in memory): pod UID \(uid) is already recorded for \(other.address)")
        }
        if resources[r.address] == r { return serial }
        resources[r.address] = r
        return bump()
    }

    @discardableResult
    public func remove(address: String) async throws -> Int {
        guard resources.removeValue(forKey: address) != nil else { return serial }
        return bump()
    }

    private func bump() -> Int {
        serial += 1
        writes += 1
        return serial
    }

    public func addIntent(_ intent: ApplyIntent) async throws {
        pendingIntents[intent.address] = intent
        writes += 1
    }

    public func clearIntent(address: String) async throws {
        if pendingIntents.removeValue(forKey: address) != nil { writes += 1 }
    }

    public func intents() async throws -> [ApplyIntent] { pendingIntents.values.sorted { $0.address < $1.address } }

    public func acquireLock(holder: String, operation: String, ttl: TimeInterval) async throws -> LockLease {
        let now = Date()
        if let held = lease, held.expiresAt > now {
            let f = ISO8601DateFormatter()
            throw StateError(.locked, """
                the state is locked by \(held.holder) for \(held.operation) since \(f.string(from: held.createdAt)) \
                (lock \(held.id), expires \(f.string(from: held.expiresAt)) unless renewed); wait for it to finish, \
                or run `dte state lock break \(held.id)` if that run is dead
                """, holder: held)
        }
        let new = LockLease(id: UUID().uuidString.lowercased(), holder: holder, operation: operation, createdAt: now,
                            expiresAt: now.addingTimeInterval(ttl), heartbeatAt: now)
        lease = new
        return new
    }

    public func heartbeat(_ held: LockLease, ttl: TimeInterval) async throws -> LockLease {
        guard var current = lease, current.id == held.id else {
            throw StateError(.notLocked, "the lock \(held.id) is no longer held (it expired or was broken); stop and rerun")
        }
        let now = Date()
        current.heartbeatAt = now
        current.expiresAt = now.addingTimeInterval(ttl)
        lease = current
        return current
    }

    public func releaseLock(_ held: LockLease) async throws {
        if lease?.id == held.id { lease = nil }
    }

    public func locks() async throws -> [LockLease] { lease.map { [$0] } ?? [] }

    public func breakLock(id: String) async throws {
        guard lease?.id == id else {
            throw StateError(.lockNotFound, "no lock with id \(id); `dte state lock list` shows the current one")
        }
        lease = nil
    }

    public func setOutputs(_ outputs: [OutputValue]) async throws {
        let sorted = outputs.sorted { $0.name < $1.name }
        guard sorted != recordedOutputs else { return }
        recordedOutputs = sorted
        _ = bump()
    }

    public func outputs() async throws -> [OutputValue] { recordedOutputs }

    public func appendHistory(_ entry: HistoryEntry) async throws {
        guard (try? JSONSerialization.jsonObject(with: Data(entry.hooks.utf8))) != nil else {
            throw StateError(.io, "state write failed (in memory): the history entry's hook results are not JSON")
        }
        var e = entry
        e.id = Int64(entries.count + 1)
        entries.append(e)
        writes += 1
    }

    public func history(limit: Int) async throws -> [HistoryEntry] {
        Array(entries.reversed().prefix(max(0, limit)))
    }
}

extension InMemoryStateStore: ReconcileRecordStore {
    public func appendReconcileRecord(_ record: ReconcileRecord, keep: Int) async throws {
        guard (try? JSONSerialization.jsonObject(with: Data(record.actions.utf8))) != nil else {
            throw StateError(.io, "state write failed (in memory): the reconcile record's actions are not JSON")
        }
        var r = record
        r.id = (reconciles.last?.id ?? 0) + 1
        r.drift = max(0, r.drift)
        r.message = ReconcileRecord.bounded(r.message)
        reconciles.append(r)
        let keep = min(max(keep, 1), ReconcileRecord.maxRecords)
        if reconciles.count > keep { reconciles.removeFirst(reconciles.count - keep) }
    }

    public func reconcileRecords(limit: Int) async throws -> [ReconcileRecord] { Array(reconciles.reversed().prefix(max(0, limit))) }
    public func reconcilePin() async throws -> ReconcilePin? { pin }
    public func setReconcilePin(_ pin: ReconcilePin?) async throws { self.pin = pin }
    public func reconcileStatus() async throws -> String? { status }

    public func setReconcileStatus(_ json: String) async throws {
        guard (try? JSONSerialization.jsonObject(with: Data(json.utf8))) is [String: Any] else {
            throw StateError(.io, "state write failed (in memory): the reconcile status is not a JSON object")
        }
        status = json
    }
}

extension InMemoryStateStore: LoopRunStore {
    public func appendRun(_ run: LoopRun) async throws {
        guard (run.item?.utf8.count ?? 0) <= LoopRun.maxItemBytes else {
            throw StateError(.io, "state write failed (in memory): a run's item is longer than \(LoopRun.maxItemBytes) bytes")
        }
        var r = run
        r.id = (loopRuns.last?.id ?? 0) + 1
        r.generation = max(1, r.generation)
        loopRuns.append(r)
    }

    public func runs(address: String?, limit: Int) async throws -> [LoopRun] {
        guard let address else { return Array(loopRuns.reversed().prefix(max(0, limit))) }
        let mine = loopRuns.filter { $0.address == address }.sorted { ($0.generation, $0.id ?? 0) > ($1.generation, $1.id ?? 0) }
        return Array(mine.prefix(max(0, limit)))
    }

    public func pruneRuns(address: String, keep: Int) async throws -> [LoopRun] {
        let old = Array(try await runs(address: address, limit: Int.max).dropFirst(max(1, keep)))
        let ids = Set(old.compactMap(\.id))
        loopRuns.removeAll { $0.id.map(ids.contains) ?? false }
        return old
    }

    public func seenItems(trigger: String) async throws -> Set<String> { Set((seen[trigger] ?? [:]).keys) }

    public func markSeen(trigger: String, items: [String], at: Date) async throws {
        for item in items where item.utf8.count <= LoopRun.maxItemBytes && seen[trigger]?[item] == nil { seen[trigger, default: [:]][item] = at }
    }

    public func loopCursor(_ key: String) async throws -> String? { cursors[key] }

    public func setLoopCursor(_ key: String, _ value: String?) async throws { cursors[key] = value }
}
