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
    /// `address` waits for `dependency` on another site to finish; sent again only when what
    /// that site reports changes (`status`, e.g. "job 123 running").
    case waiting(address: String, dependency: String, site: String, status: String)
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
    /// How long a component waits for a dependency on another site to finish.
    public var waitTimeout: TimeInterval = 86_400
    /// How often that site is asked meanwhile.
    public var pollInterval: TimeInterval = 2

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
            try await recordOutputs(plan)
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
        // refresh: record what the sites reported (statuses and attributes of unchanged resources too)
        for c in plan.changes where c.action == .read || c.action == .noop {
            guard var rec = try await store.resource(address: c.address), let o = plan.observed[c.address] else { continue }
            rec.status = o.phase
            rec.outputs = ResourceAttributes.encode(ResourceAttributes.merging(ResourceAttributes.decode(rec.outputs), o))
            try await store.commit(rec)
            guard c.action == .read else { continue }
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
        let sites = Dictionary(plan.desired.resources.map { ($0.address, $0.placement.site) }, uniquingKeysWith: { a, _ in a })
        var remaining = Set(pending.map(\.address))
        var running: Set<String> = []
        try await withThrowingTaskGroup(of: ApplyResult.self) { group in
            func deps(_ c: ResourceChange) -> [String] {
                (c.after?.after ?? []).map { "twin.\(c.after?.twin ?? "").\($0)" } + (c.after?.attributeReferences ?? [])
            }
            func launchReady() {
                for address in remaining.sorted() where running.count < parallelism {
                    guard let c = byAddress[address] else { continue }
                    let ds = deps(c)
                    if ds.contains(where: { running.contains($0) || remaining.contains($0) && byAddress[$0] != nil }) { continue }
                    remaining.remove(address)
                    if let bad = ds.first(where: { results[$0]?.outcome == .failed || results[$0]?.outcome == .skipped }) {
                        let r = ApplyResult(address: address, outcome: .skipped, jobID: nil,
                                            message: "\(bad) \(results[bad]?.outcome == .skipped ? "was skipped" : "failed")")
                        results[address] = r
                        progress(.finished(r))
                        continue
                    }
                    running.insert(address)
                    progress(.started(address: address, action: c.action))
                    group.addTask { await self.createOrUpdate(c, lineage: lineage, sites: sites, progress: progress) }
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

    func createOrUpdate(_ c: ResourceChange, lineage: String, sites: [String: String],
                        progress: @escaping @Sendable (ApplyEvent) -> Void) async -> ApplyResult {
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
            // across sites Slurm cannot order the jobs: wait here until each earlier one finished
            for dep in spec.after {
                let address = "twin.\(spec.twin).\(dep)"
                let record = try await store.resource(address: address)
                guard let site = record?.site ?? sites[address], site != placement.site else { continue }
                guard let record else {
                    return ApplyResult(address: c.address, outcome: .skipped, jobID: nil,
                                       message: "\(address) on site \(site) has not been applied (outside this apply's scope?); apply it first")
                }
                switch await waitForSuccess(of: record, dependent: c.address, progress: progress) {
                case .succeeded: continue
                case .failed(let why): return ApplyResult(address: c.address, outcome: .skipped, jobID: nil, message: why)
                case .timedOut(let why), .refused(let why): return ApplyResult(address: c.address, outcome: .failed, jobID: nil, message: why)
                }
            }
            // values from get_attribute: the resources they name exist (and were waited for) by now
            var podSpec = spec
            if spec.deferred != nil {
                var attributes: [String: [String: String]] = [:]
                for a in spec.attributeReferences {
                    attributes[a] = try await store.resource(address: a).map { ResourceAttributes.decode($0.outputs) }
                }
                do {
                    podSpec = try spec.resolvingDeferred { attributes[$0]?[$1] }
                } catch {
                    return ApplyResult(address: c.address, outcome: .failed, jobID: nil,
                                       message: "a get_attribute value has none yet: \(error) (a job's exit_code or finished_at is known only when \(c.address) runs after it on another site)")
                }
            }
            var generation = old?.generation ?? 1
            if c.action == .replace, let old {
                if let uid = old.podUID { try await provider.delete(PodRef(name: spec.component, namespace: spec.twin, uid: uid)) }
                generation = old.generation + 1
            }
            let uid = PodUID.make(lineage: lineage, address: c.address, generation: generation)
            var afterUIDs: [String] = []
            for dep in spec.after {
                // A dependency known to have succeeded needs no Slurm dependency (and its pod may
                // be gone from the agent after its retention): only pending or running ones are named.
                if let r = try await store.resource(address: "twin.\(spec.twin).\(dep)"), r.site == placement.site,
                   r.status != "succeeded", let uid = r.podUID {
                    afterUIDs.append(uid)
                }
            }
            try await store.addIntent(ApplyIntent(address: c.address, site: placement.site, podUID: uid, action: c.action.rawValue, createdAt: Date()))
            let jobID = try await provider.create(PodRequest(address: c.address, spec: podSpec, placement: placement, uid: uid, afterUIDs: afterUIDs,
                                                             account: nil))
            let json = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
            let attributes = ResourceAttributes.submitted(site: placement.site, partition: placement.partition, podUID: uid, jobID: jobID)
            try await store.commit(ResourceRecord(address: c.address, site: placement.site, specHash: spec.hash, spec: json, generation: generation,
                                                  podUID: uid, jobID: jobID, outputs: ResourceAttributes.encode(attributes), status: "submitted",
                                                  protected: c.protected))
            try await store.clearIntent(address: c.address)
            return ApplyResult(address: c.address, outcome: c.action == .replace ? .replaced : .created, jobID: jobID, message: nil)
        } catch {
            return ApplyResult(address: c.address, outcome: .failed, jobID: nil, message: "\(error)")
        }
    }

    /// Resolves the topology outputs from the attributes the state records now, and records them.
    func recordOutputs(_ plan: Plan) async throws {
        guard let definitions = plan.desired.outputs else { return }
        let snapshot = try await store.snapshot()
        let attributes = Dictionary(snapshot.resources.map { ($0.address, ResourceAttributes.decode($0.outputs)) }, uniquingKeysWith: { a, _ in a })
        try await store.setOutputs(OutputValue.resolve(definitions, attributes: attributes))
    }

    /// `refused`: the dependency's site refuses this caller (token or entitlement): asking again cannot help.
    enum WaitOutcome: Sendable, Equatable { case succeeded, failed(String), timedOut(String), refused(String) }

    /// Polls the dependency's site until its job succeeded, failed or the wait timed out,
    /// recording what the site reports. Nothing is written for the dependent meanwhile.
    func waitForSuccess(of dep: ResourceRecord, dependent: String, progress: @escaping @Sendable (ApplyEvent) -> Void) async -> WaitOutcome {
        if dep.status == "succeeded" { return .succeeded }
        guard let provider = providers(dep.site) else { return .failed("no agent configured for site \(dep.site) of \(dep.address)") }
        guard let uid = dep.podUID else { return .failed("\(dep.address) on site \(dep.site) has no pod") }
        let parts = dep.address.split(separator: ".").map(String.init)
        let ref = PodRef(name: parts.count > 2 ? parts[2] : dep.address, namespace: parts.count > 1 ? parts[1] : "default", uid: uid)
        let deadline = Date().addingTimeInterval(waitTimeout)
        var record = dep
        var shown = ""
        var absent = 0
        while true {
            var now: String
            let job = record.jobID.map { "job \($0)" } ?? "its job"
            do {
                if let o = try await provider.status([ref]).first(where: { $0.uid == uid }) {
                    absent = 0
                    let observed = ObservedPod(o)
                    record.status = observed.phase
                    if !o.jobID.isEmpty { record.jobID = o.jobID }
                    record.outputs = ResourceAttributes.encode(ResourceAttributes.merging(ResourceAttributes.decode(record.outputs), observed))
                    try? await store.commit(record)
                    let job = "job \(record.jobID ?? o.jobID)"
                    switch o.phase {
                    case .succeeded: return .succeeded
                    case .failed:
                        let how = (o.exitCode.map { ", exit code \($0)" } ?? "") + (o.reason.map { ": \($0)" } ?? "")
                        return .failed("\(dep.address) on site \(dep.site) failed (\(job)\(how))")
                    case .pending, .running, .unknown: now = "\(job) \(o.phase.rawValue)"
                    }
                } else {
                    absent += 1
                    if absent >= 3 { return .failed("site \(dep.site) no longer knows \(dep.address) (\(job))") }
                    now = "\(job) not reported yet"
                }
            } catch let e as ProviderError where e.isAuthorization {
                return .refused("cannot learn whether \(dep.address) finished: \(e); nothing was submitted for \(dependent)")
            } catch {
                now = "no answer (\(error)); asking again"
            }
            if now != shown {
                progress(.waiting(address: dependent, dependency: dep.address, site: dep.site, status: now))
                shown = now
            }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 {
                return .timedOut("gave up waiting for \(dep.address) on site \(dep.site) to finish after \(DesiredState.duration(waitTimeout)) (\(now)); "
                                 + "nothing was submitted for \(dependent): rerun apply to wait again, or give --wait-timeout more time")
            }
            try? await Task.sleep(nanoseconds: UInt64(min(pollInterval, left) * 1e9))
        }
    }
}
