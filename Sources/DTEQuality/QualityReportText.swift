import Foundation

extension QualityReport {
    /// The report for a person: the badge, then each criterion with what was seen and, for
    /// those not met, what to do.
    public func text() -> String {
        var out = ""
        let repo = repository.first
        let what = [repo?.url, repo?.commit.map { "commit \($0.prefix(12))" }, repo?.tag.map { "tag \($0)" }].compactMap { $0 }.joined(separator: ", ")
        out += "Quality of \(what.isEmpty ? "the repository" : what)\n"
        out += "Badge: \(badgeStatus?.rawValue ?? "none")"
        let awarded = badgeStatus
        if let next = BadgeLevel.allCases.first(where: { level in awarded.map { level > $0 } ?? true }),
           let stats = badge.software?.criteria[next.rawValue] {
            out += " (\(next.rawValue) needs \(stats.missing.joined(separator: ", ")))"
        }
        out += "\n\n"
        let ids = report.keys.sorted { a, b in
            (QualityCriterion(rawValue: a).map { QualityCriterion.allCases.firstIndex(of: $0) ?? 99 } ?? 99, a)
                < (QualityCriterion(rawValue: b).map { QualityCriterion.allCases.firstIndex(of: $0) ?? 99 } ?? 99, b)
        }
        for id in ids {
            guard let c = report[id] else { continue }
            let title = QualityCriterion(rawValue: id)?.title ?? ""
            out += "\(c.valid ? "✓" : "✗") \(id)  \(title)\n"
            for reason in c.filteredReason { out += "    - \(reason)\n" }
            for key in c.subcriteria.keys.sorted() {
                guard let s = c.subcriteria[key] else { continue }
                for e in s.evidence where c.filteredReason.isEmpty || e.valid {
                    out += "    \(e.valid ? "+" : "-") \(key): \(e.message)\n"
                }
                if !s.valid, !s.hint.isEmpty { out += "      fix: \(s.hint)\n" }
            }
        }
        return out
    }
}
