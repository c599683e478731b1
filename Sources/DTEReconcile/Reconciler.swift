import DTEApply
import DTECompiler
import DTEEngine
import DTEModel
import DTEPlanner
import DTEState
import Foundation
import Logging

/// The sites' agents of one revision; `close` is called when the tick is done with them.
public struct SiteConnections: Sendable {
    public var provider: Engine.ProviderFactory
    public var close: @Sendable () async -> Void

    public init(provider: @escaping Engine.ProviderFactory, close: @escaping @Sendable () async -> Void = {}) {
        self.provider = provider
        self.close = close
    }
}

/// What a tick needs from the program around it, per revision (the hooks and sites come from
/// the revision's own policies, dte.yaml and site descriptors).
public struct ReconcileEnvironment: Sendable {
    /// The hook pipeline of a compiled revision (and what its configuration says); throws a
    /// message when dte.yaml's hook settings cannot be used.
    public var hooks: @Sendable (Compilation, _ root: String) throws -> (HookPipeline, [Diagnostic])
    /// The sites' agents of a compiled revision.
    public var sites: @Sendable (Compilation, _ root: String) throws -> SiteConnections

    public init(hooks: @escaping @Sendable (Compilation, String) throws -> (HookPipeline, [Diagnostic]),
                sites: @escaping @Sendable (Compilation, String) throws -> SiteConnections) {
        self.hooks = hooks
        self.sites = sites
    }
}

/// Sent after a tick whose result matters (something applied, failed, stalled; a new revision)
/// or that changed a condition; not for a tick that found nothing new.
public struct ReconcileEvent: Sendable {
    public var record: ReconcileRecord
    public var status: ReconcileStatus
    /// Conditions (the repository's and the twins') whose status or reason changed.
    public var changes: [ConditionChange]
}

/// How a tick ended (the record's `result`).
public enum ReconcileResult: String, Sendable, Codable, CaseIterable {
    /// Changes were applied.
    case applied
    /// Nothing to change (what the sites reported may have been recorded).
    case synced
    /// Sync mode manual: the plan has changes; nothing was applied.
    case planned
    /// Apply ran and some resource failed: the revision is not applied again until it changes or `--retry`.
    case failed
    /// The revision cannot be applied as it is (invalid files, a blocking hook, a protected resource): nothing was touched.
    case stalled
    /// Something outside the revision failed (fetch, a site's refresh, the state's lock): tried again after a backoff.
    case error
    /// The revision failed before and is not tried again (see `failed`).
    case held

    var isFailure: Bool { self == .failed || self == .stalled || self == .error }
}

/// The GitOps loop's one step (after Argo CD's and Flux's reconcilers): fetch the revision,
/// compile, plan with refresh, run the hooks, and apply when the repository's `sync:` policy
/// allows it, keeping a record, the conditions and the pin in the state.
public struct Reconciler: Sendable {
    public var source: ReconcileSource
    public var fetcher: GitFetcher
    public var store: any StateStore & ReconcileRecordStore & LoopRunStore
    public var environment: ReconcileEnvironment
    public var clock: any EngineClock
    public var settings: ApplySettings
    /// Reconcile records kept in the state.
    public var keepRecords = 50
    /// Fired on results and condition changes only.
    public var events: @Sendable (ReconcileEvent) async -> Void = { _ in }
    /// Apply's progress (each resource started and finished, hooks).
    public var progress: @Sendable (ApplyEvent) -> Void = { _ in }
    public var logger = Logger(label: "dte-reconcile")

    /// Triggers' seen items, read from the state once per process.
    let memory = LoopMemory()

    public init(source: ReconcileSource, cacheDirectory: String, store: any StateStore & ReconcileRecordStore & LoopRunStore,
                environment: ReconcileEnvironment, clock: any EngineClock = SystemClock(), settings: ApplySettings) {
        self.source = source
        self.fetcher = GitFetcher(cacheDirectory: cacheDirectory)
        self.store = store
        self.environment = environment
        self.clock = clock
        self.settings = settings
    }

    /// What one tick found and did, before it is recorded.
    struct Outcome: Error {
        var result: ReconcileResult
        var reason: String
        var message: String
        var revision: String?
        var drift: [DriftFinding] = []
        var actions: [String: Int] = [:]
        /// nil: the twins' conditions are kept as they were (nothing was planned).
        var twins: [String: [Condition]]?
        var appliedRevision: String?
        /// nil: the schedules' and triggers' lines are kept as they were.
        var runSources: [RunSourceStatus]?

