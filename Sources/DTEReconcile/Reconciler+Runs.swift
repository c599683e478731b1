import DTEApply
import DTECompiler
import DTEModel
import DTEPlanner
import DTEState
import Foundation

/// Schedules and data triggers in a tick: which runs are due, what is skipped, and what the
/// state records of the runs started (docs/types.md, "Schedules and triggers").
extension Reconciler {
    /// What the schedules and triggers found this tick.
    struct Runs {
        var due: [DueRun] = []
        var notes: [String] = []
        /// Trigger key → files still changing.
        var waiting: [String: Int] = [:]
        /// The cursors as they are once this tick is accepted (ticks looked at, skips counted).
        var cursors: [String: RunCursor] = [:]
    }

    /// Missed ticks further back than this are not looked at one by one (counted as skipped).
    static let lookBack: TimeInterval = 31 * 86_400
    static let maxTicksCounted = 50_000

    static func isActive(_ address: String, plan: Plan, state: StateSnapshot) -> Bool {
        let phase = plan.observed[address]?.resourcePhase ?? state.resource(address)?.phase
        return phase == .submitted || phase == .pending || phase == .running
    }

    func dueRuns(_ sources: [RunSource], cursors: [String: RunCursor], plan: Plan, state: StateSnapshot) async throws -> Runs {
        var out = Runs()
        out.cursors = cursors
        let now = clock.now
        var claimed: Set<String> = []
        func skip(_ key: String, _ n: Int, _ why: String) {
            var c = out.cursors[key] ?? RunCursor()
            c.skipped = min((c.skipped ?? 0) + n, 1_000_000_000)
            c.lastSkip = ReconcileRecord.bounded(why)
            out.cursors[key] = c
            out.notes.append(why)
        }
        for source in sources where !source.suspended {
            let addresses = source.addresses(in: plan.desired)
            guard !addresses.isEmpty else { continue }
            let active = addresses.filter { Self.isActive($0, plan: plan, state: state) }
            let key = source.key
            switch source.kind {
            case .schedule(let cron, let zone, let deadline):
                guard let since = cursors[key]?.evaluatedUntil, since < now else {
                    // first seen: ticks from now on (the apply that creates the targets is their first run)
                    if cursors[key]?.evaluatedUntil == nil { out.cursors[key]?.evaluatedUntil = now }
                    continue
                }
                let from = max(since, now.addingTimeInterval(-Self.lookBack))
                let (ticks, more) = cron.ticks(after: from, until: now, in: zone, limit: Self.maxTicksCounted)
                out.cursors[key]?.evaluatedUntil = now
                guard let tick = ticks.last else { continue }
                let missed = ticks.count - 1
                if missed > 0 || more || from > since {
                    skip(key, missed, "\(key): \(missed)\(more || from > since ? " or more" : "") missed tick\(missed == 1 ? "" : "s") before \(Self.time(tick)) skipped (only the latest runs)")
                }
                if let deadline, now.timeIntervalSince(tick) > deadline {
                    skip(key, 1, "\(key): tick \(Self.time(tick)) skipped: missed by more than starting_deadline (\(DesiredState.duration(deadline)))")
                    continue
                }
                if !active.isEmpty && source.concurrency == .forbid {
                    skip(key, 1, "\(key): tick \(Self.time(tick)) skipped: \(active.joined(separator: ", ")) still running (concurrency Forbid)")
                    continue
                }
                claimed.formUnion(addresses)
                out.due.append(DueRun(source: source, addresses: addresses, tick: tick))
            case .trigger(let watcher):
                let seen = try await memory.seen(key) { try await store.seenItems(trigger: key) }
                if cursors[key]?.baselined != true {
                    do {
                        let existing = try watcher.existing(limit: FilesystemWatcher.defaultMaxEntries)
                        try await store.markSeen(trigger: key, items: existing, at: now)
                        memory.add(key, existing)
                        out.cursors[key]?.baselined = true
                        try await store.setLoopCursor(key, (out.cursors[key] ?? RunCursor()).encoded())
                        if !existing.isEmpty { out.notes.append("\(key): \(existing.count) file\(existing.count == 1 ? "" : "s") already in \(watcher.location) recorded as seen (only new ones start runs)") }
                    } catch {
                        out.notes.append("\(key): \(error)")
                    }
                    continue
                }
                let listing: DatasetListing
                do {
                    listing = try watcher.list(since: cursors[key]?.watcherCursor, seen: seen, now: now, limit: 1)
                } catch {
                    out.notes.append("\(key): \(error)")
                    continue
                }
                out.cursors[key]?.watcherCursor = listing.cursor
                out.waiting[key] = listing.waiting.count
                if listing.ignoredCount > 0 {
                    out.notes.append("\(key): \(listing.ignoredCount) entr\(listing.ignoredCount == 1 ? "y" : "ies") of \(watcher.location) ignored (\(listing.ignored.prefix(3).joined(separator: "; ")))")
                }
                if listing.truncated { out.notes.append("\(key): \(watcher.location) has more than \(listing.scanned) entries; only as many are looked at per tick") }
                guard let item = listing.ready.first else { continue }
                if !active.isEmpty && source.concurrency == .forbid {
                    out.notes.append("\(key): \(item.location) waits: \(active.joined(separator: ", ")) still running (concurrency Forbid)")
                    continue
                }
                if !claimed.isDisjoint(with: addresses) {
                    out.notes.append("\(key): \(item.location) waits for the next tick (its components run for another schedule or trigger now)")
                    continue
                }
                claimed.formUnion(addresses)
                out.due.append(DueRun(source: source, addresses: addresses, item: item))
            }
        }
        return out
    }

