import DTEState
import Foundation

/// Whether this apply still holds the state's lease. Set once, by the heartbeat, when a renewal
/// fails; every state write of the apply checks it first, so nothing is written after the loss.
final class LeaseWatch: @unchecked Sendable {
    // @unchecked: `reason` is only read and written under `lock`.
    private let lock = NSLock()
    private var reason: String?

    func markLost(_ why: String) {
        lock.lock()
        defer { lock.unlock() }
        if reason == nil { reason = why }
    }

    var lostReason: String? {
        lock.lock()
        defer { lock.unlock() }
        return reason
    }

    /// Throws the loss, when the lease was lost.
    func check() throws {
        if let lostReason { throw EngineError(.lockLost, lostReason) }
    }
}

/// The store as apply writes it while holding a lease: reads pass through, writes are refused
/// once the lease is lost.
struct LeasedStore: StateStore {
    let base: any StateStore
    let watch: LeaseWatch

    func snapshot() async throws -> StateSnapshot { try await base.snapshot() }
    func resource(address: String) async throws -> ResourceRecord? { try await base.resource(address: address) }

    @discardableResult func commit(_ resource: ResourceRecord) async throws -> Int {
        try watch.check()
        return try await base.commit(resource)
    }

    @discardableResult func remove(address: String) async throws -> Int {
        try watch.check()
        return try await base.remove(address: address)
    }

    func addIntent(_ intent: ApplyIntent) async throws {
        try watch.check()
        try await base.addIntent(intent)
    }

    func clearIntent(address: String) async throws {
        try watch.check()
        try await base.clearIntent(address: address)
    }

    func intents() async throws -> [ApplyIntent] { try await base.intents() }

    func acquireLock(holder: String, operation: String, ttl: TimeInterval) async throws -> LockLease {
        try await base.acquireLock(holder: holder, operation: operation, ttl: ttl)
    }

    func heartbeat(_ lease: LockLease, ttl: TimeInterval) async throws -> LockLease { try await base.heartbeat(lease, ttl: ttl) }
    func releaseLock(_ lease: LockLease) async throws { try await base.releaseLock(lease) }
    func locks() async throws -> [LockLease] { try await base.locks() }
    func breakLock(id: String) async throws { try await base.breakLock(id: id) }

    func setOutputs(_ outputs: [OutputValue]) async throws {
        try watch.check()
        try await base.setOutputs(outputs)
    }

    func outputs() async throws -> [OutputValue] { try await base.outputs() }

    func appendHistory(_ entry: HistoryEntry) async throws {
        try watch.check()
        try await base.appendHistory(entry)
    }

    func history(limit: Int) async throws -> [HistoryEntry] { try await base.history(limit: limit) }
}

/// Renews `lease` every third of its time to live until cancelled. A renewal that fails (the
/// lease was broken or taken over, or the state cannot be written) marks the lease lost and
/// throws: the apply running beside it in the same task group is then cancelled.
func keepAlive(_ lease: LockLease, store: any StateStore, ttl: TimeInterval, clock: any EngineClock, watch: LeaseWatch) async throws {
    var current = lease
    while true {
        try await clock.sleep(seconds: ttl / 3)
        do {
            current = try await store.heartbeat(current, ttl: ttl)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            let why = "lost the state lock \(lease.id) while applying (\(error)); apply stopped at once and wrote nothing more: "
                + "check `dte state lock list` and `dte state history`, then run dte plan and apply again"
            watch.markLost(why)
            throw EngineError(.lockLost, why)
        }
    }
}
