import DTEModel
import DTEState
import Foundation

/// What a plan will do to one resource.
public enum PlanAction: String, Sendable, Codable, CaseIterable {
    case create, update, replace, delete, noop = "no-op", read
}

/// Why: a stable code (for machines) and the attribute paths that caused it.
public struct ResourceChange: Sendable, Codable, Hashable {
    public var address: String
    public var action: PlanAction
    /// e.g. `new`, `spec-changed`, `replace-requested`, `removed-from-repository`, `unchanged`, `finished`.
    public var reason: String
    public var changedPaths: [String]
    public var site: String
    public var partition: String?
    public var before: ComponentSpec?
    public var after: ComponentSpec?
    public var placement: PlacementDecision?
    public var protected: Bool
    /// Values using `get_attribute`, by path: what they will be, or "(known after apply)".
    public var deferredValues: [String: String]?
}

/// A self-contained plan: what it was made against, what it wants, and the changes.
public struct Plan: Sendable, Codable {
    public static let formatVersion = "1.0"
    public var formatVersion = Plan.formatVersion
    public var createdAt: Date
    /// The state this plan was made against; applying is refused when either moved.
    public var lineage: String
    public var serial: Int
    /// SHA-256-like content hash of the repository files (provenance only).
    public var sourceHash: String
    public var gitCommit: String?
    public var sitesInScope: [String]
    public var desired: DesiredState
    public var changes: [ResourceChange]
    /// Changes made outside DTE, found by refresh (shown apart from intended changes).
    public var drift: [Drift] = []
    /// Statuses observed during refresh, by address (applied records them).
    public var observed: [String: ObservedPod] = [:]
    public var refreshed: Bool = false
    public var diagnostics: [Diagnostic]
    /// The topology outputs as far as the plan knows them (nil values are known after apply).
    public var outputs: [OutputValue]?
    /// What the `pre-plan` and `pre-apply` hooks said about this plan.
    public var hooks: [HookResult] = []

    public func count(_ a: PlanAction) -> Int {
        var n = 0
        for c in changes where c.action == a { n += 1 }
        return n
    }
    public var hasChanges: Bool { changes.contains { $0.action != .noop } }

    /// Predicted use of what the plan creates or replaces.
    public var predictedCoreHours: Double { predictedUse(\.coreHours) }
    public var predictedGPUHours: Double { predictedUse(\.gpuHours) }

    func predictedUse(_ hours: (ComponentSpec) -> Double) -> Double {
        var total = 0.0
        for c in changes where c.action == .create || c.action == .replace {
            if let spec = c.after { total += hours(spec) }
        }
        return total
    }
}

/// What a site reported about a recorded pod during refresh.
public struct ObservedPod: Sendable, Codable, Hashable {
    /// pending, running, succeeded, failed, unknown
    public var phase: String
    public var jobID: String
    public var exitCode: Int?
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Why it ended when not plainly (e.g. `OOMKilled`, `DeadlineExceeded`, `Cancelled`), or
    /// `Held` for a job the scheduler holds.
    public var reason: String?
    /// The site's own words about it (the scheduler's reason for a held job).
    public var message: String?
    /// The job's scheduler parameters now, and as the site's agent submitted them (nil when
    /// the site does not say).
    public var job: SiteJobParameters?
    public var submitted: SiteJobParameters?

    /// The reported phase, typed (`unknown` for one DTE does not know).
    public var resourcePhase: ResourcePhase { ResourcePhase(rawValue: phase) ?? .unknown }

    public init(phase: String, jobID: String, exitCode: Int?, startedAt: Date? = nil, finishedAt: Date? = nil,
                reason: String? = nil, message: String? = nil, job: SiteJobParameters? = nil, submitted: SiteJobParameters? = nil) {
        self.phase = phase
        self.jobID = jobID
        self.exitCode = exitCode
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.reason = reason
        self.message = message
        self.job = job
        self.submitted = submitted
    }