    /// Keeps the pods of the runs a new run does not replace (concurrency Forbid and Allow):
    /// the current generation is recorded as a run (when it is not one yet) and the resource
    /// forgets its pod, so the apply that starts the new generation leaves the old pod alone
    /// (its log stays readable with `dte logs --run N` until `history_limit` prunes it).
    /// The records as they were before (for `reattach`).
    func detach(_ runs: [DueRun], state: StateSnapshot) async throws -> [ResourceRecord] {
        var before: [ResourceRecord] = []
        for run in runs where run.source.concurrency != .replace {
            for address in run.addresses {
                guard var r = state.resource(address), r.podUID != nil else { continue }
                let kept = try await store.runs(address: address, limit: 1000)
                if !kept.contains(where: { $0.generation == r.generation }) {
                    try await store.appendRun(LoopRun(origin: "apply", address: address, generation: r.generation, site: r.site, podUID: r.podUID,
                                                      jobID: r.jobID, startedAt: clock.now))
                }
                before.append(r)
                r.podUID = nil
                try await store.commit(r)
            }
        }
        return before
    }

    /// Undoes `detach` when nothing is applied after all (a blocking hook, a refused plan).
    func reattach(_ records: [ResourceRecord]) async throws {
        for r in records {
            if try await store.resource(address: r.address)?.generation == r.generation { try await store.commit(r) }
        }
    }

    /// Sets `DTE_TRIGGER_FILE` in the environment of `components`.
    static func inject(_ path: String, into model: inout CompiledModel, components: Set<String>) {
        for i in model.nodes.indices where components.contains(model.nodes[i].name) {
            var env: [Value.MapEntry] = []
            if case .map(let entries)? = model.nodes[i].property("env") { env = entries }
            env.removeAll { $0.key == "DTE_TRIGGER_FILE" }
            env.append(Value.MapEntry(key: "DTE_TRIGGER_FILE", value: .string(path)))
            model.nodes[i].properties.removeAll { $0.key == "env" }
            model.nodes[i].properties.append(Value.MapEntry(key: "env", value: .map(env)))
        }
    }

