import DTEApply
import DTEPlanner
import DTEState
import Foundation

/// What a twin's `dte.policies.Quality` asks of its source.
public struct QualityRequirement: Sendable, Hashable {
    public var twin: String
    /// The twin's `source` property: a git URL or a folder of the DTE repository.
    public var source: String
    /// `bronze`, `silver` or `gold`.
    public var level: String
    /// Whether falling short stops apply (the policy's `enforce`).
    public var blocking: Bool
    /// Criteria that must be met whatever the level (the policy's `criteria`, e.g. `QC.Sec`).
    public var criteria: [String]

    public init(twin: String, source: String, level: String, blocking: Bool, criteria: [String] = []) {
        self.twin = twin
        self.source = source
        self.level = level
        self.blocking = blocking
        self.criteria = criteria
    }
}

/// The quality gate: before planning and before apply, assesses each twin's source and fails a
/// twin whose source is below the level its policy asks (criterion by criterion, with what was
/// seen and what to do). Assessments are cached per source and commit, so pre-apply reuses what
/// pre-plan measured.
public struct QualityHook: Hook {
    public let name = "quality"
    public let phases: Set<HookPhase> = [.prePlan, .preApply]
    public let requirements: [QualityRequirement]
    public var blocking: Bool { requirements.contains(where: \.blocking) }
    let assessor: QualityAssessor

    public init(requirements: [QualityRequirement], repositoryRoot: String, settings: QualitySettings) {
        self.requirements = requirements
        assessor = QualityAssessor(repositoryRoot: repositoryRoot, settings: settings)
    }

    /// How many assessments were made (the rest came from the cache).
    public var assessmentsMade: Int { get async { await assessor.assessmentsMade } }

    /// Checks the twins the plan deploys (creates, replaces or updates a component of): a twin the
    /// plan leaves alone (out of `--site`/`--target` scope, or unchanged) is not held up by its source.
    public func run(_ input: HookInput) async -> [HookResult] {
        var deployed: Set<String> = []
        for change in input.plan.changes where [.create, .replace, .update].contains(change.action) {
            if let twin = ResourceAddress(change.address)?.twin { deployed.insert(twin) }
        }
        var results: [HookResult] = []
        for r in requirements where deployed.contains(r.twin) {
            results.append(await check(r, phase: input.phase))
        }
        return results
    }

    func check(_ r: QualityRequirement, phase: HookPhase) async -> HookResult {
        let subject = "twin.\(r.twin)"
        func failure(_ summary: String, _ remedy: String) -> HookResult {
            HookResult(name: name, phase: phase, verdict: .fail, blocking: r.blocking, summary: summary, remedy: remedy, subject: subject)
        }
        guard let level = BadgeLevel(rawValue: r.level.lowercased()) else {
            return failure("\(r.twin): quality level \"\(r.level)\" is not one of bronze, silver, gold", "Set the policy's level to bronze, silver or gold.")
        }
        var extra: [QualityCriterion] = []
        for c in r.criteria {
            guard let q = QualityCriterion(rawValue: c) else {
                return failure("\(r.twin): criterion \(c) is not one DTE checks (\(QualityCriterion.allCases.map(\.rawValue).joined(separator: ", ")))",
                               "Remove \(c) from the policy's criteria or use one of those listed.")
            }
            if !level.required.contains(q) && !extra.contains(q) { extra.append(q) }
        }
        let report: QualityReport
        do {
            report = try await assessor.assess(r.source)
        } catch {
            return failure("\(r.twin): the source \(r.source) could not be assessed: \(error.message)",
                           "Fix the twin's source property (a git URL with https, ssh, git or file, or a folder of this repository) or make it reachable.")
        }
        let needed = level.required + extra
        let evidence = needed.map { c in
            HookEvidence(check: c.rawValue, passed: report.isValid(c), detail: report.findings(c).joined(separator: "; "))
        }
        let missing = needed.filter { !report.isValid($0) }
        let reached = report.badgeStatus?.rawValue ?? "no badge"
        let commit = report.repository.first?.commit.map { " at \($0.prefix(12))" } ?? ""
        guard !missing.isEmpty else {
            return HookResult(name: name, phase: phase, verdict: .pass, blocking: r.blocking,
                              summary: "\(r.twin): \(level.rawValue) required, \(reached) reached (\(r.source)\(commit))",
                              evidence: evidence, subject: subject)
        }
        let remedy = missing.map { c in
            "\(c.rawValue): " + (report.hints(c).first ?? "meet \(c.title)")
        }.joined(separator: "\n")
        return HookResult(name: name, phase: phase, verdict: .fail, blocking: r.blocking,
                          summary: "\(r.twin): \(level.rawValue) required, \(reached) reached (\(r.source)\(commit)); missing \(missing.map(\.rawValue).joined(separator: ", "))",
                          evidence: evidence, remedy: remedy, subject: subject)
    }
}