    /// The scheduler holds the job: it will not start until someone releases it.
    public var isHeld: Bool { resourcePhase == .pending && reason == ObservedPod.heldReason }

    /// The reason a site gives for a job its scheduler holds.
    public static let heldReason = "Held"
}

/// A batch job's scheduler parameters as a site reports them: time limit in minutes (0: none),
/// partition, QoS. nil: not known.
public struct SiteJobParameters: Sendable, Codable, Hashable {
    public var timeLimitMinutes: Int?
    public var partition: String?
    public var qos: String?

    public init(timeLimitMinutes: Int?, partition: String?, qos: String?) {
        self.timeLimitMinutes = timeLimitMinutes
        self.partition = partition
        self.qos = qos
    }

    /// What DTE asked of the site for a recorded resource: the walltime of its recorded spec,
    /// and the partition and QoS apply recorded.
    public static func asked(_ r: ResourceRecord) -> SiteJobParameters {
        let attributes = ResourceAttributes.decode(r.outputs)
        let spec = try? JSONDecoder().decode(ComponentSpec.self, from: Data(r.spec.utf8))
        return SiteJobParameters(timeLimitMinutes: spec?.timeLimitMinutes, partition: attributes["partition"], qos: attributes["qos"])
    }

    /// How `now` differs from `self`, in words (`time limit 5 min → 20 min`); only what both
    /// know is compared. Empty when nothing changed.
    public func changes(to now: SiteJobParameters) -> [String] {
        var out: [String] = []
        if let a = timeLimitMinutes, let b = now.timeLimitMinutes, a != b {
            out.append("time limit \(Self.minutes(a)) → \(Self.minutes(b))")
        }
        if let a = partition, let b = now.partition, a != b { out.append("partition \(a) → \(b)") }
        if let a = qos, let b = now.qos, a != b { out.append("qos \(a) → \(b)") }
        return out
    }

    static func minutes(_ m: Int) -> String { m == 0 ? "none" : "\(m) min" }
}

/// A difference between what the state recorded and what the site reports.
public struct Drift: Sendable, Codable, Hashable {
    public var address: String
    public var site: String
    /// `missing-at-site`, `failed`, `held`, `changed` (the job's time limit, partition or QoS
    /// differ from what was submitted; `observed` says how), `status-changed`
    public var kind: String
    public var recorded: String
    public var observed: String
}

/// Options of a plan run.
public struct PlanOptions: Sendable {
    public var sites: Set<String> = []
    public var targets: Set<String> = []
    public var replace: Set<String> = []
    public var destroy = false
    /// Only record what the sites report; change nothing.
    public var refreshOnly = false
    public init() {}
}

/// Diffs the desired state against the recorded state. Pure: no I/O.
public enum Planner {
    /// How a plan shows a value that only apply can tell.
    public static let knownAfterApply = "(known after apply)"

