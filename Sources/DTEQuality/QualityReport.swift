import Foundation

/// An assessment in the shape of SQAaaS's assessment output (`AssessmentOutput` of the SQAaaS
/// API): `report.<criterion>.valid` with its subcriteria and their evidence, `badge.software.criteria`
/// with `to_fulfill`/`missing`/`fulfilled` per level, and `badge_status`, the level awarded (null
/// when none). The same type reads a SQAaaS service's answer.
public struct QualityReport: Sendable, Codable, Equatable {
    /// The version of the SQAaaS API specification the payload follows.
    public static let specVersion = "2.9.3"

    public var version: String
    public var repository: [Repository]
    public var report: [String: CriterionReport]
    public var badge: Badges
    public var badgeStatus: BadgeLevel?

    public struct Repository: Sendable, Codable, Equatable {
        public var name: String?
        public var url: String?
        /// The release tag on the assessed commit, if any.
        public var tag: String?
        /// The assessed commit (DTE's addition; SQAaaS names it in the badge's recipient).
        public var commit: String?

        public init(name: String? = nil, url: String? = nil, tag: String? = nil, commit: String? = nil) {
            self.name = name
            self.url = url
            self.tag = tag
            self.commit = commit
        }
    }

    public struct CriterionReport: Sendable, Codable, Equatable {
        public var valid: Bool
        /// Why the criterion was not assessed (e.g. no command configured for it).
        public var filteredReason: [String]
        public var subcriteria: [String: Subcriterion]
        public var coverage: Coverage

        public init(valid: Bool, filteredReason: [String] = [], subcriteria: [String: Subcriterion]) {
            self.valid = valid
            self.filteredReason = filteredReason
            self.subcriteria = subcriteria
            let ok = subcriteria.values.filter(\.valid).count
            coverage = Coverage(percentage: subcriteria.isEmpty ? 0 : Double(ok * 100 / subcriteria.count),
                                totalSubcriteria: subcriteria.count, successSubcriteria: ok)
        }

        enum CodingKeys: String, CodingKey {
            case valid, subcriteria, coverage
            case filteredReason = "filtered_reason"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            valid = try c.decodeIfPresent(Bool.self, forKey: .valid) ?? false
            filteredReason = (try? c.decodeIfPresent([String].self, forKey: .filteredReason)) ?? []
            subcriteria = try c.decodeIfPresent([String: Subcriterion].self, forKey: .subcriteria) ?? [:]
            coverage = (try? c.decodeIfPresent(Coverage.self, forKey: .coverage))
                ?? Coverage(percentage: 0, totalSubcriteria: subcriteria.count, successSubcriteria: subcriteria.values.filter(\.valid).count)
        }
    }

    public struct Coverage: Sendable, Codable, Equatable {
        public var percentage: Double
        public var totalSubcriteria: Int
        public var successSubcriteria: Int

        enum CodingKeys: String, CodingKey {
            case percentage
            case totalSubcriteria = "total_subcriteria"
            case successSubcriteria = "success_subcriteria"
        }
    }

    public struct Subcriterion: Sendable, Codable, Equatable {
        public var description: String
        public var valid: Bool
        public var evidence: [Evidence]
        public var hint: String
        public var requiredForNextLevelBadge: Bool

        public init(description: String, valid: Bool, evidence: [Evidence], hint: String, requiredForNextLevelBadge: Bool = false) {
            self.description = description
            self.valid = valid
            self.evidence = evidence
            self.hint = hint
            self.requiredForNextLevelBadge = requiredForNextLevelBadge
        }

        enum CodingKeys: String, CodingKey {
            case description, valid, evidence, hint
            case requiredForNextLevelBadge = "required_for_next_level_badge"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            description = try c.decodeIfPresent(String.self, forKey: .description) ?? ""
            valid = try c.decodeIfPresent(Bool.self, forKey: .valid) ?? false
            evidence = try c.decodeIfPresent([Evidence].self, forKey: .evidence) ?? []
            hint = (try? c.decodeIfPresent(String.self, forKey: .hint)) ?? ""
            requiredForNextLevelBadge = (try? c.decodeIfPresent(Bool.self, forKey: .requiredForNextLevelBadge)) ?? false
        }
    }

    /// One tool's (or check's) finding for a subcriterion (`AssessmentOutputValidator`).
    public struct Evidence: Sendable, Codable, Equatable {
        public var valid: Bool
        public var message: String
        public var tool: Tool?
        public var dataUnstructured: CommandData?

        public struct Tool: Sendable, Codable, Equatable {
            public var name: String
        }

        /// What a configured command did (DTE's content of `data_unstructured`).
        public struct CommandData: Sendable, Codable, Equatable {
            public var argv: [String]
            public var exitStatus: Int32?
            public var timedOut: Bool
            public var seconds: Double
            public var output: String
            public var outputTruncated: Bool

            enum CodingKeys: String, CodingKey {
                case argv, seconds, output
                case exitStatus = "exit_status"
                case timedOut = "timed_out"
                case outputTruncated = "output_truncated"
            }
        }

        public init(valid: Bool, message: String, tool: String? = nil, data: CommandData? = nil) {
            self.valid = valid
            self.message = message
            self.tool = tool.map { Tool(name: $0) }
            dataUnstructured = data
        }

