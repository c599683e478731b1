import DTEApply
import DTECompiler
import DTEModel
import DTEPlanner
import DTEState
import Foundation

/// Walks a plan's changes along its dependency graph with bounded parallelism: deletes first
/// (nothing waits for a deleted resource), then creates, replaces and updates once what they
/// depend on is done. Each finished resource is recorded at once, with a write-ahead intent
/// before every create (a rerun after a crash adopts the pod instead of submitting another);
/// only the dependents of a failure are skipped.
struct Executor: Sendable {
    var store: any StateStore
    var providers: Engine.ProviderFactory
    var clock: any EngineClock
    var settings: ApplySettings
    var events: @Sendable (ApplyEvent) -> Void

    func run(_ plan: Plan, graph: DependencyGraph, lineage: String) async throws -> [ApplyResult] {
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
            events(.finished(r))
        }
        let changes = plan.changes.filter { $0.action != .noop && $0.action != .read }
        try await bounded(changes.filter { $0.action == .delete }, results: &results) { c in await self.delete(c) }
        let pending = changes.filter { $0.action != .delete }
        let byAddress = Dictionary(pending.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        let sites = Dictionary(plan.desired.resources.map { ($0.address, $0.placement.site) }, uniquingKeysWith: { a, _ in a })
        let addressOf = Dictionary(plan.desired.resources.map { ($0.spec.component, $0.address) }, uniquingKeysWith: { a, _ in a })
        /// The addresses `address` waits for (components of this plan).
        func dependencies(_ address: String) -> [String] {
            guard let name = ResourceAddress(address)?.name else { return [] }
            return graph.dependencies(of: name).compactMap { addressOf[$0] }
        }
        var remaining = Set(pending.map(\.address))
        var running: Set<String> = []
        try await withThrowingTaskGroup(of: ApplyResult.self) { group in
            /// Starts every change whose dependencies in this apply are done; skips those with a
            /// failed or skipped one. Loops until nothing more can start (a skip unblocks others).
            func launchReady() throws {
                var progressed = true
                while progressed {
                    progressed = false
                    try Task.checkCancellation()
                    for address in remaining.sorted() where running.count < settings.parallelism {
                        guard let c = byAddress[address] else { continue }
                        let ds = dependencies(address)
                        if ds.contains(where: { running.contains($0) || remaining.contains($0) }) { continue }
                        remaining.remove(address)
                        progressed = true
                        if let bad = ds.first(where: { results[$0]?.outcome == .failed || results[$0]?.outcome == .skipped }) {
                            let r = ApplyResult(address: address, outcome: .skipped,
                                                message: "\(bad) \(results[bad]?.outcome == .skipped ? "was skipped" : "failed")")
                            results[address] = r
                            events(.finished(r))
                            continue
                        }
                        running.insert(address)
                        events(.started(address: address, action: c.action))
                        group.addTask { await self.createOrUpdate(c, lineage: lineage, sites: sites) }
                    }
                }
            }
            try launchReady()
            while let r = try await group.next() {
                running.remove(r.address)
                results[r.address] = r
                events(.finished(r))
                try launchReady()
            }
        }
        // the graph was checked for cycles; whatever could still not start is said, never dropped
        for address in remaining.sorted() {
            let r = ApplyResult(address: address, outcome: .failed,
                                message: "never became ready: it waits for \(dependencies(address).filter(remaining.contains).joined(separator: ", "))")
            results[address] = r
            events(.finished(r))
        }
        return plan.changes.compactMap { results[$0.address] }
    }

    /// Runs `work` for each change, at most `parallelism` at once, recording each result.
    func bounded(_ changes: [ResourceChange], results: inout [String: ApplyResult],
                 _ work: @escaping @Sendable (ResourceChange) async -> ApplyResult) async throws {
        var queue = changes[...]
        try await withThrowingTaskGroup(of: ApplyResult.self) { group in
            var inFlight = 0
            while inFlight < settings.parallelism, let c = queue.popFirst() {
                events(.started(address: c.address, action: c.action))
                group.addTask { await work(c) }
                inFlight += 1
            }
            while let r = try await group.next() {
                inFlight -= 1
                results[r.address] = r
                events(.finished(r))
                try Task.checkCancellation()
                if let c = queue.popFirst() {
                    events(.started(address: c.address, action: c.action))
                    group.addTask { await work(c) }
                    inFlight += 1
                }
            }
        }
    }