    public static func plan(desired: DesiredState, state: StateSnapshot, options: PlanOptions, sourceHash: String, gitCommit: String?,
                            observed: [String: ObservedPod]? = nil) -> Plan {
        var changes: [ResourceChange] = []
        var drift: [Drift] = []
        var missing: Set<String> = []
        if let observed {
            for r in state.resources where options.sites.isEmpty || options.sites.contains(r.site) {
                let recorded = r.status.map { ResourcePhase(rawValue: $0) ?? .unknown } ?? .submitted
                guard let o = observed[r.address] else {
                    // a finished batch job the site has forgotten is not drift
                    if recorded != .succeeded {
                        drift.append(Drift(address: r.address, site: r.site, kind: "missing-at-site", recorded: recorded.rawValue, observed: "absent"))
                        missing.insert(r.address)
                    }
                    continue
                }
                let now = o.resourcePhase
                if o.isHeld {
                    drift.append(Drift(address: r.address, site: r.site, kind: "held", recorded: recorded.rawValue,
                                       observed: o.message ?? "held"))
                    continue
                }
                // changed at the site (`scontrol update`): against what the agent submitted, else
                // what DTE asked (an agent that does not say may have adjusted it itself)
                if let job = o.job, now == .pending || now == .running {
                    let changed = (o.submitted ?? SiteJobParameters.asked(r)).changes(to: job)
                    if !changed.isEmpty {
                        drift.append(Drift(address: r.address, site: r.site, kind: "changed", recorded: recorded.rawValue,
                                           observed: changed.joined(separator: ", ")))
                        continue
                    }
                }
                // a submitted job that the site runs, queues or finished is what apply asked for
                if now != recorded && !(recorded == .submitted && [.pending, .running, .succeeded].contains(now)) {
                    drift.append(Drift(address: r.address, site: r.site, kind: now == .failed ? "failed" : "status-changed",
                                       recorded: recorded.rawValue, observed: o.phase + (o.exitCode.map { " (exit \($0))" } ?? "")))
                }
            }
        }
        var diags: [Diagnostic] = []
        let inScope = { (site: String) in options.sites.isEmpty || options.sites.contains(site) }
        let targeted = { (address: String) in options.targets.isEmpty || options.targets.contains(address) }
        let recorded = Dictionary(state.resources.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        let wanted = options.destroy ? [] : desired.resources
        let missingAtSite = missing
        // each desired resource's change depends on it and its record only: built over all cores
        changes = wanted.parallelCompactMap { d -> ResourceChange? in
            guard options.sites.isEmpty || options.sites.contains(d.placement.site) else { return nil }
            let address = d.address  // built once per resource
            guard options.targets.isEmpty || options.targets.contains(address) else { return nil }
            return change(d, address: address, recorded: recorded[address], options: options, missing: missingAtSite.contains(address))
        }
        var seen: Set<String> = []
        seen.reserveCapacity(changes.count)
        for i in changes.indices {
            seen.insert(changes[i].address)
            // a protected resource (now or as recorded) is never replaced
            guard changes[i].action == .replace, changes[i].protected || recorded[changes[i].address]?.protected == true else { continue }
            diags.append(Diagnostic(.error, code: "protected-resource",
                                    "\(changes[i].address) is protected (dte.policies.Protection) and would be replaced (\(changes[i].reason))",
                                    hint: "remove the protection policy first, or undo the change"))
        }
        for r in state.resources where !seen.contains(r.address) && inScope(r.site) && targeted(r.address) {
            if r.protected {
                diags.append(Diagnostic(.error, code: "protected-resource",
                                        "\(r.address) is protected (dte.policies.Protection) and would be deleted",
                                        hint: "remove the protection policy first, or put the component back"))
            }
            changes.append(ResourceChange(address: r.address, action: .delete, reason: options.destroy ? "destroy" : "removed-from-repository",
                                          changedPaths: [], site: r.site, partition: nil,
                                          before: try? JSONDecoder().decode(ComponentSpec.self, from: Data(r.spec.utf8)), after: nil,
                                          placement: nil, protected: r.protected))
        }
        let sites = options.sites.isEmpty ? desired.sites.map(\.name) : desired.sites.map(\.name).filter { options.sites.contains($0) }
        if options.refreshOnly {
            // record what the sites report, nothing else
            changes = state.resources.filter { r in observed?[r.address].map { $0.resourcePhase != r.phase } ?? false }.map { r in
                ResourceChange(address: r.address, action: .read, reason: "refresh", changedPaths: ["status"], site: r.site, partition: nil,
                               before: nil, after: nil, placement: nil, protected: r.protected)
            }
            diags = []
        }
        // what get_attribute will give: recorded attributes, updated by what refresh observed
        var attributes = Dictionary(state.resources.map { ($0.address, ResourceAttributes.decode($0.outputs)) }, uniquingKeysWith: { a, _ in a })
        for (address, o) in observed ?? [:] { attributes[address] = ResourceAttributes.merging(attributes[address] ?? [:], o) }
        // by index: filtering or binding a change copies it whole (every field retained)
        var pending: Set<String> = []
        for i in changes.indices where changes[i].action == .create || changes[i].action == .replace { pending.insert(changes[i].address) }
        for i in changes.indices {
            guard let deferred = changes[i].after?.deferred else { continue }
            changes[i].deferredValues = deferred.mapValues { e in
                guard !e.references.contains(where: pending.contains), let v = try? e.resolve({ attributes[$0]?[$1] }) else {
                    return knownAfterApply
                }
                return "\"\(v)\""
            }
        }
        var plan = Plan(createdAt: Date(), lineage: state.lineage, serial: state.serial, sourceHash: sourceHash, gitCommit: gitCommit,
                        sitesInScope: sites, desired: desired, changes: sortedByAddress(changes), diagnostics: diags)
        if let outputs = desired.outputs, !options.destroy, !options.refreshOnly {
            plan.outputs = OutputValue.resolve(outputs, attributes: attributes, pending: pending)
        }
        plan.drift = drift.sorted { $0.address < $1.address }
        plan.observed = observed ?? [:]
        plan.refreshed = observed != nil
        return plan
    }

    /// What becomes of one desired resource given its record (nil: not applied yet).
    static func change(_ d: DesiredResource, address: String, recorded r: ResourceRecord?, options: PlanOptions,
                       missing: Bool) -> ResourceChange {
        var c = ResourceChange(address: address, action: .create, reason: "new", changedPaths: [], site: d.placement.site,
                               partition: d.placement.partition, before: nil, after: d.spec, placement: d.placement, protected: d.protected)
        guard let r else { return c }
        let before = try? JSONDecoder().decode(ComponentSpec.self, from: Data(r.spec.utf8))
        c.before = before
        if options.replace.contains(address) {
            c.action = .replace
            c.reason = "replace-requested"
        } else if r.site != d.placement.site {
            c.action = .replace
            c.reason = "site-changed"
            c.changedPaths = ["site"]
        } else if r.specHash != d.spec.hash {
            c.action = .replace
            c.reason = "spec-changed"
            c.changedPaths = before.map { diffPaths($0, d.spec) } ?? ["spec"]
        } else if missing {
            c.action = .create
            c.reason = "missing-at-site"
        } else if r.protected != d.protected {
            c.action = .update
            c.reason = "protection-changed"
            c.changedPaths = ["protected"]
        } else {
            c.action = .noop
            c.reason = r.phase == .succeeded ? "finished" : "unchanged"
        }
        return c
    }

    /// The changes in address order; the desired ones come sorted already, so this is mostly a
    /// check. Sorted by index: a comparison does not move whole changes.
    static func sortedByAddress(_ changes: [ResourceChange]) -> [ResourceChange] {
        if changes.indices.dropFirst().allSatisfy({ changes[$0 - 1].address <= changes[$0].address }) { return changes }
        return changes.indices.sorted { changes[$0].address < changes[$1].address }.map { changes[$0] }
    }

    /// The attribute paths that differ between two specs.
    static func diffPaths(_ a: ComponentSpec, _ b: ComponentSpec) -> [String] {
        var out: [String] = []
        if a.image != b.image { out.append("image") }
        if a.command != b.command { out.append("command") }
        if a.args != b.args { out.append("args") }
        for k in Set(a.env.keys).union(b.env.keys).sorted() where a.env[k] != b.env[k] { out.append("env.\(k)") }
        if a.cpus != b.cpus { out.append("cpus") }
        if a.memory != b.memory { out.append("memory") }
        if a.gpus != b.gpus { out.append("gpus") }
        if a.gpuModel != b.gpuModel { out.append("gpu_model") }
        if a.walltime != b.walltime { out.append("walltime") }
        if a.runtime != b.runtime { out.append("runtime") }
        if a.after != b.after { out.append("after") }
        if a.schedule != b.schedule { out.append("schedule") }
        if a.project != b.project { out.append("project") }
        return out
    }
}
