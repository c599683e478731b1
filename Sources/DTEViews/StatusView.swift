import Foundation

/// What `dte status` prints besides its resource rows.
public enum StatusView {
    /// `site vega: CRITICAL - agent unreachable: … (probed after apply at 2026-12-01T17:02:11Z)`,
    /// one line per site whose newest post-apply probe was not OK.
    public static func siteLines(_ sites: [(site: String, summary: String, probedAt: Date)]) -> String {
        let f = ISO8601DateFormatter()
        return sites.map { "site \($0.site): \($0.summary) (probed after apply at \(f.string(from: $0.probedAt)))\n" }.joined()
    }
}
