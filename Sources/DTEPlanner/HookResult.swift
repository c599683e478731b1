import Foundation

/// When a reconciliation hook runs: before the plan is made, before apply touches a site, after
/// apply, and when apply failed.
public enum HookPhase: String, Sendable, Codable, CaseIterable, Hashable {
    case prePlan = "pre-plan"
    case preApply = "pre-apply"
    case postApply = "post-apply"
    case onFailure = "on-failure"
}

/// A hook's answer. `fail` of a blocking hook stops apply; of a non-blocking one it is shown as a warning.
public enum HookVerdict: String, Sendable, Codable, Hashable {
    case pass, warn, fail
}

/// One piece of evidence behind a verdict: what was checked, whether it held, and what was seen.
public struct HookEvidence: Sendable, Codable, Hashable {
    /// e.g. `QC.Lic`, `allocation vega/flood-dt core-hours`.
    public var check: String
    public var passed: Bool
    public var detail: String

    public init(check: String, passed: Bool, detail: String) {
        self.check = check
        self.passed = passed
        self.detail = detail
    }
}

/// What one hook said in one phase; plans and the apply history carry these.
public struct HookResult: Sendable, Codable, Hashable {
    /// The hook's name as configured (`quality`, `allocation`, or an external hook's name).
    public var name: String
    public var phase: HookPhase
    public var verdict: HookVerdict
    /// Whether a `fail` stops apply.
    public var blocking: Bool
    /// One line for the plan: what was found.
    public var summary: String
    public var evidence: [HookEvidence]
    /// What to do about a warn or fail (shown after the summary).
    public var remedy: String?
    /// What the hook is about (a twin's address, a project on a site), when it is about one.
    public var subject: String?

    public init(name: String, phase: HookPhase, verdict: HookVerdict, blocking: Bool, summary: String,
                evidence: [HookEvidence] = [], remedy: String? = nil, subject: String? = nil) {
        self.name = name
        self.phase = phase
        self.verdict = verdict
        self.blocking = blocking
        self.summary = summary
        self.evidence = evidence
        self.remedy = remedy
        self.subject = subject
    }

    /// A failing blocking hook: apply must not go on.
    public var blocks: Bool { blocking && verdict == .fail }
}
