import DTEModel
import DTEPlanner
import DTEState
import Foundation

/// The plan as a contract: what `dte plan --json` prints and external hooks receive. Documented in
/// docs/plan-json.md and versioned by `format_version` (a new field is a minor version; a field
/// removed or changed in meaning is a major one). It is built from the internal saved plan but is
/// not it: the saved-plan file may change with any release, this may not.
///
/// Optional fields are omitted when absent; lists are always present (possibly empty).
public struct PlanDocument: Sendable, Codable, Hashable {
    public static let formatVersion = "1.0"

    public var format_version: String
    public var created_at: Date
    public var state: StateRef
    public var source: SourceRef
    public var sites_in_scope: [String]
    /// Whether the sites were asked what became of recorded pods before planning.
    public var refreshed: Bool
    public var summary: Summary
    public var predicted_use: PredictedUse
    public var changes: [Change]
    public var drift: [DriftEntry]
    public var outputs: [Output]
    public var hooks: [Hook]
    public var diagnostics: [DiagnosticEntry]

    public struct StateRef: Sendable, Codable, Hashable {
        public var lineage: String
        public var serial: Int
    }

    public struct SourceRef: Sendable, Codable, Hashable {
        public var hash: String
        public var git_commit: String?
    }

    public struct Summary: Sendable, Codable, Hashable {
        public var create: Int
        public var update: Int
        public var replace: Int
        public var delete: Int
        public var read: Int
        public var no_op: Int
        public var has_changes: Bool
        /// True when a blocking hook failed: applying this plan is refused.
        public var blocked: Bool
        /// True when the plan has an error diagnostic (it cannot be applied).
        public var has_errors: Bool
    }

    public struct PredictedUse: Sendable, Codable, Hashable {
        public var core_hours: Double
        public var gpu_hours: Double
        /// Per site and project, sorted by site then project.
        public var by_site_project: [SiteProjectUse]
    }

    public struct SiteProjectUse: Sendable, Codable, Hashable {
        public var site: String
        public var project: String
        public var core_hours: Double
        public var gpu_hours: Double
    }

    public struct Change: Sendable, Codable, Hashable {
        public var address: String
        /// `create`, `update`, `replace`, `delete`, `no-op`, `read`.
        public var action: String
        /// A stable code: `new`, `spec-changed`, `site-changed`, `replace-requested`, `missing-at-site`,
        /// `protection-changed`, `removed-from-repository`, `destroy`, `unchanged`, `finished`, `refresh`.
        public var reason: String
        public var changed_paths: [String]
        public var site: String
        public var partition: String?
        public var protected: Bool
        public var before: Component?
        public var after: Component?
        public var placement: Placement?
        /// Values using `get_attribute`, by path: the value (JSON-quoted text) or "(known after apply)".
        public var deferred_values: [String: String]?
    }

    public struct Component: Sendable, Codable, Hashable {
        public var twin: String
        public var component: String
        public var project: String
        /// `batch` or `service`.
        public var kind: String
        public var image: String?
        public var command: [String]
        public var args: [String]
        public var env: [String: String]
        public var cpus: Int
        public var memory_bytes: Double
        public var gpus: Int
        public var gpu_model: String?
        public var walltime_seconds: Double
        public var runtime: String?
        public var after: [String]
        public var schedule: String?
        public var core_hours: Double
        public var gpu_hours: Double
    }

    public struct Placement: Sendable, Codable, Hashable {
        public var site: String
        public var partition: String
        public var qos: String?
        public var reason: String
        public var rejected: [Rejection]
    }

    public struct Rejection: Sendable, Codable, Hashable {
        public var site: String
        public var reason: String
    }

    public struct DriftEntry: Sendable, Codable, Hashable {
        public var address: String
        public var site: String
        /// `missing-at-site`, `failed`, `status-changed`.
        public var kind: String
        public var recorded: String
        public var observed: String
    }

    public struct Output: Sendable, Codable, Hashable {
        public var name: String
        public var value: String?
        public var note: String?
    }

    public struct Hook: Sendable, Codable, Hashable {
        public var name: String
        /// `pre-plan`, `pre-apply`, `post-apply`, `on-failure`.
        public var phase: String
        /// `pass`, `warn`, `fail`.
        public var verdict: String
        public var blocking: Bool
        /// `blocking` and `verdict` is `fail`: apply is refused.
        public var blocks: Bool
        public var subject: String?
        public var summary: String
        public var evidence: [Evidence]
        public var remedy: String?
    }