    /// Calls `body`, again after a bounded backoff while the site gives no answer; a refusal
    /// (or any other error) is thrown at once.
    func retrying<T: Sendable>(_ address: String, _ body: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch let e as ProviderError where e.isTransient && attempt < settings.retry.attempts {
                let delay = settings.retry.delay(after: attempt)
                events(.retrying(address: address, attempt: attempt + 1, attempts: settings.retry.attempts, delay: delay, reason: e.description))
                try await clock.sleep(seconds: delay)
                attempt += 1
            } catch let e as ProviderError where e.isTransient {
                throw ProviderError(e.kind, site: e.site, "\(e.message) (no answer after \(attempt) attempt\(attempt == 1 ? "" : "s"))")
            }
        }
    }

    func delete(_ c: ResourceChange) async -> ApplyResult {
        do {
            guard let rec = try await store.resource(address: c.address) else {
                return ApplyResult(address: c.address, outcome: .deleted, message: "already gone")
            }
            if let uid = rec.podUID, let ref = Engine.pod(c.address, uid: uid), let provider = providers(rec.site) {
                try await retrying(c.address) { try await provider.delete(ref) }
            }
            try await store.remove(address: c.address)
            return ApplyResult(address: c.address, outcome: .deleted, jobID: rec.jobID)
        } catch {
            return ApplyResult(address: c.address, outcome: .failed, message: "\(error)")
        }
    }

    func createOrUpdate(_ c: ResourceChange, lineage: String, sites: [String: String]) async -> ApplyResult {
        do {
            guard let spec = c.after, let placement = c.placement,
                  case .component(let twin, let component)? = ResourceAddress(c.address) else {
                return ApplyResult(address: c.address, outcome: .failed, message: "the plan has no spec for \(c.address)")
            }
            let address = ResourceAddress.component(twin: twin, component: component)
            let old = try await store.resource(address: c.address)
            if c.action == .update, var rec = old {
                rec.protected = c.protected
                try await store.commit(rec)
                return ApplyResult(address: c.address, outcome: .updated, jobID: rec.jobID)
            }
            guard let provider = providers(placement.site) else {
                return ApplyResult(address: c.address, outcome: .failed, message: "no agent configured for site \(placement.site)")
            }
            let earlier = spec.after.compactMap { address.sibling($0)?.description }
            // across sites Slurm cannot order the jobs: wait here until each earlier one finished
            for dep in earlier {
                let record = try await store.resource(address: dep)
                guard let site = record?.site ?? sites[dep], site != placement.site else { continue }
                guard let record else {
                    return ApplyResult(address: c.address, outcome: .skipped,
                                       message: "\(dep) on site \(site) has not been applied (outside this apply's scope?); apply it first")
                }
                switch try await waitForSuccess(of: record, dependent: c.address) {
                case .succeeded: continue
                case .failed(let why): return ApplyResult(address: c.address, outcome: .skipped, message: why)
                case .timedOut(let why), .refused(let why): return ApplyResult(address: c.address, outcome: .failed, message: why)
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
                    return ApplyResult(address: c.address, outcome: .failed,
                                       message: "a get_attribute value has none yet: \(error) (a job's exit_code or finished_at is known only when \(c.address) runs after it on another site)")
                }
            }
            var generation = old?.generation ?? 1
            if c.action == .replace, let old {
                if let uid = old.podUID {
                    let ref = PodRef(name: component, namespace: twin, uid: uid)
                    try await retrying(c.address) { try await provider.delete(ref) }
                }
                generation = old.generation + 1
            }
            let uid = PodUID.make(lineage: lineage, address: c.address, generation: generation)
            var afterUIDs: [String] = []
            for dep in earlier {
                // A dependency known to have succeeded needs no Slurm dependency (and its pod may
                // be gone from the agent after its retention): only pending or running ones are named.
                if let r = try await store.resource(address: dep), r.site == placement.site, r.phase != .succeeded, let uid = r.podUID {
                    afterUIDs.append(uid)
                }
            }
            let ref = PodRef(name: component, namespace: twin, uid: uid)
            var message: String?
            let jobID: String
            if let adopted = try await adoptable(c.address, ref: ref, provider: provider) {
                jobID = adopted
                message = "adopted job \(adopted), submitted by an apply that was interrupted"
            } else {
                try await store.addIntent(ApplyIntent(address: c.address, site: placement.site, podUID: uid, action: c.action.rawValue,
                                                      createdAt: clock.now))
                try Task.checkCancellation()
                let request = PodRequest(address: c.address, spec: podSpec, placement: placement, uid: uid, afterUIDs: afterUIDs, account: nil)
                jobID = try await retrying(c.address) { try await provider.create(request) }
            }
            let json = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
            let attributes = ResourceAttributes.submitted(site: placement.site, partition: placement.partition, qos: placement.qos,
                                                         podUID: uid, jobID: jobID)
            try await store.commit(ResourceRecord(address: c.address, site: placement.site, specHash: spec.hash, spec: json, generation: generation,
                                                  podUID: uid, jobID: jobID, outputs: ResourceAttributes.encode(attributes),
                                                  status: ResourcePhase.submitted.rawValue, protected: c.protected))
            try await store.clearIntent(address: c.address)
            return ApplyResult(address: c.address, outcome: c.action == .replace ? .replaced : .created, jobID: jobID, message: message)
        } catch {
            return ApplyResult(address: c.address, outcome: .failed, message: "\(error)")
        }
    }

    /// The job of a pod an interrupted apply already submitted: its intent (same pod UID) is still
    /// stored and the site knows the pod. Nil when there is nothing to adopt (the pod is then created;
    /// `create` is idempotent on the UID in any case).
    func adoptable(_ address: String, ref: PodRef, provider: any Provider) async throws -> String? {
        guard try await store.intents().contains(where: { $0.address == address && $0.podUID == ref.uid }) else { return nil }
        guard let found = try? await retrying(address, { try await provider.status([ref]) }).first(where: { $0.uid == ref.uid }),
              !found.jobID.isEmpty else { return nil }
        return found.jobID
    }

    /// `refused`: the dependency's site refuses this caller (token or entitlement): asking again cannot help.
    enum WaitOutcome: Sendable, Equatable { case succeeded, failed(String), timedOut(String), refused(String) }

    /// Polls the dependency's site until its job succeeded, failed or the wait timed out,
    /// recording what the site reports. Nothing is written for the dependent meanwhile.
    func waitForSuccess(of dep: ResourceRecord, dependent: String) async throws -> WaitOutcome {
        if dep.phase == .succeeded { return .succeeded }
        guard let provider = providers(dep.site) else { return .failed("no agent configured for site \(dep.site) of \(dep.address)") }
        guard let uid = dep.podUID, let ref = Engine.pod(dep.address, uid: uid) else { return .failed("\(dep.address) on site \(dep.site) has no pod") }
        let deadline = clock.now.addingTimeInterval(settings.waitTimeout)
        var record = dep
        var shown = ""
        var absent = 0
        while true {
            try Task.checkCancellation()
            var now: String
            let job = record.jobID.map { "job \($0)" } ?? "its job"
            do {
                if let o = try await provider.status([ref]).first(where: { $0.uid == uid }) {
                    absent = 0
                    let observed = ObservedPod(o)
                    record.status = observed.phase
                    if !o.jobID.isEmpty { record.jobID = o.jobID }
                    record.outputs = ResourceAttributes.encode(ResourceAttributes.merging(ResourceAttributes.decode(record.outputs), observed))
                    try await store.commit(record)
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
            } catch let e as EngineError {
                throw e
            } catch {
                now = "no answer (\(error)); asking again"
            }
            if now != shown {
                events(.waiting(address: dependent, dependency: dep.address, site: dep.site, status: now))
                shown = now
            }
            let left = deadline.timeIntervalSince(clock.now)
            if left <= 0 {
                return .timedOut("gave up waiting for \(dep.address) on site \(dep.site) to finish after \(DesiredState.duration(settings.waitTimeout)) (\(now)); "
                                 + "nothing was submitted for \(dependent): rerun apply to wait again, or give --wait-timeout more time")
            }
            try await clock.sleep(seconds: min(settings.pollInterval, left))
        }
    }
}
