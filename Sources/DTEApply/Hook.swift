import DTEPlanner
import Foundation

/// What a hook is given: the plan, and in `post-apply`/`on-failure` what apply did.
public struct HookInput: Sendable {
    public var phase: HookPhase
    public var plan: Plan
    /// Set in `post-apply` and `on-failure`.
    public var results: [ApplyResult]?
    /// The repository root (for hooks that read the repository, e.g. a twin's source path).
    public var repositoryRoot: String

    public init(phase: HookPhase, plan: Plan, results: [ApplyResult]? = nil, repositoryRoot: String) {
        self.phase = phase
        self.plan = plan
        self.results = results
        self.repositoryRoot = repositoryRoot
    }
}

/// A reconciliation hook (quality gate, allocation gate, an external command, …). A hook never
/// throws: what goes wrong inside it is its own `fail` (or `warn`) result with the reason.
public protocol Hook: Sendable {
    /// The name plans and the history show.
    var name: String { get }
    /// The phases it runs in.
    var phases: Set<HookPhase> { get }
    /// Whether its `fail` stops apply.
    var blocking: Bool { get }
    /// One or more results (e.g. one per twin it checked).
    func run(_ input: HookInput) async -> [HookResult]
}

/// The hooks in the order they run. The engine asks it once per phase.
public struct HookPipeline: Sendable {
    public var hooks: [any Hook]

    public init(_ hooks: [any Hook] = []) { self.hooks = hooks }

    /// Runs every hook configured for `input.phase`, in order, and gathers their results.
    public func run(_ input: HookInput) async -> [HookResult] {
        var results: [HookResult] = []
        for hook in hooks where hook.phases.contains(input.phase) {
            results += await hook.run(input)
        }
        return results
    }

    /// The results that stop apply.
    public static func blocking(_ results: [HookResult]) -> [HookResult] { results.filter(\.blocks) }
}
