import DTEPlanner
import DTEState
import Foundation

/// A resource changed outside DTE: what refresh observed differs from what the state recorded
/// and no plan caused it. A job that ended by its own exit code, time limit or memory is the
/// job's outcome, not drift; a job cancelled, preempted, lost with its node, or a pod the site no
/// longer knows while it should still be there, is drift.
public struct DriftFinding: Sendable, Codable, Hashable {
    public var address: String
    public var site: String
    /// `cancelled`, `ended-at-site` (preempted, node failure, lost), `held` (the scheduler holds
    /// it: held by an administrator or a user outside DTE), `changed` (its time limit, partition
    /// or QoS changed at the site: `scontrol update`), `missing-at-site`.
    public var kind: String
    /// In the site's own words: its reason, the job and exit code it reported.
    public var message: String

    /// Reasons a site gives for a job ended from outside it (the agent's pod status reasons).
    public static let externalReasons: Set<String> = ["Cancelled", "Preempted", "NodeFail", "BootFail", "JobLost"]

    /// The drift of `plan` (refreshed) against `state`.
    public static func find(in plan: Plan, state: StateSnapshot) -> [DriftFinding] {
        var out: [DriftFinding] = []
        for d in plan.drift {
            let recorded = state.resource(d.address)
            switch d.kind {
            case "missing-at-site":
                if recorded?.phase == .failed { continue }
                out.append(DriftFinding(address: d.address, site: d.site, kind: "missing-at-site",
                                        message: "site \(d.site) no longer knows the pod of job \(recorded?.jobID ?? "?") (recorded \(d.recorded))"))
            case "failed":
                guard let o = plan.observed[d.address], let reason = o.reason, externalReasons.contains(reason) else { continue }
                let exit = o.exitCode.map { ", exit \($0)" } ?? ""
                out.append(DriftFinding(address: d.address, site: d.site, kind: reason == "Cancelled" ? "cancelled" : "ended-at-site",
                                        message: "site \(d.site): job \(o.jobID) \(reason)\(exit) (recorded \(d.recorded))"))
            case "changed":
                let job = plan.observed[d.address]?.jobID ?? recorded?.jobID ?? "?"
                out.append(DriftFinding(address: d.address, site: d.site, kind: "changed",
                                        message: "site \(d.site): job \(job) changed at the site: \(d.observed) (recorded \(d.recorded))"))
            case "held":
                out.append(DriftFinding(address: d.address, site: d.site, kind: "held",
                                        message: "site \(d.site): \(d.observed) (recorded \(d.recorded))"))
            default:
                continue
            }
        }
        return out.sorted { $0.address < $1.address }
    }
}
