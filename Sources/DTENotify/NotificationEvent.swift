import Foundation

/// What a notification says: one reconcile result of one repository revision. The webhook sink
/// sends it as JSON (docs/notifications.md); the commit-status sinks turn it into a status.
public struct NotificationEvent: Sendable, Codable, Hashable {
    /// The outcome, in the words commit statuses use.
    public enum Result: String, Sendable, Codable, CaseIterable, Hashable {
        /// Planned, waiting (a manual sync, or a reconcile that has started).
        case pending
        /// Applying now.
        case running
        /// The sites match the revision.
        case success
        /// The revision was applied and something failed (a job, a post-apply hook).
        case failure
        /// The revision could not be applied at all: invalid templates, a blocking hook (Stalled).
        case error
    }

    /// A Kubernetes-style condition that changed: `Ready` from `True` to `False`, say.
    public struct ConditionChange: Sendable, Codable, Hashable {
        /// `repository`, or the twin's or component's address.
        public var subject: String
        /// `Ready`, `Reconciling`, `Stalled`.
        public var type: String
        /// `True`, `False` or `Unknown`; nil when the condition is new.
        public var from: String?
        public var to: String
        public var reason: String
        public var message: String

        public init(subject: String, type: String, from: String? = nil, to: String, reason: String, message: String) {
            self.subject = subject
            self.type = type
            self.from = from
            self.to = to
            self.reason = reason
            self.message = message
        }
    }

    /// One line per twin: what became of it in this reconcile.
    public struct TwinLine: Sendable, Codable, Hashable {
        /// The twin's address, e.g. `twin.flood`.
        public var twin: String
        /// `success`, `failure`, … as for the whole event.
        public var result: Result
        public var message: String

        public init(twin: String, result: Result, message: String) {
            self.twin = twin
            self.result = result
            self.message = message
        }
    }

    /// Bumped when a field changes meaning; receivers may check it.
    public var formatVersion = "1.0"
    /// The repository's name or remote URL.
    public var repository: String
    /// The git commit reconciled (a full or abbreviated hex SHA for commit statuses).
    public var revision: String
    public var result: Result
    /// One sentence: what happened (commit statuses show its first 140 characters).
    public var summary: String
    public var conditions: [ConditionChange]
    public var twins: [TwinLine]
    public var occurredAt: Date
    /// Where to read more (a dashboard, the CI run), when there is such a place.
    public var detailsURL: String?

    public init(repository: String, revision: String, result: Result, summary: String, conditions: [ConditionChange] = [],
                twins: [TwinLine] = [], occurredAt: Date = Date(), detailsURL: String? = nil) {
        self.repository = repository
        self.revision = revision
        self.result = result
        self.summary = summary
        self.conditions = conditions
        self.twins = twins
        self.occurredAt = occurredAt
        self.detailsURL = detailsURL
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", repository, revision, result, summary, conditions, twins
        case occurredAt = "occurred_at", detailsURL = "details_url"
    }

    /// Notifications go out on results and state changes, not on every tick: an event is worth
    /// sending when the revision, the result or a twin's result differs from the last one sent,
    /// or when it carries condition changes.
    public func isWorthSending(after previous: NotificationEvent?) -> Bool {
        guard let previous else { return true }
        if !conditions.isEmpty { return true }
        return revision != previous.revision || result != previous.result
            || Dictionary(twins.map { ($0.twin, $0.result) }, uniquingKeysWith: { a, _ in a })
            != Dictionary(previous.twins.map { ($0.twin, $0.result) }, uniquingKeysWith: { a, _ in a })
    }

    /// The event as the webhook sends it: JSON with sorted keys and ISO 8601 times (the bytes that are signed).
    public func jsonBody() -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        // Encoding plain strings, enums and dates cannot fail.
        return (try? e.encode(self)) ?? Data("{}".utf8)
    }

    /// A revision a commit-status API takes in its path: 7 to 64 hexadecimal digits.
    public var revisionIsCommitSHA: Bool {
        (7...64).contains(revision.utf8.count) && revision.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || ($0 >= 0x41 && $0 <= 0x46)
        }
    }
}

/// Shortens `text` to at most `limit` characters, ending in "…" when cut; control characters become spaces.
func clipped(_ text: String, to limit: Int) -> String {
    let clean = String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    guard clean.count > limit, limit > 0 else { return clean }
    return String(clean.prefix(limit - 1)) + "…"
}