    /// Records the runs the apply started (each component's new generation, with its tick or
    /// file), marks their files seen, prunes generations past `history_limit` (their pods too)
    /// and puts back the cursor of a run the apply could not start (it is tried again).
    func record(_ runs: [DueRun], results: [ApplyResult], original: [String: RunCursor], cursors: inout [String: RunCursor],
                sites: SiteConnections) async throws -> [String] {
        var notes: [String] = []
        let outcome = Dictionary(results.map { ($0.address, $0.outcome) }, uniquingKeysWith: { a, _ in a })
        let now = clock.now
        for run in runs {
            let key = run.source.key
            let started = run.addresses.filter { outcome[$0] == .replaced || outcome[$0] == .created }
            guard started.count == run.addresses.count else {
                cursors[key] = original[key]
                notes.append("\(key): the run could not start (\(run.addresses.filter { !started.contains($0) }.joined(separator: ", "))); tried again next tick")
                continue
            }
            var generations: [String] = []
            for address in run.addresses {
                guard let r = try await store.resource(address: address) else { continue }
                try await store.appendRun(LoopRun(origin: key, address: address, generation: r.generation, site: r.site, podUID: r.podUID, jobID: r.jobID,
                                                  tick: run.tick, item: run.item?.location, startedAt: now))
                generations.append("\(address) run \(r.generation) (job \(r.jobID ?? "-"))")
                for old in try await store.pruneRuns(address: address, keep: run.source.historyLimit) {
                    guard let uid = old.podUID, uid != r.podUID, let provider = sites.provider(old.site),
                          case .component(let twin, let component)? = ResourceAddress(address) else { continue }
                    try? await provider.delete(PodRef(name: component, namespace: twin, uid: uid))
                }
            }
            if let item = run.item {
                try await store.markSeen(trigger: key, items: [item.id], at: now)
                memory.add(key, [item.id])
                cursors[key]?.lastItem = item.location
            }
            cursors[key]?.lastTick = run.tick
            cursors[key]?.lastRunAt = now
            let why = run.tick.map { "tick \(Self.time($0))" } ?? run.item.map { "file \($0.location)" } ?? ""
            notes.append("\(key) (\(why)) started \(generations.joined(separator: ", "))")
        }
        return notes
    }

    func runStatuses(_ sources: [RunSource], cursors: [String: RunCursor], waiting: [String: Int], state: StateSnapshot) async throws -> [RunSourceStatus] {
        var out: [RunSourceStatus] = []
        let now = clock.now
        for s in sources {
            let c = cursors[s.key] ?? RunCursor()
            let targets = s.members.sorted()
            var generations: [String: Int] = [:]
            for r in state.resources {
                guard case .component(let twin, let component)? = ResourceAddress(r.address), s.members.contains(component) || s.members.contains(twin) else { continue }
                generations[r.address] = r.generation
            }
            var status = RunSourceStatus(kind: "schedule", name: s.name, spec: "", concurrency: s.concurrency.rawValue, targets: targets, next: [],
                                         lastRunAt: c.lastRunAt, lastTick: c.lastTick, lastItem: c.lastItem, generations: generations,
                                         skipped: c.skipped ?? 0, lastSkip: c.lastSkip, suspended: s.suspended)
            switch s.kind {
            case .schedule(let cron, let zone, _):
                status.spec = "\"\(cron.expression)\" (\(s.zoneName))"
                var t = now
                while status.next.count < 3, !s.suspended, let n = cron.next(after: t, in: zone) {
                    status.next.append(n)
                    t = n
                }
            case .trigger(let w):
                status.kind = "trigger"
                if let f = w as? FilesystemWatcher { status.spec = f.folder + "/" + f.pattern } else { status.spec = w.location }
                status.waiting = waiting[s.key]
                status.seen = try await memory.seen(s.key) { try await store.seenItems(trigger: s.key) }.count
            }
            out.append(status)
        }
        return out
    }

    static func time(_ d: Date) -> String { ISO8601DateFormatter().string(from: d) }
}
