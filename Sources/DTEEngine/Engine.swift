import DTEApply
import DTECompiler
import DTEModel
import DTEPlanner
import DTEState
import Foundation

/// Why the engine stopped; each message says what to do.
public struct EngineError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable {
        /// Another run holds the state's lock.
        case locked
        /// The plan was made against another lineage or an older serial.
        case stale
        /// The lease was lost while applying; nothing was written after.
        case lockLost
        /// A blocking hook failed before any site was touched.
        case blocked
        /// The components' order is a cycle.
        case cycle
        /// A site could not be asked what became of its pods.
        case refresh
        /// The plan's scope names something the repository does not have.
        case scope
        /// The state could not be read or written.
        case state
    }
    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// What a plan covers.
public struct PlanRequest: Sendable {
    public var sites: Set<String> = []
    public var targets: Set<String> = []
    public var replace: Set<String> = []
    public var destroy = false
    /// Ask the sites' agents what became of recorded pods first.
    public var refresh = true
    /// Only record what the sites report; change nothing.
    public var refreshOnly = false

    public init(sites: Set<String> = [], targets: Set<String> = [], replace: Set<String> = [], destroy: Bool = false,
                refresh: Bool = true, refreshOnly: Bool = false) {
        self.sites = sites
        self.targets = targets
        self.replace = replace
        self.destroy = destroy
        self.refresh = refresh
        self.refreshOnly = refreshOnly
    }
}

/// A plan, or why there is none: the repository's problems (invalid files, components no site
/// can run, an order that is a cycle), as diagnostics.
public enum PlanOutcome: Sendable {
    case planned(Plan)
    case invalid([Diagnostic])
}

/// How apply runs.
public struct ApplySettings: Sendable {
    /// Resources applied at once.
    public var parallelism: Int
    /// Who holds the lock (recorded in the history).
    public var holder: String
    /// The lease's time to live; it is renewed every third of it.
    public var lockTTL: TimeInterval = 120
    /// How long a component waits for a dependency on another site to finish.
    public var waitTimeout: TimeInterval = 86_400
    /// How often that site is asked meanwhile.
    public var pollInterval: TimeInterval = 2
    /// How a call that got no answer is made again.
    public var retry = RetryPolicy()

    public init(parallelism: Int = 10, holder: String) {
        self.parallelism = max(1, min(parallelism, 10_000))
        self.holder = holder
    }
}

/// What an apply did: each resource's result and what the hooks said.
public struct ApplyReport: Sendable {
    public var results: [ApplyResult]
    /// Every hook result of the run (the plan's `pre-plan` ones, `pre-apply`, then `post-apply` or `on-failure`).
    public var hooks: [HookResult]

    public var failed: [ApplyResult] { results.filter { $0.outcome == .failed } }
    public var skipped: [ApplyResult] { results.filter { $0.outcome == .skipped } }
}

/// The engine (after Terraform's `Context`): refresh → plan → hooks → apply as library calls,
/// over a state store, the sites' providers, a clock, the hook pipeline and an event sink.
/// Commands only parse options and render what it returns and reports.
public struct Engine: Sendable {
    public typealias ProviderFactory = @Sendable (String) -> (any Provider)?

    public var store: any StateStore
    /// The site's provider; nil when the site has no agent endpoint.
    public var providers: ProviderFactory
    public var clock: any EngineClock
    public var hooks: HookPipeline
    /// Receives apply progress and hook results (the view renders them).
    public var events: @Sendable (ApplyEvent) -> Void
    /// The repository root (hooks read the repository; git gives the commit).
    public var repositoryRoot: String
    public var settings: ApplySettings

    public init(store: any StateStore, providers: @escaping ProviderFactory, clock: any EngineClock = SystemClock(),
                hooks: HookPipeline = HookPipeline(), events: @escaping @Sendable (ApplyEvent) -> Void = { _ in },
                repositoryRoot: String, settings: ApplySettings) {
        self.store = store
        self.providers = providers
        self.clock = clock
        self.hooks = hooks
        self.events = events
        self.repositoryRoot = repositoryRoot
        self.settings = settings
    }

    // MARK: plan

