import Foundation

/// A Kubernetes-style condition (as in `status.conditions` of a Kubernetes object): `Ready`,
/// `Reconciling` or `Stalled`, whether it holds, a CamelCase reason, a message in the
/// repository's or the site's own words, and when its status last changed.
public struct Condition: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable, CaseIterable { case ready = "Ready", reconciling = "Reconciling", stalled = "Stalled" }
    public enum Status: String, Sendable, Codable { case yes = "True", no = "False", unknown = "Unknown" }

    public var type: Kind
    public var status: Status
    public var reason: String
    public var message: String
    public var lastTransitionTime: Date

    public init(_ type: Kind, _ status: Status, reason: String, message: String, at time: Date) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
        self.lastTransitionTime = time
    }
}

/// A condition whose status or reason changed in a tick (what notifications are about).
public struct ConditionChange: Sendable, Codable, Hashable {
    /// `repository`, or the twin's name.
    public var subject: String
    public var before: Condition?
    public var after: Condition
}

/// What `dte reconcile status` shows: the repository's conditions and each twin's, the revision
/// applied last, the pin, and the failure the loop is holding at.
public struct ReconcileStatus: Sendable, Codable, Hashable {
    public var source: String?
    public var conditions: [Condition] = []
    /// Twin name → its conditions.
    public var twins: [String: [Condition]] = [:]
    /// The last revision applied successfully.
    public var appliedRevision: String?
    /// The revision the last tick looked at.
    public var lastRevision: String?
    public var pinnedRevision: String?
    /// A revision whose apply failed: not applied again until the revision changes or `--retry`.
    public var failedRevision: String?
    /// Ticks that failed in a row (error, stalled, failed): the watch loop backs off by them.
    public var consecutiveFailures = 0
    public var lastTick: Date?
    /// The last tick's result (`applied`, `synced`, …).
    public var lastResult: String?
    /// The revision's schedules and data triggers: next ticks, last run, skips.
    public var runSources: [RunSourceStatus]?

    public init() {}

    public func condition(_ kind: Condition.Kind) -> Condition? { conditions.first { $0.type == kind } }

    /// `new` with each condition's `lastTransitionTime` kept from `old` when its status did not
    /// change, and the conditions whose status or reason changed.
    static func merge(_ new: [Condition], over old: [Condition], subject: String) -> ([Condition], [ConditionChange]) {
        var out: [Condition] = []
        var changes: [ConditionChange] = []
        for var c in new {
            let before = old.first { $0.type == c.type }
            if let before, before.status == c.status { c.lastTransitionTime = before.lastTransitionTime }
            if before?.status != c.status || before?.reason != c.reason { changes.append(ConditionChange(subject: subject, before: before, after: c)) }
            out.append(c)
        }
        return (out, changes)
    }

    static func decode(_ json: String?) -> ReconcileStatus? {
        guard let json else { return nil }
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return try? d.decode(ReconcileStatus.self, from: Data(json.utf8))
    }

    func encoded() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return (try? e.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// How long the watch loop waits before the next tick: the interval, doubled for each failed
/// tick in a row, at most `cap` (and never less than the interval).
public struct Backoff: Sendable, Hashable {
    public var interval: TimeInterval
    public var cap: TimeInterval

    public init(interval: TimeInterval, cap: TimeInterval = 900) {
        self.interval = interval.isFinite ? min(max(interval, 0), 86_400) : 60
        self.cap = max(self.interval, cap.isFinite ? min(cap, 86_400) : 900)
    }

    public func delay(failures: Int) -> TimeInterval {
        guard failures > 0 else { return interval }
        var d = max(interval, 1)
        for _ in 0..<min(failures, 32) { d = min(d * 2, cap) }
        return d
    }
}