    public struct Evidence: Sendable, Codable, Hashable {
        public var check: String
        public var passed: Bool
        public var detail: String
    }

    public struct DiagnosticEntry: Sendable, Codable, Hashable {
        /// `error`, `warning`, `note`.
        public var severity: String
        public var code: String
        public var message: String
        public var hint: String?
        public var file: String?
        public var line: Int?
        public var column: Int?
        public var path: String?
    }

    public init(_ plan: Plan) {
        format_version = Self.formatVersion
        created_at = plan.createdAt
        state = StateRef(lineage: plan.lineage, serial: plan.serial)
        source = SourceRef(hash: plan.sourceHash, git_commit: plan.gitCommit)
        sites_in_scope = plan.sitesInScope
        refreshed = plan.refreshed
        summary = Summary(create: plan.count(.create), update: plan.count(.update), replace: plan.count(.replace),
                          delete: plan.count(.delete), read: plan.count(.read), no_op: plan.count(.noop), has_changes: plan.hasChanges,
                          blocked: plan.hooks.contains(where: \.blocks), has_errors: plan.diagnostics.hasErrors)
        var bySiteProject: [String: SiteProjectUse] = [:]
        for c in plan.changes where c.action == .create || c.action == .replace {
            guard let s = c.after else { continue }
            bySiteProject["\(c.site)\u{0}\(s.project)", default: SiteProjectUse(site: c.site, project: s.project, core_hours: 0, gpu_hours: 0)]
                .core_hours += s.coreHours
            bySiteProject["\(c.site)\u{0}\(s.project)"]?.gpu_hours += s.gpuHours
        }
        predicted_use = PredictedUse(core_hours: plan.predictedCoreHours, gpu_hours: plan.predictedGPUHours,
                                     by_site_project: bySiteProject.values.sorted { ($0.site, $0.project) < ($1.site, $1.project) })
        changes = plan.changes.map { c in
            Change(address: c.address, action: c.action.rawValue, reason: c.reason, changed_paths: c.changedPaths, site: c.site,
                   partition: c.partition, protected: c.protected, before: c.before.map(Component.init), after: c.after.map(Component.init),
                   placement: c.placement.map { p in
                       Placement(site: p.site, partition: p.partition, qos: p.qos, reason: p.reason,
                                 rejected: p.rejected.map { Rejection(site: $0.site, reason: $0.reason) })
                   },
                   deferred_values: c.deferredValues)
        }
        drift = plan.drift.map { DriftEntry(address: $0.address, site: $0.site, kind: $0.kind, recorded: $0.recorded, observed: $0.observed) }
        outputs = (plan.outputs ?? []).map { Output(name: $0.name, value: $0.value, note: $0.note) }
        hooks = plan.hooks.map(Hook.init)
        diagnostics = plan.diagnostics.map {
            DiagnosticEntry(severity: $0.severity.rawValue, code: $0.code, message: $0.message, hint: $0.hint, file: $0.file,
                            line: $0.line, column: $0.column, path: $0.path)
        }
    }

    /// Pretty-printed, keys sorted, dates ISO 8601, ending in a newline.
    public func json() -> String {
        (try? String(decoding: Self.encoder.encode(self), as: UTF8.self)).map { $0 + "\n" } ?? "{}\n"
    }

    /// The encoder of the contract (also for a hook's input, where the plan is one member).
    public static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }
}

extension PlanDocument.Component {
    init(_ s: ComponentSpec) {
        self.init(twin: s.twin, component: s.component, project: s.project, kind: s.kind, image: s.image, command: s.command, args: s.args,
                  env: s.env, cpus: s.cpus, memory_bytes: s.memory, gpus: s.gpus, gpu_model: s.gpuModel, walltime_seconds: s.walltime,
                  runtime: s.runtime, after: s.after, schedule: s.schedule, core_hours: s.coreHours, gpu_hours: s.gpuHours)
    }
}

extension PlanDocument.Hook {
    public init(_ r: HookResult) {
        self.init(name: r.name, phase: r.phase.rawValue, verdict: r.verdict.rawValue, blocking: r.blocking, blocks: r.blocks, subject: r.subject,
                  summary: r.summary, evidence: r.evidence.map { PlanDocument.Evidence(check: $0.check, passed: $0.passed, detail: $0.detail) },
                  remedy: r.remedy)
    }
}