    /// Reads the state, places components, checks their order, refreshes (when asked), diffs,
    /// and runs the `pre-plan` hooks (their results go into `plan.hooks`). Pure data out: the
    /// state is not written.
    public func plan(_ compilation: Compilation, request: PlanRequest, workingDirectory: String) async throws -> PlanOutcome {
        guard compilation.isValid else { return .invalid(compilation.diagnostics) }
        // provenance (a hash of every source, git's commit) meanwhile, on another thread
        let root = compilation.config?.root ?? workingDirectory
        async let sourceHash = Provenance.sourceHash(compilation.files, root: workingDirectory)
        async let gitCommit = Provenance.gitCommit(in: root)
        let snapshot = try await read { try await store.snapshot() }
        let (desired, placementDiagnostics) = DesiredState.build(from: compilation.model,
                                                                 used: DesiredState.allocationUse(of: snapshot.resources))
        let known = Set(desired.sites.map(\.name))
        for s in request.sites.sorted() where !known.contains(s) {
            throw EngineError(.scope, "--site \(s): no such site (sites: \(known.sorted().joined(separator: ", ")))")
        }
        // the compiler has already refused a cycle of after requirements or get_attribute references
        if placementDiagnostics.hasErrors { return .invalid(placementDiagnostics) }
        var options = PlanOptions()
        options.sites = request.sites
        options.targets = request.targets
        options.replace = request.replace
        options.destroy = request.destroy
        options.refreshOnly = request.refreshOnly
        let observed = request.refresh || request.refreshOnly ? try await refresh(snapshot, sites: request.sites) : nil
        var plan = Planner.plan(desired: desired, state: snapshot, options: options,
                                sourceHash: await sourceHash, gitCommit: await gitCommit, observed: observed)
        plan.hooks = await runHooks(.prePlan, plan: plan)
        return .planned(plan)
    }

