import DTEApply
import DTEPlanner
import Foundation

/// What probing one site found, as the monitoring hook records it.
public struct SiteHealthCheck: Sendable, Hashable {
    /// `OK`, `WARNING`, `CRITICAL` or `UNKNOWN` (Nagios' words).
    public var state: String
    /// `CRITICAL - agent unreachable: …`: the state and what was found.
    public var summary: String
    /// The probe's whole status line, with perfdata.
    public var statusLine: String

    public init(state: String, summary: String, statusLine: String) {
        self.state = state
        self.summary = summary
        self.statusLine = statusLine
    }
}

/// Probes one site (`dte check site`'s probe).
public typealias SiteHealthProbe = @Sendable (_ site: String) async -> SiteHealthCheck

/// The post-apply monitoring hook (`monitoring`, post-apply and on-failure, never blocking): each
/// site the apply touched is probed and its health becomes one result, recorded in the apply
/// history (`subject` `site <name>`); `dte status` shows the sites that were not OK.
/// OK is `pass`, WARNING `warn`, CRITICAL and UNKNOWN `fail`.
public struct MonitoringHook: Hook {
    public var name = MonitoringHook.hookName
    public var phases: Set<HookPhase> = [.postApply, .onFailure]
    public var blocking = false
    public var probe: SiteHealthProbe
    public static let hookName = "monitoring"

    public init(probe: @escaping SiteHealthProbe) { self.probe = probe }

    public func run(_ input: HookInput) async -> [HookResult] {
        let touched = Set(input.plan.changes.filter { $0.action != .noop }.map(\.site))
        var out: [HookResult] = []
        for site in touched.sorted() {
            let check = await probe(site)
            let verdict: HookVerdict = check.state == "OK" ? .pass : (check.state == "WARNING" ? .warn : .fail)
            out.append(HookResult(name: name, phase: input.phase, verdict: verdict, blocking: false, summary: check.summary,
                                  evidence: [HookEvidence(check: "dte check site \(site)", passed: verdict == .pass, detail: check.statusLine)],
                                  remedy: verdict == .pass ? nil : "run dte check site \(site) to see whether it recovered; dte status shows the site until an apply finds it healthy",
                                  subject: Self.subject(site)))
        }
        return out
    }

    /// `site vega`: the subject of a site's result.
    public static func subject(_ site: String) -> String { "site \(site)" }

    /// The site a result of this hook is about, from its subject.
    public static func site(of result: HookResult) -> String? {
        guard result.name == hookName, let s = result.subject, s.hasPrefix("site ") else { return nil }
        return String(s.dropFirst(5))
    }
}

/// A site's health as the newest apply that probed it recorded.
public struct RecordedSiteHealth: Sendable, Hashable {
    public var site: String
    public var verdict: HookVerdict
    /// `CRITICAL - agent unreachable: …`
    public var summary: String
    /// When that apply finished.
    public var probedAt: Date

    /// Per site, the newest monitoring result of `history` (newest entry first: each entry's end
    /// and its hook results), sorted by site.
    public static func latest(_ history: [(finishedAt: Date, hooks: [HookResult])]) -> [RecordedSiteHealth] {
        var seen: [String: RecordedSiteHealth] = [:]
        for entry in history.sorted(by: { $0.finishedAt > $1.finishedAt }) {
            for r in entry.hooks {
                guard let site = MonitoringHook.site(of: r), seen[site] == nil else { continue }
                seen[site] = RecordedSiteHealth(site: site, verdict: r.verdict, summary: r.summary, probedAt: entry.finishedAt)
            }
        }
        return seen.values.sorted { $0.site < $1.site }
    }
}
