import DTEApply
import DTECompiler
import DTEModel
import DTEPlanner
import Foundation

/// What a `dte.policies.Quality` asks of one twin: the quality hook's input. (The hook itself is
/// built elsewhere, from these, by the factory given to `HookConfiguration.pipeline`.)
public struct QualityDemand: Sendable, Hashable {
    public var twin: String
    /// The twin's `source` property: a git URL, or a path relative to the repository root.
    public var source: String
    /// `bronze`, `silver` or `gold`.
    public var level: String
    /// The policy's `enforce` (or dte.yaml's `hooks.quality.blocking`): apply is refused below the level.
    public var blocking: Bool
    /// The policy that asks it.
    public var policy: String

    public init(twin: String, source: String, level: String, blocking: Bool, policy: String) {
        self.twin = twin
        self.source = source
        self.level = level
        self.blocking = blocking
        self.policy = policy
    }
}

/// Builds the hook pipeline of a repository from its policies and dte.yaml's `hooks:` section:
/// the one place that decides which hooks run, in which phases, and whether they block.
///
/// - `dte.policies.Quality` turns on the quality hook (pre-plan and pre-apply), `dte.policies.Allocation`
///   the allocation hook (pre-apply); dte.yaml can turn either on without a policy, change its phases
///   or `blocking`, or turn it off (`enabled: false`, then the policies are reported as not enforced).
/// - Every other `hooks:` entry is an external command (`ExternalHook`), run in the order written.
public enum HookConfiguration {
    public typealias QualityFactory = @Sendable ([QualityDemand]) -> any Hook
    public static let qualityPolicy = "dte.policies.Quality"
    public static let allocationPolicy = "dte.policies.Allocation"
    /// The phases a built-in hook runs in unless dte.yaml says otherwise.
    public static let defaultPhases: [String: Set<HookPhase>] = ["quality": [.prePlan, .preApply], "allocation": [.preApply]]

    /// - Parameters:
    ///   - quality: builds the quality hook from what the policies ask (nil: this build has none, and
    ///     every quality policy is a `not-enforced` warning).
    ///   - held: what the state holds by `site/project` (`DesiredState.allocationUse(of: snapshot.resources)`),
    ///     so the allocation gate sees resources outside a plan's scope; nil: taken from the plan.
    ///   - accounting: reads a site's usage for the allocation gate (nil: predicted use only).
    /// - Returns: the pipeline, and warnings about what it cannot enforce.
    public static func pipeline(model: CompiledModel, config: RepositoryConfig?, root: String,
                                quality: QualityFactory? = nil, held: [String: AllocationUse]? = nil,
                                accounting: AccountingReader? = nil) -> (HookPipeline, [Diagnostic]) {
        var hooks: [any Hook] = []
        var diags: [Diagnostic] = []
        let settings = config?.hooks ?? []
        let setting = { (name: String) in settings.first { $0.name == name } }
        func phases(_ s: RepositoryConfig.HookSetting?, default d: Set<HookPhase>) -> Set<HookPhase> {
            guard let names = s?.phases else { return d }
            return Set(names.compactMap(HookPhase.init(rawValue:)))
        }
        func notEnforced(_ p: ResolvedMember, _ why: String, hint: String) {
            diags.append(Diagnostic(.warning, code: NotEnforced.code, "policy \"\(p.name)\" (\(p.type)) is not enforced: \(why)", hint: hint,
                                    file: p.file, mark: p.mark, path: p.path))
        }
        let twins = Dictionary(model.nodes.filter { $0.isA(DTEChecks.twinType) }.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })

        // quality
        let qualityPolicies = model.policies.filter { $0.isA(qualityPolicy) }
        let q = setting("quality")
        if q?.enabled == false {
            for p in qualityPolicies {
                notEnforced(p, "hooks.quality is disabled in \(q?.file ?? RepositoryConfig.fileName)", hint: "remove enabled: false from hooks.quality to enforce it")
            }
        } else if !qualityPolicies.isEmpty || q != nil {
            var demands: [QualityDemand] = []
            for p in qualityPolicies {
                let level = p.property("level")?.stringValue ?? "bronze"
                let enforce = p.property("enforce") != .boolean(false)
                for m in p.members {
                    guard let twin = twins[m] else { continue }
                    guard let source = twin.property("source")?.stringValue, !source.isEmpty else {
                        notEnforced(p, "twin \(m) has no source property to assess", hint: "set the twin's source (a git URL or a repository path)")
                        continue
                    }
                    demands.append(QualityDemand(twin: m, source: source, level: level, blocking: q?.blocking ?? enforce, policy: p.name))
                }
            }
            if let quality {
                let hook = quality(demands)
                hooks.append(Configured(hook, phases: phases(q, default: defaultPhases["quality"] ?? [.preApply]), blocking: q?.blocking))
            } else {
                for p in qualityPolicies {
                    notEnforced(p, "this build of dte has no quality hook", hint: "use a dte built with the quality assessment (DTEQuality)")
                }
                if let q, qualityPolicies.isEmpty {
                    diags.append(Diagnostic(.warning, code: NotEnforced.code, "hooks.quality is enabled but this build of dte has no quality hook",
                                            file: q.file, mark: q.mark, path: "hooks.quality"))
                }
            }
        }

        // allocation
        let allocationPolicies = model.policies.filter { $0.isA(allocationPolicy) }
        let a = setting("allocation")
        if a?.enabled == false {
            for p in allocationPolicies {
                notEnforced(p, "hooks.allocation is disabled in \(a?.file ?? RepositoryConfig.fileName)", hint: "remove enabled: false from hooks.allocation to enforce it")
            }
        } else if !allocationPolicies.isEmpty || a != nil {
            let caps = allocationPolicies.map { p in
                AllocationHook.Cap(policy: p.name, members: p.members, coreHours: number(p.property("core_hours")),
                                   gpuHours: number(p.property("gpu_hours")),
                                   warnAt: min(100, max(1, p.property("warn_at")?.intValue ?? AllocationHook.defaultWarnAt)),
                                   enforce: p.property("enforce") != .boolean(false))
            }
            hooks.append(AllocationHook(caps: caps, phases: phases(a, default: defaultPhases["allocation"] ?? [.preApply]), blocking: a?.blocking, held: held,
                                        accounting: accounting))
        }

        // external commands, in the order written
        for s in settings where !s.isBuiltIn && s.enabled {
            guard let command = s.command else { continue }
            hooks.append(ExternalHook(name: s.name, command: command, phases: phases(s, default: [.preApply]), blocking: s.blocking ?? true,
                                      timeout: s.timeout ?? RepositoryConfig.HookSetting.defaultTimeout))
        }
        return (HookPipeline(hooks), diags)
    }

    static func number(_ v: Value?) -> Double? {
        switch v {
        case .integer(let i)?: return Double(i)
        case .float(let d)?: return d
        default: return nil
        }
    }

    /// A built-in hook with the phases (and `blocking`) dte.yaml gives it.
    struct Configured: Hook {
        var inner: any Hook
        var phases: Set<HookPhase>
        var blockingOverride: Bool?
        init(_ inner: any Hook, phases: Set<HookPhase>, blocking: Bool?) {
            self.inner = inner
            self.phases = phases
            self.blockingOverride = blocking
        }
        var name: String { inner.name }
        var blocking: Bool { blockingOverride ?? inner.blocking }
        func run(_ input: HookInput) async -> [HookResult] {
            var results = await inner.run(input)
            if let b = blockingOverride { for i in results.indices { results[i].blocking = b } }
            return results
        }
    }
}