    /// Asks each site that holds recorded resources (in `sites`, all when empty) what became of
    /// its pods. A site that cannot be reached, or refuses the token, is an error naming it.
    public func refresh(_ snapshot: StateSnapshot, sites: Set<String> = []) async throws -> [String: ObservedPod] {
        let bySite = Dictionary(grouping: snapshot.resources.filter { sites.isEmpty || sites.contains($0.site) }, by: \.site)
        var observed: [String: ObservedPod] = [:]
        for (site, records) in bySite.sorted(by: { $0.key < $1.key }) {
            guard let provider = providers(site) else {
                throw EngineError(.refresh, "cannot refresh site \(site): no agent endpoint (site descriptor removed?); pass --refresh=false to plan without asking it")
            }
            let refs = records.compactMap { r in r.podUID.flatMap { Self.pod(r.address, uid: $0) } }
            let statuses: [PodObservation]
            do {
                statuses = try await provider.status(refs)
            } catch let e as ProviderError where e.isAuthorization {
                throw EngineError(.refresh, "cannot refresh site \(site): \(e.message)")
            } catch {
                throw EngineError(.refresh, "cannot refresh site \(site) (agent \(provider.endpoint)): \(error); pass --refresh=false to plan without asking it")
            }
            let byUID = Dictionary(statuses.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })
            for r in records {
                guard let uid = r.podUID, let o = byUID[uid] else { continue }
                observed[r.address] = ObservedPod(o)
            }
        }
        return observed
    }

    /// The pod a component's address stands for (nil for an address that is not a component's).
    static func pod(_ address: String, uid: String) -> PodRef? {
        guard case .component(let twin, let component)? = ResourceAddress(address) else { return nil }
        return PodRef(name: component, namespace: twin, uid: uid)
    }

    // MARK: apply

    /// Refuses a plan made against another lineage or an older serial.
    public static func checkFresh(_ plan: Plan, against s: StateSnapshot) throws(EngineError) {
        if plan.lineage != s.lineage {
            throw EngineError(.stale, "this plan was made for another state (lineage \(plan.lineage), this state is \(s.lineage)); make a new plan against this state with dte plan --out")
        }
        if plan.serial != s.serial {
            throw EngineError(.stale, "the plan is stale: it was made against state serial \(plan.serial), and the state is now at serial \(s.serial) (another apply ran since); make a new plan with dte plan --out and review it")
        }
    }

    /// Applies exactly `plan` under the state's lock: checks it is fresh and its order has no
    /// cycle, runs the `pre-apply` hooks (a blocking failure stops here: nothing is submitted),
    /// walks the changes, records outputs, runs `post-apply` (all succeeded) or `on-failure`,
    /// and appends the history entry with every hook result. The lease is renewed by a child task
    /// beside the walk; when a renewal fails the walk is cancelled at once and nothing more is
    /// written (`EngineError.lockLost`).
    public func apply(_ plan: Plan) async throws -> ApplyReport {
        let lease: LockLease
        do {
            lease = try await store.acquireLock(holder: settings.holder, operation: "apply", ttl: settings.lockTTL)
        } catch let e as StateError {
            throw EngineError(e.code == .locked ? .locked : .state, e.message)
        }
        let watch = LeaseWatch()
        let leased = LeasedStore(base: store, watch: watch)
        let started = clock.now
        do {
            let report = try await withThrowingTaskGroup(of: ApplyReport?.self) { group in
                group.addTask { [store, settings, clock] in
                    try await keepAlive(lease, store: store, ttl: settings.lockTTL, clock: clock, watch: watch)
                    return nil
                }
                group.addTask { try await self.applyLocked(plan, store: leased, started: started) }
                while let next = try await group.next() {
                    if let report = next {
                        group.cancelAll()
                        return report
                    }
                }
                throw EngineError(.lockLost, "the lock's heartbeat ended without the apply")
            }
            try? await store.releaseLock(lease)
            return report
        } catch {
            if let lost = watch.lostReason { throw EngineError(.lockLost, lost) }
            try? await store.releaseLock(lease)
            if error is CancellationError { throw error }
            if let e = error as? EngineError { throw e }
            if let e = error as? StateError { throw EngineError(.state, e.message) }
            throw error
        }
    }

    func applyLocked(_ plan: Plan, store: any StateStore, started: Date) async throws -> ApplyReport {
        let before = try await store.snapshot()
        try Self.checkFresh(plan, against: before)
        let graph = DependencyGraph(plan.desired.resources)
        if let cycle = graph.cycleDiagnostics(in: nil).first {
            throw EngineError(.cycle, "the plan's components cannot be ordered: \(cycle.message); \(cycle.hint ?? "")")
        }
        var hookResults = plan.hooks
        let runsHooks = plan.hasChanges
        if runsHooks {
            let preApply = await runHooks(.preApply, plan: plan)
            hookResults += preApply
            let blocking = HookPipeline.blocking(preApply)
            if !blocking.isEmpty {
                try await appendHistory(store, plan: plan, started: started, result: .blocked,
                                        summary: "blocked by " + blocking.map(\.name).joined(separator: ", "),
                                        before: before.serial, after: before.serial, hooks: hookResults)
                throw EngineError(.blocked, Self.blockedMessage(blocking))
            }
        }
        let executor = Executor(store: store, providers: providers, clock: clock, settings: settings, events: events)
        let results = try await executor.run(plan, graph: graph, lineage: before.lineage)
        try Task.checkCancellation()
        try await recordOutputs(plan, store: store)
        let failed = results.contains { $0.outcome == .failed }
        if runsHooks {
            let input = HookInput(phase: failed ? .onFailure : .postApply, plan: plan, results: results, repositoryRoot: repositoryRoot)
            let after = await hooks.run(input)
            after.forEach { events(.hook($0)) }
            hookResults += after
        }
        let summary = Dictionary(grouping: results, by: \.outcome.rawValue).mapValues(\.count)
            .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let after = try await store.snapshot()
        try await appendHistory(store, plan: plan, started: started, result: failed ? .failed : .succeeded, summary: summary,
                                before: before.serial, after: after.serial, hooks: hookResults)
        return ApplyReport(results: results, hooks: hookResults)
    }

    /// "apply stopped by hook quality (pre-apply) for twin.flood: …; do …. Nothing was submitted."
    static func blockedMessage(_ blocking: [HookResult]) -> String {
        let lines = blocking.map { r in
            "hook \(r.name) (\(r.phase.rawValue))\(r.subject.map { " for \($0)" } ?? ""): \(r.summary)" + (r.remedy.map { "; \($0)" } ?? "")
        }
        return "apply stopped by a blocking hook before any site was touched (nothing was submitted): " + lines.joined(separator: "; ")
    }

    func runHooks(_ phase: HookPhase, plan: Plan) async -> [HookResult] {
        let results = await hooks.run(HookInput(phase: phase, plan: plan, repositoryRoot: repositoryRoot))
        results.forEach { events(.hook($0)) }
        return results
    }

    func appendHistory(_ store: any StateStore, plan: Plan, started: Date, result: OperationResult, summary: String, before: Int, after: Int,
                       hooks: [HookResult]) async throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = (try? e.encode(hooks)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        try await store.appendHistory(HistoryEntry(operation: "apply", who: settings.holder, gitCommit: plan.gitCommit, startedAt: started,
                                                   finishedAt: clock.now, result: result.rawValue, summary: summary,
                                                   serialBefore: before, serialAfter: after, hooks: json))
    }

    /// Resolves the topology outputs from the attributes the state records now, and records them.
    func recordOutputs(_ plan: Plan, store: any StateStore) async throws {
        guard let definitions = plan.desired.outputs else { return }
        let snapshot = try await store.snapshot()
        let attributes = Dictionary(snapshot.resources.map { ($0.address, ResourceAttributes.decode($0.outputs)) }, uniquingKeysWith: { a, _ in a })
        try await store.setOutputs(OutputValue.resolve(definitions, attributes: attributes))
    }

    func read<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as StateError {
            throw EngineError(.state, e.message)
        }
    }
}
