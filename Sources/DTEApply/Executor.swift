import DTEModel
import DTEPlanner
import DTEState
import Foundation

/// What happened to one resource during apply.
public struct ApplyResult: Sendable, Hashable {
    public enum Outcome: String, Sendable { case created, replaced, deleted, updated, unchanged, failed, skipped }
    public var address: String
    public var outcome: Outcome
    public var jobID: String?
    public var message: String?
}

/// Progress of an apply, for the view.
public enum ApplyEvent: Sendable {
    case started(address: String, action: PlanAction)
    case finished(ApplyResult)
}

/// Errors that stop an apply before it touches anything.
public struct ApplyError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Walks a plan's changes in dependency order with bounded parallelism, recording each finished
/// resource at once (with a write-ahead intent before every create), skipping only the
/// dependents of a failure.
public struct Executor: Sendable {
    public var store: any StateStore
    public var providers: @Sendable (String) -> (any Provider)?
    public var parallelism: Int
    public var holder: String
    public var lockTTL: TimeInterval = 120

    public init(store: any StateStore, providers: @escaping @Sendable (String) -> (any Provider)?, parallelism: Int = 10, holder: String) {
        self.store = store
        self.providers = providers
        self.parallelism = max(1, parallelism)
        self.holder = holder
    }

    /// Refuses a plan made against another lineage or an older serial.
    public static func checkFresh(_ plan: Plan, against s: StateSnapshot) throws {
        if plan.lineage != s.lineage {
            throw ApplyError("this plan was made for another state (lineage \(plan.lineage), this state is \(s.lineage)); make a new plan against this state with dte plan --out")
        }
        if plan.serial != s.serial {
            throw ApplyError("the plan is stale: it was made against state serial \(plan.serial), and the state is now at serial \(s.serial) (another apply ran since); make a new plan with dte plan --out and review it")
        }
    }