        init(_ result: ReconcileResult, _ reason: String, _ message: String, revision: String? = nil) {
            self.result = result
            self.reason = reason
            self.message = message
            self.revision = revision
        }
    }

    /// One tick: never throws but for cancellation (a shutdown); everything else is its record.
    @discardableResult
    public func tick(retry: Bool = false) async throws -> (ReconcileRecord, ReconcileStatus) {
        let started = clock.now
        let previous = ReconcileStatus.decode(try? await store.reconcileStatus()) ?? ReconcileStatus()
        var pin: ReconcilePin?
        var outcome: Outcome
        do {
            pin = try await store.reconcilePin()
            outcome = try await evaluate(pin: pin, retry: retry, previous: previous)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            outcome = Outcome(.error, "StateError", "\(error)")
        }
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        let actions = (try? e.encode(outcome.actions)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let record = ReconcileRecord(source: source.description, revision: outcome.revision, result: outcome.result.rawValue, startedAt: started,
                                     finishedAt: clock.now, drift: outcome.drift.count, actions: actions, message: outcome.message)
        var status = previous
        status.source = source.description
        status.lastTick = record.finishedAt
        status.lastRevision = outcome.revision ?? previous.lastRevision
        status.pinnedRevision = pin?.revision
        status.lastResult = outcome.result.rawValue
        if let applied = outcome.appliedRevision {
            status.appliedRevision = applied
            if status.failedRevision == applied || retry { status.failedRevision = nil }
        }
        if outcome.result == .failed { status.failedRevision = outcome.revision }
        if outcome.result.isFailure {
            status.consecutiveFailures = min(previous.consecutiveFailures + 1, 1000)
        } else if outcome.result != .held {
            status.consecutiveFailures = 0
        }
        var changes: [ConditionChange] = []
        if outcome.result != .held {
            let (conditions, c) = ReconcileStatus.merge(Self.repositoryConditions(outcome, at: record.finishedAt), over: previous.conditions,
                                                        subject: "repository")
            status.conditions = conditions
            changes += c
        }
        if let runs = outcome.runSources { status.runSources = runs }
        if let twins = outcome.twins {
            var merged: [String: [Condition]] = [:]
            for (twin, conditions) in twins {
                let (m, c) = ReconcileStatus.merge(conditions, over: previous.twins[twin] ?? [], subject: twin)
                merged[twin] = m
                changes += c
            }
            status.twins = merged
        }
        do {
            try await store.appendReconcileRecord(record, keep: keepRecords)
            try await store.setReconcileStatus(status.encoded())
        } catch {
            logger.error("cannot record the reconcile tick", metadata: ["error": "\(error)"])
        }
        let meta: Logger.Metadata = ["revision": "\(record.revision ?? "-")", "result": "\(record.result)", "drift": "\(record.drift)",
                                     "actions": "\(actions)", "duration": "\(String(format: "%.3f", record.duration))"]
        logger.log(level: outcome.result.isFailure ? .warning : .info, "\(record.message)", metadata: meta)
        let matters = [ReconcileResult.applied, .failed].contains(outcome.result) || outcome.result.rawValue != previous.lastResult
            || (outcome.revision != nil && outcome.revision != previous.lastRevision)
        if !changes.isEmpty || matters && outcome.result != .held {
            await events(ReconcileEvent(record: record, status: status, changes: changes))
        }
        return (record, status)
    }

    static func repositoryConditions(_ o: Outcome, at t: Date) -> [Condition] {
        let ready: Condition
        switch o.result {
        case .applied: ready = Condition(.ready, .yes, reason: "Applied", message: o.message, at: t)
        case .synced where o.reason == "InSync": ready = Condition(.ready, .yes, reason: "InSync", message: o.message, at: t)
        default: ready = Condition(.ready, .no, reason: o.reason, message: o.message, at: t)
        }
        let reconciling = o.result == .error
            ? Condition(.reconciling, .yes, reason: "RetryingAfterError", message: "the next tick tries again (after a backoff)", at: t)
            : Condition(.reconciling, .no, reason: "Idle", message: "", at: t)
        let stalled = o.result == .stalled || o.result == .failed
            ? Condition(.stalled, .yes, reason: o.reason, message: o.message, at: t)
            : Condition(.stalled, .no, reason: "NotStalled", message: "", at: t)
        return [ready, reconciling, stalled]
    }

    // MARK: the tick's steps

    func evaluate(pin: ReconcilePin?, retry: Bool, previous: ReconcileStatus) async throws -> Outcome {
        // 1. the revision's files
        let root: String
        var revision: String?
        switch source {
        case .remote(let url, let branch):
            do {
                let checkout = try await fetcher.fetch(url: url, branch: branch, revision: pin?.revision)
                root = checkout.root
                revision = checkout.revision
            } catch {
                return Outcome(.error, "FetchFailed", "cannot fetch \(pin.map { "pinned revision \($0.revision)" } ?? "branch \(branch)") of \(url): \(error)")
            }
        case .local(let folder):
            if let pin {
                return Outcome(.stalled, "PinnedRevision", "the loop is pinned at \(pin.revision), but --local reconciles the working tree; "
                               + "unpin with dte reconcile --unpin, or reconcile the remote with --remote URL")
            }
            root = folder
        }
        try Task.checkCancellation()
        guard FileManager.default.fileExists(atPath: (root as NSString).appendingPathComponent(RepositoryConfig.fileName)) else {
            return Outcome(.stalled, "InvalidRevision", "the revision has no dte.yaml at its root; nothing was changed", revision: revision)
        }
        let compilation = Compiler.compile(.repository("."), workingDirectory: root)
        if case .local = source { revision = Provenance.sourceHash(compilation.files, root: root) }
        if !retry, let failed = previous.failedRevision, failed == revision {
            return Outcome(.held, "ApplyFailed", "revision \(failed) failed to apply before; it is not applied again until a new revision "
                           + "or dte reconcile --retry", revision: revision)
        }
        guard compilation.isValid else {
            return Outcome(.stalled, "InvalidRevision", "revision \(revision ?? "?") is invalid; nothing was changed: "
                           + Self.describe(compilation.diagnostics), revision: revision)
        }
        let config = compilation.config ?? RepositoryConfig(root: root)
        let hooks: HookPipeline
        do {
            hooks = try environment.hooks(compilation, root).0
        } catch {
            return Outcome(.stalled, "InvalidRevision", "revision \(revision ?? "?"): \(error); nothing was changed", revision: revision)
        }
        let sites: SiteConnections
        do {
            sites = try environment.sites(compilation, root)
        } catch {
            return Outcome(.error, "SitesUnavailable", "\(error)", revision: revision)
        }
        let engine = Engine(store: store, providers: sites.provider, clock: clock, hooks: hooks, events: progress, repositoryRoot: root, settings: settings)
        let outcome: Outcome
        do {
            outcome = try await planAndApply(engine, compilation: compilation, root: root, config: config, revision: revision, sites: sites)
        } catch {
            await sites.close()
            throw error
        }
        await sites.close()
        return outcome
    }

    /// "templates/x.yaml:3:5: message; …" for the first errors.
    static func describe(_ diagnostics: [Diagnostic]) -> String {
        let errors = diagnostics.filter { $0.severity == .error }
        let shown = errors.prefix(5).map { d in (d.location.isEmpty ? "" : d.location + ": ") + d.message }
        return shown.joined(separator: "; ") + (errors.count > 5 ? "; and \(errors.count - 5) more (dte validate shows them all)" : "")
    }

    func makePlan(_ engine: Engine, _ compilation: Compilation, root: String, replace: Set<String>) async throws -> Result<Plan, Outcome> {
        do {
            switch try await engine.plan(compilation, request: PlanRequest(replace: replace, refresh: true), workingDirectory: root) {
            case .planned(let p): return .success(p)
            case .invalid(let d): return .failure(Outcome(.stalled, "InvalidRevision", "the revision cannot be planned; nothing was changed: " + Self.describe(d)))
            }
        } catch let e as EngineError {
            return .failure(Outcome(.error, e.code == .refresh ? "RefreshFailed" : "PlanFailed", e.message))
        }
    }

    func planAndApply(_ engine: Engine, compilation original: Compilation, root: String, config: RepositoryConfig, revision: String?,
                      sites: SiteConnections) async throws -> Outcome {
        func stamped(_ o: Outcome) -> Outcome {
            var o = o
            o.revision = revision
            return o
        }
        var compilation = original
        let sources = RunSource.all(in: compilation.model)
        var cursors: [String: RunCursor] = [:]
        for s in sources { cursors[s.key] = RunCursor.decode(try await store.loopCursor(s.key)) }
        // a trigger's newest file stays in its targets' environment (else each tick would see a change)
        for s in sources {
            if case .trigger = s.kind, let item = cursors[s.key]?.lastItem { Self.inject(item, into: &compilation.model, components: s.targetComponents(in: compilation.model)) }
        }
        var plan: Plan
        switch try await makePlan(engine, compilation, root: root, replace: []) {
        case .success(let p): plan = p
        case .failure(let o): return stamped(o)
        }
        let state = try await store.snapshot()
        let drift = DriftFinding.find(in: plan, state: state)
        let wanted = Set(plan.desired.resources.map(\.address))
        let heal = config.selfHeal
            ? Set(drift.filter { d in wanted.contains(d.address) && plan.changes.contains { $0.address == d.address && $0.action == .noop } }.map(\.address))
            : []
        // schedules and triggers: the runs due now (started only when the sync policy applies)
        var runs = try await dueRuns(sources, cursors: cursors, plan: plan, state: state)
        let starting = config.syncMode == .automatic ? runs.due : []
        var detached: [ResourceRecord] = []
        if !starting.isEmpty {
            detached = try await detach(starting, state: state)
            for r in starting {
                if let item = r.item { Self.inject(item.location, into: &compilation.model, components: r.source.targetComponents(in: compilation.model)) }
            }
        }
        let rerun = heal.union(starting.flatMap(\.addresses))
        if !rerun.isEmpty {
            switch try await makePlan(engine, compilation, root: root, replace: rerun) {
            case .success(let p): plan = p
            case .failure(let o):
                try await reattach(detached)
                return stamped(o)
            }
        }
        // the sync policy: what of the plan may be applied
        var wouldPrune: [String] = []
        if !config.prune {
            wouldPrune = plan.changes.filter { $0.action == .delete && $0.reason == "removed-from-repository" }.map(\.address)
            plan.changes.removeAll { wouldPrune.contains($0.address) }
            plan.diagnostics.removeAll { d in d.code == "protected-resource" && wouldPrune.contains { d.message.hasPrefix($0 + " is protected") } }
        }
        let drifted = Set(drift.map(\.address))
        if !config.selfHeal {
            // drift is reported, not repaired: the state keeps what it recorded, so it stays visible
            plan.changes.removeAll { drifted.contains($0.address) && $0.reason == "missing-at-site" }
            for a in drifted { plan.observed[a] = nil }
        }
        var o = Outcome(.synced, "InSync", "", revision: revision)
        o.drift = drift
        o.runSources = try await runStatuses(sources, cursors: cursors, waiting: runs.waiting, state: state)
        for c in plan.changes where c.action != .noop && c.action != .read { o.actions[c.action.rawValue, default: 0] += 1 }
        if !wouldPrune.isEmpty { o.actions["would-prune"] = wouldPrune.count }
        let blockingPrePlan = HookPipeline.blocking(plan.hooks)
        if !blockingPrePlan.isEmpty {
            o.result = .stalled
            o.reason = "HookFailed"
            try await reattach(detached)
            o.message = "a blocking hook failed; nothing was changed: " + blockingPrePlan.map { "hook \($0.name) (\($0.phase.rawValue)): \($0.summary)" }.joined(separator: "; ")
            o.twins = Self.twinConditions(plan: plan, state: state, drift: drift, healed: heal, results: [], applied: false, wouldPrune: wouldPrune, at: clock.now)
            return o
        }
        if plan.diagnostics.hasErrors {
            o.result = .stalled
            o.reason = "ProtectedResource"
            try await reattach(detached)
            o.message = "the plan is refused; nothing was changed: " + Self.describe(plan.diagnostics)
            o.twins = Self.twinConditions(plan: plan, state: state, drift: drift, healed: heal, results: [], applied: false, wouldPrune: wouldPrune, at: clock.now)
            return o
        }
        let unhealed = drift.filter { !heal.contains($0.address) }
        var notes: [String] = runs.notes
        if config.syncMode == .manual, !runs.due.isEmpty {
            notes.append(runs.due.map { "\($0.source.key) would start a run of \($0.addresses.joined(separator: ", ")) (sync.mode is manual)" }.joined(separator: "; "))
        }
        if !unhealed.isEmpty {
            notes.append("drift (sync.self_heal is false, not repaired): " + unhealed.map { "\($0.address): \($0.message)" }.joined(separator: "; "))
        }
        if !heal.isEmpty { notes.append("self-heal recreates " + drift.filter { heal.contains($0.address) }.map { "\($0.address) (\($0.message))" }.joined(separator: "; ")) }
        if !wouldPrune.isEmpty { notes.append("would prune " + wouldPrune.joined(separator: ", ") + " (sync.prune is false)") }
        let summary = Self.summary(o.actions.filter { $0.key != "would-prune" })
        let what = "revision \(revision.map { String($0.prefix(12)) } ?? "?")"
        var results: [ApplyResult] = []
        var applied = false
        if config.syncMode == .manual {
            if plan.hasChanges {
                o.result = .planned
                o.reason = "OutOfSync"
                notes.insert("\(what): \(summary) waiting (sync.mode is manual: review with dte plan, apply with dte apply)", at: 0)
            } else {
                notes.insert("\(what): nothing to change", at: 0)
            }
        } else {
            let moved = plan.observed.contains { address, seen in state.resource(address).map { $0.status != seen.phase || $0.jobID != seen.jobID } ?? false }
            if plan.hasChanges || moved {
                do {
                    let report = try await engine.apply(plan)
                    results = report.results
                    applied = true
                    let bad = report.failed + report.skipped
                    if bad.isEmpty {
                        o.result = plan.hasChanges ? .applied : .synced
                        o.appliedRevision = revision
                        notes.insert("\(what) applied: \(plan.hasChanges ? summary : "statuses recorded")", at: 0)
                    } else {
                        o.result = .failed
                        o.reason = "ApplyFailed"
                        notes.insert("\(what) failed to apply: " + bad.map { "\($0.address) \($0.outcome.rawValue)\($0.message.map { ": \($0)" } ?? "")" }
                            .joined(separator: "; "), at: 0)
                    }
                } catch let e as EngineError {
                    // a blocking pre-apply hook, a cycle, the lock: the runs held back for the new
                    // generation keep their pods (`reattach` leaves a resource a partial apply moved)
                    try await reattach(detached)
                    switch e.code {
                    case .blocked:
                        o.result = .stalled
                        o.reason = "HookFailed"
                    case .cycle:
                        o.result = .stalled
                        o.reason = "InvalidRevision"
                    default:
                        o.result = .error
                        o.reason = e.code == .locked ? "Locked" : "ApplyError"
                    }
                    notes.insert("\(what): \(e.message)", at: 0)
                }
            } else {
                o.appliedRevision = revision
                notes.insert("\(what): nothing to change", at: 0)
            }
        }
        if o.result == .synced && (!unhealed.isEmpty || !wouldPrune.isEmpty) {
            o.reason = unhealed.isEmpty ? "OutOfSync" : "Drifted"
        }
        if config.syncMode == .manual {
            // a schedule seen for the first time starts counting its ticks now, as in automatic
            // mode: the runs it would start are then reported (nothing else of the cursors moves)
            for (key, c) in runs.cursors.sorted(by: { $0.key < $1.key }) where cursors[key]?.evaluatedUntil == nil && c.evaluatedUntil != nil {
                var baseline = cursors[key] ?? RunCursor()
                baseline.evaluatedUntil = c.evaluatedUntil
                try await store.setLoopCursor(key, baseline.encoded())
            }
        }
        if config.syncMode == .automatic && (applied || !plan.hasChanges) {
            // the ticks and files looked at (run or skipped) are not looked at again
            if applied { notes += try await record(starting, results: results, original: cursors, cursors: &runs.cursors, sites: sites) }
            for (key, c) in runs.cursors.sorted(by: { $0.key < $1.key }) where c != cursors[key] { try await store.setLoopCursor(key, c.encoded()) }
            o.runSources = try await runStatuses(sources, cursors: runs.cursors, waiting: runs.waiting, state: try await store.snapshot())
        }
        o.message = notes.joined(separator: "; ")
        o.twins = Self.twinConditions(plan: plan, state: try await store.snapshot(), drift: drift, healed: heal, results: results, applied: applied,
                                      wouldPrune: wouldPrune, at: clock.now)
        return o
    }

    static func summary(_ actions: [String: Int]) -> String {
        actions.isEmpty ? "no changes" : actions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }

    static func twin(of address: String) -> String? {
        if case .component(let twin, _)? = ResourceAddress(address) { return twin }
        return nil
    }

    /// Each twin's conditions after the tick: Ready (nothing left to change, no drift, no job
    /// failed), Reconciling (a job submitted or pending), Stalled (its apply failed).
    static func twinConditions(plan: Plan, state: StateSnapshot, drift: [DriftFinding], healed: Set<String>, results: [ApplyResult], applied: Bool,
                               wouldPrune: [String], at t: Date) -> [String: [Condition]] {
        var addresses: [String: [String]] = [:]
        for a in Set(plan.desired.resources.map(\.address)).union(state.resources.map(\.address)).sorted() {
            if let twin = twin(of: a) { addresses[twin, default: []].append(a) }
        }
        var out: [String: [Condition]] = [:]
        for (twin, members) in addresses {
            let mine = Set(members)
            let failed = results.filter { mine.contains($0.address) && ($0.outcome == .failed || $0.outcome == .skipped) }
            let pending = applied ? [] : plan.changes.filter { mine.contains($0.address) && $0.action != .noop && $0.action != .read }
            let drifted = drift.filter { mine.contains($0.address) && !healed.contains($0.address) }
            let pruned = wouldPrune.filter(mine.contains)
            var jobFailed: [String] = []
            var waiting: [String] = []
            for a in members {
                let observed = plan.observed[a]
                let r = state.resource(a)
                let phase = observed?.phase ?? r?.status
                if phase == ResourcePhase.failed.rawValue, !drifted.contains(where: { $0.address == a }) {
                    jobFailed.append("\(a): job \(observed?.jobID ?? r?.jobID ?? "?") failed" + (observed?.exitCode.map { " (exit \($0))" } ?? "")
                                     + (observed?.reason.map { ", \($0)" } ?? ""))
                }
                if phase == ResourcePhase.submitted.rawValue || phase == ResourcePhase.pending.rawValue {
                    waiting.append("\(a): job \(r?.jobID ?? observed?.jobID ?? "?") \(phase ?? "")")
                }
            }
            let ready: Condition
            if !failed.isEmpty {
                ready = Condition(.ready, .no, reason: "ApplyFailed",
                                  message: failed.map { "\($0.address) \($0.outcome.rawValue)\($0.message.map { ": \($0)" } ?? "")" }.joined(separator: "; "), at: t)
            } else if !drifted.isEmpty {
                ready = Condition(.ready, .no, reason: "Drifted", message: drifted.map { "\($0.address): \($0.message)" }.joined(separator: "; "), at: t)
            } else if !pending.isEmpty || !pruned.isEmpty {
                let text = pending.map { "\($0.action.rawValue) \($0.address)" } + pruned.map { "would prune \($0) (sync.prune is false)" }
                ready = Condition(.ready, .no, reason: "OutOfSync", message: text.joined(separator: "; "), at: t)
            } else if !jobFailed.isEmpty {
                ready = Condition(.ready, .no, reason: "JobFailed", message: jobFailed.joined(separator: "; "), at: t)
            } else {
                ready = Condition(.ready, .yes, reason: "InSync", message: "\(members.count) component\(members.count == 1 ? "" : "s") as the revision says", at: t)
            }
            let reconciling = waiting.isEmpty
                ? Condition(.reconciling, .no, reason: "Idle", message: "", at: t)
                : Condition(.reconciling, .yes, reason: "Progressing", message: waiting.joined(separator: "; "), at: t)
            let stalled = failed.isEmpty
                ? Condition(.stalled, .no, reason: "NotStalled", message: "", at: t)
                : Condition(.stalled, .yes, reason: "ApplyFailed", message: ready.message, at: t)
            out[twin] = [ready, reconciling, stalled]
        }
        return out
    }
}