        enum CodingKeys: String, CodingKey {
            case valid, message, tool
            case dataUnstructured = "data_unstructured"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            valid = try c.decodeIfPresent(Bool.self, forKey: .valid) ?? false
            message = (try? c.decodeIfPresent(String.self, forKey: .message)) ?? ""
            tool = try? c.decodeIfPresent(Tool.self, forKey: .tool)
            dataUnstructured = try? c.decodeIfPresent(CommandData.self, forKey: .dataUnstructured)
        }
    }

    /// `badge` of the output: only the software badge is assessed here.
    public struct Badges: Sendable, Codable, Equatable {
        public var software: Badge?
    }

    public struct Badge: Sendable, Codable, Equatable {
        public var criteria: [String: CriteriaStats]
    }

    /// `BadgeCriteriaStats`: what a level needs, what is missing and what is fulfilled.
    public struct CriteriaStats: Sendable, Codable, Equatable {
        public var toFulfill: [String]
        public var missing: [String]
        public var fulfilled: [String]

        enum CodingKeys: String, CodingKey {
            case missing, fulfilled
            case toFulfill = "to_fulfill"
        }

        public init(toFulfill: [String], missing: [String], fulfilled: [String]) {
            self.toFulfill = toFulfill
            self.missing = missing
            self.fulfilled = fulfilled
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            toFulfill = try c.decodeIfPresent([String].self, forKey: .toFulfill) ?? []
            missing = try c.decodeIfPresent([String].self, forKey: .missing) ?? []
            fulfilled = try c.decodeIfPresent([String].self, forKey: .fulfilled) ?? []
        }
    }

    enum CodingKeys: String, CodingKey {
        case version, repository, report, badge
        case badgeStatus = "badge_status"
    }

    public init(repository: Repository, report: [String: CriterionReport]) {
        version = Self.specVersion
        self.repository = [repository]
        self.report = report
        let valid = Set(report.compactMap { $0.value.valid ? QualityCriterion(rawValue: $0.key) : nil })
        var stats: [String: CriteriaStats] = [:]
        for level in BadgeLevel.allCases {
            let need = level.required.map(\.rawValue)
            stats[level.rawValue] = CriteriaStats(toFulfill: need,
                                                  missing: need.filter { report[$0]?.valid != true },
                                                  fulfilled: need.filter { report[$0]?.valid == true })
        }
        badge = Badges(software: Badge(criteria: stats))
        badgeStatus = BadgeLevel.awarded(valid: valid)
        // SQAaaS marks the subcriteria the next level still needs.
        let awarded = badgeStatus
        let next = BadgeLevel.allCases.first { level in awarded.map { level > $0 } ?? true }
        if let next {
            for id in next.required.map({ $0.rawValue }) {
                guard var c = self.report[id] else { continue }
                for (k, var s) in c.subcriteria where !s.valid {
                    s.requiredForNextLevelBadge = true
                    c.subcriteria[k] = s
                }
                self.report[id] = c
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = (try? c.decodeIfPresent(String.self, forKey: .version)) ?? ""
        repository = (try? c.decodeIfPresent([Repository].self, forKey: .repository)) ?? []
        report = try c.decodeIfPresent([String: CriterionReport].self, forKey: .report) ?? [:]
        badge = (try? c.decodeIfPresent(Badges.self, forKey: .badge)) ?? Badges(software: nil)
        if let status = try? c.decodeIfPresent(String.self, forKey: .badgeStatus) {
            badgeStatus = BadgeLevel(rawValue: status.lowercased())
        } else if let criteria = badge.software?.criteria {
            // A service's answer carries the stats per level; the awarded level is the highest
            // whose criteria are all fulfilled.
            badgeStatus = BadgeLevel.allCases.last { level in
                BadgeLevel.allCases.filter { $0 <= level }.allSatisfy { l in
                    criteria[l.rawValue].map { $0.missing.isEmpty && !$0.toFulfill.isEmpty } ?? false
                }
            }
        } else {
            badgeStatus = BadgeLevel.awarded(valid: Set(report.compactMap { $0.value.valid ? QualityCriterion(rawValue: $0.key) : nil }))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(repository, forKey: .repository)
        try c.encode(report, forKey: .report)
        try c.encode(badge, forKey: .badge)
        if let badgeStatus { try c.encode(badgeStatus, forKey: .badgeStatus) } else { try c.encodeNil(forKey: .badgeStatus) }
    }

    /// Whether a criterion is met (false when it was not assessed).
    public func isValid(_ criterion: QualityCriterion) -> Bool { report[criterion.rawValue]?.valid == true }

    /// The report as JSON with sorted keys (stable for machines and golden files).
    public func json() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? e.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// One line per unmet subcriterion of a criterion: what was seen.
    public func findings(_ criterion: QualityCriterion) -> [String] {
        guard let c = report[criterion.rawValue] else { return ["not assessed"] }
        var lines = c.filteredReason
        for key in c.subcriteria.keys.sorted() {
            guard let s = c.subcriteria[key] else { continue }
            for e in s.evidence where c.valid ? e.valid : !e.valid { lines.append(e.message) }
        }
        return lines
    }

    /// The hints of the unmet subcriteria of a criterion.
    public func hints(_ criterion: QualityCriterion) -> [String] {
        guard let c = report[criterion.rawValue] else { return [] }
        return c.subcriteria.keys.sorted().compactMap { k in
            guard let s = c.subcriteria[k], !s.valid, !s.hint.isEmpty else { return nil }
            return s.hint
        }
    }
}