    public func apply(_ plan: Plan, gitCommit: String?, progress: @escaping @Sendable (ApplyEvent) -> Void = { _ in }) async throws -> [ApplyResult] {
        let lease: LockLease
        do {
            lease = try await store.acquireLock(holder: holder, operation: "apply", ttl: lockTTL)
        } catch let e as StateError {
            throw ApplyError(e.message)
        }
        let started = Date()
        let heartbeat = Task { [store, lockTTL] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(lockTTL / 3 * 1e9))
                _ = try? await store.heartbeat(lease, ttl: lockTTL)
            }
        }
        defer { heartbeat.cancel() }
        do {
            let before = try await store.snapshot()
            try Self.checkFresh(plan, against: before)
            let results = try await run(plan, lineage: before.lineage, progress: progress)
            let after = try await store.snapshot()
            let failed = results.filter { $0.outcome == .failed }.count
            let summary = Dictionary(grouping: results, by: \.outcome.rawValue).mapValues(\.count)
                .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            try await store.appendHistory(HistoryEntry(operation: "apply", who: holder, gitCommit: gitCommit, startedAt: started, finishedAt: Date(),
                                                       result: failed == 0 ? "succeeded" : "failed", summary: summary,
                                                       serialBefore: before.serial, serialAfter: after.serial))
            try await store.releaseLock(lease)
            return results
        } catch {
            try? await store.releaseLock(lease)
            throw error
        }
    }

    func run(_ plan: Plan, lineage: String, progress: @escaping @Sendable (ApplyEvent) -> Void) async throws -> [ApplyResult] {
        var results: [String: ApplyResult] = [:]
        // refresh: record what the sites reported
        for c in plan.changes where c.action == .read {
            guard var rec = try await store.resource(address: c.address), let o = plan.observed[c.address] else { continue }
            rec.status = o.phase
            try await store.commit(rec)
            let r = ApplyResult(address: c.address, outcome: .updated, jobID: rec.jobID, message: "status \(o.phase)")
            results[c.address] = r
            progress(.finished(r))
        }
        let changes = plan.changes.filter { $0.action != .noop && $0.action != .read }
        // deletes first (nothing waits for a deleted resource)
        for c in changes where c.action == .delete {
            progress(.started(address: c.address, action: c.action))
            let r = await delete(c)
            results[c.address] = r
            progress(.finished(r))
        }
        let pending = changes.filter { $0.action != .delete }
        let byAddress = Dictionary(uniqueKeysWithValues: pending.map { ($0.address, $0) })
        var remaining = Set(pending.map(\.address))
        var running: Set<String> = []
        try await withThrowingTaskGroup(of: ApplyResult.self) { group in
            func deps(_ c: ResourceChange) -> [String] {
                (c.after?.after ?? []).map { "twin.\(c.after?.twin ?? "").\($0)" }
            }
            func launchReady() {
                for address in remaining.sorted() where running.count < parallelism {
                    guard let c = byAddress[address] else { continue }
                    let ds = deps(c)
                    if ds.contains(where: { running.contains($0) || remaining.contains($0) && byAddress[$0] != nil }) { continue }
                    remaining.remove(address)
                    if let bad = ds.first(where: { results[$0]?.outcome == .failed || results[$0]?.outcome == .skipped }) {
                        let r = ApplyResult(address: address, outcome: .skipped, jobID: nil, message: "skipped: \(bad) failed")
                        results[address] = r
                        progress(.finished(r))
                        continue
                    }
                    running.insert(address)
                    progress(.started(address: address, action: c.action))
                    group.addTask { await self.createOrUpdate(c, lineage: lineage) }
                }
            }
            launchReady()
            while let r = try await group.next() {
                running.remove(r.address)
                results[r.address] = r
                progress(.finished(r))
                // a skip can unblock further skips: loop until nothing changes
                var before = -1
                while before != remaining.count {
                    before = remaining.count
                    launchReady()
                }
            }
        }
        return plan.changes.compactMap { results[$0.address] }
    }

    func delete(_ c: ResourceChange) async -> ApplyResult {
        do {
            guard let rec = try await store.resource(address: c.address) else {
                return ApplyResult(address: c.address, outcome: .deleted, jobID: nil, message: "already gone")
            }
            if let uid = rec.podUID, let provider = providers(rec.site) {
                let parts = c.address.split(separator: ".")
                try await provider.delete(PodRef(name: parts.count > 2 ? String(parts[2]) : c.address,
                                                 namespace: parts.count > 1 ? String(parts[1]) : "default", uid: uid))
            }
            try await store.remove(address: c.address)
            return ApplyResult(address: c.address, outcome: .deleted, jobID: rec.jobID, message: nil)
        } catch {
            return ApplyResult(address: c.address, outcome: .failed, jobID: nil, message: "\(error)")
        }
    }

    func createOrUpdate(_ c: ResourceChange, lineage: String) async -> ApplyResult {
        do {
            guard let spec = c.after, let placement = c.placement else {
                return ApplyResult(address: c.address, outcome: .failed, jobID: nil, message: "the plan has no spec for \(c.address)")
            }
            let old = try await store.resource(address: c.address)
            if c.action == .update, var rec = old {
                rec.protected = c.protected
                try await store.commit(rec)
                return ApplyResult(address: c.address, outcome: .updated, jobID: rec.jobID, message: nil)
            }
            guard let provider = providers(placement.site) else {
                return ApplyResult(address: c.address, outcome: .failed, jobID: nil, message: "no agent configured for site \(placement.site)")
            }
            var generation = old?.generation ?? 1
            if c.action == .replace, let old {
                if let uid = old.podUID { try await provider.delete(PodRef(name: spec.component, namespace: spec.twin, uid: uid)) }
                generation = old.generation + 1
            }
            let uid = PodUID.make(lineage: lineage, address: c.address, generation: generation)
            var afterUIDs: [String] = []
            for dep in spec.after {
                if let r = try await store.resource(address: "twin.\(spec.twin).\(dep)"), r.site == placement.site, let uid = r.podUID {
                    afterUIDs.append(uid)
                }
            }
            try await store.addIntent(ApplyIntent(address: c.address, site: placement.site, podUID: uid, action: c.action.rawValue, createdAt: Date()))
            let jobID = try await provider.create(PodRequest(address: c.address, spec: spec, placement: placement, uid: uid, afterUIDs: afterUIDs,
                                                             account: nil))
            let json = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
            try await store.commit(ResourceRecord(address: c.address, site: placement.site, specHash: spec.hash, spec: json, generation: generation,
                                                  podUID: uid, jobID: jobID, outputs: "{}", status: "submitted", protected: c.protected))
            try await store.clearIntent(address: c.address)
            return ApplyResult(address: c.address, outcome: c.action == .replace ? .replaced : .created, jobID: jobID, message: nil)
        } catch {
            return ApplyResult(address: c.address, outcome: .failed, jobID: nil, message: "\(error)")
        }
    }
}
