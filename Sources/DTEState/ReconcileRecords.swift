import Foundation

/// One tick of the GitOps loop (`dte reconcile`), as the state keeps it: the last N of them.
public struct ReconcileRecord: Sendable, Codable, Hashable {
    public var id: Int64?
    /// What was reconciled: the remote URL and branch, or `local:<folder>`.
    public var source: String
    /// The commit reconciled (for `--local`, the working tree's content hash); nil when it could not be fetched.
    public var revision: String?
    /// `applied`, `synced`, `planned`, `failed`, `stalled`, `error`, `held` (see docs/reconcile.md).
    public var result: String
    public var startedAt: Date
    public var finishedAt: Date
    /// Resources found changed outside DTE.
    public var drift: Int
    /// What the tick did or (manual mode) would do, per action: `{"create": 1, "delete": 0, …}` as JSON.
    public var actions: String
    /// One line saying what happened, with the site's or the repository's own words.
    public var message: String

    public var duration: TimeInterval { finishedAt.timeIntervalSince(startedAt) }

    public init(id: Int64? = nil, source: String, revision: String?, result: String, startedAt: Date, finishedAt: Date, drift: Int,
                actions: String = "{}", message: String) {
        self.id = id
        self.source = source
        self.revision = revision
        self.result = result
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.drift = drift
        self.actions = actions
        self.message = message
    }
}

/// A revision the loop is held at (`dte reconcile --revision SHA`) until `--unpin`.
public struct ReconcilePin: Sendable, Codable, Hashable {
    public var revision: String
    public var who: String
    public var at: Date

    public init(revision: String, who: String, at: Date) {
        self.revision = revision
        self.who = who
        self.at = at
    }
}

/// Where the GitOps loop keeps its records, its pin and its status beside the state. None of
/// these move the state's serial: a saved plan stays fresh across ticks that change nothing.
public protocol ReconcileRecordStore: Sendable {
    /// Appends a record and keeps only the newest `keep` (at least 1).
    func appendReconcileRecord(_ record: ReconcileRecord, keep: Int) async throws
    /// The newest records first.
    func reconcileRecords(limit: Int) async throws -> [ReconcileRecord]
    func reconcilePin() async throws -> ReconcilePin?
    /// Sets (or, with nil, clears) the pin.
    func setReconcilePin(_ pin: ReconcilePin?) async throws
    /// The loop's status (conditions, applied revision…) as the reconciler wrote it: a JSON object.
    func reconcileStatus() async throws -> String?
    func setReconcileStatus(_ json: String) async throws
}

extension ReconcileRecord {
    /// Bounds of what a record keeps (a hostile repository's messages cannot grow the state).
    public static let maxMessageBytes = 4000
    public static let maxRecords = 10_000

    /// `message` cut to `maxMessageBytes` on a character boundary.
    public static func bounded(_ s: String) -> String {
        if s.utf8.count <= maxMessageBytes { return s }
        var out = ""
        for c in s {
            if out.utf8.count + c.utf8.count > maxMessageBytes - 3 { break }
            out.append(c)
        }
        return out + "…"
    }
}
