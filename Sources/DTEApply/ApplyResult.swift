import DTEPlanner
import Foundation

/// What happened to one resource during apply.
public struct ApplyResult: Sendable, Hashable {
    public enum Outcome: String, Sendable { case created, replaced, deleted, updated, unchanged, failed, skipped }
    public var address: String
    public var outcome: Outcome
    public var jobID: String?
    public var message: String?

    public init(address: String, outcome: Outcome, jobID: String? = nil, message: String? = nil) {
        self.address = address
        self.outcome = outcome
        self.jobID = jobID
        self.message = message
    }
}

/// Progress of an apply, for the view (the engine's event sink receives these).
public enum ApplyEvent: Sendable {
    case started(address: String, action: PlanAction)
    /// `address` waits for `dependency` on another site to finish; sent again only when what
    /// that site reports changes (`status`, e.g. "job 123 running").
    case waiting(address: String, dependency: String, site: String, status: String)
    /// A site did not answer (`reason`); the call is made again after `delay` seconds
    /// (`attempt` of `attempts`).
    case retrying(address: String, attempt: Int, attempts: Int, delay: TimeInterval, reason: String)
    case finished(ApplyResult)
    /// What a hook said (every phase that ran one).
    case hook(HookResult)
}
