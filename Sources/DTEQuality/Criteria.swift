import Foundation

/// The SQAaaS software baseline criteria DTE checks, in report order.
public enum QualityCriterion: String, Sendable, CaseIterable, Codable, Comparable {
    case acc = "QC.Acc", lic = "QC.Lic", met = "QC.Met", doc = "QC.Doc"
    case sty = "QC.Sty", sec = "QC.Sec", ver = "QC.Ver"
    case uni = "QC.Uni", wor = "QC.Wor", man = "QC.Man", del = "QC.Del"

    /// What it is about, in a few words.
    public var title: String {
        switch self {
        case .acc: return "code accessibility (version control)"
        case .lic: return "licensing (an OSI-approved licence)"
        case .met: return "code metadata (CITATION.cff or codemeta.json)"
        case .doc: return "documentation (README, CONTRIBUTING, CODE_OF_CONDUCT)"
        case .sty: return "code style"
        case .sec: return "security (static analysis)"
        case .ver: return "semantic versioning of releases"
        case .uni: return "unit testing"
        case .wor: return "code workflow (change-based automated checks)"
        case .man: return "code management (issue and pull request templates)"
        case .del: return "automated delivery (artifact build and publication)"
        }
    }

    /// The criteria whose check is a command the repository configures (`quality.commands`).
    public static let commandCriteria: [QualityCriterion] = [.sty, .sec, .uni]

    public static func < (a: Self, b: Self) -> Bool {
        (allCases.firstIndex(of: a) ?? 0) < (allCases.firstIndex(of: b) ?? 0)
    }
}

/// A badge level as SQAaaS awards them; each level needs its criteria and those of the levels below.
public enum BadgeLevel: String, Sendable, CaseIterable, Codable, Comparable {
    case bronze, silver, gold

    /// The criteria this level adds to the one below.
    public var added: [QualityCriterion] {
        switch self {
        case .bronze: return [.acc, .lic, .met, .doc]
        case .silver: return [.sty, .sec, .ver]
        case .gold: return [.uni, .wor, .man, .del]
        }
    }

    /// Every criterion the level needs (its own and those of the levels below).
    public var required: [QualityCriterion] {
        BadgeLevel.allCases.filter { $0 <= self }.flatMap(\.added)
    }

    public static func < (a: Self, b: Self) -> Bool {
        (allCases.firstIndex(of: a) ?? 0) < (allCases.firstIndex(of: b) ?? 0)
    }

    /// The highest level whose criteria are all met (nil: not even bronze).
    public static func awarded(valid: Set<QualityCriterion>) -> BadgeLevel? {
        var best: BadgeLevel?
        for level in allCases {
            guard level.required.allSatisfy(valid.contains) else { break }
            best = level
        }
        return best
    }
}
