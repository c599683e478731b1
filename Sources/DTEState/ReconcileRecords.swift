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

/// One run a schedule or a data trigger started, per component it ran: the component's
/// generation (so its pod UID and job), the tick or the dataset item it ran for.
public struct LoopRun: Sendable, Codable, Hashable {
    public var id: Int64?
    /// `schedule/<name>` or `trigger/<name>`.
    public var origin: String
    public var address: String
    public var generation: Int
    public var site: String
    public var podUID: String?
    public var jobID: String?
    /// The cron tick it ran for (a schedule's run).
    public var tick: Date?
    /// The dataset item it ran for (a trigger's run: the file's path).
    public var item: String?
    public var startedAt: Date

    public init(id: Int64? = nil, origin: String, address: String, generation: Int, site: String, podUID: String?, jobID: String?,
                tick: Date? = nil, item: String? = nil, startedAt: Date) {
        self.id = id
        self.origin = origin
        self.address = address
        self.generation = generation
        self.site = site
        self.podUID = podUID
        self.jobID = jobID
        self.tick = tick
        self.item = item
        self.startedAt = startedAt
    }

    /// Longest item (a path) the state keeps.
    public static let maxItemBytes = 4096
}

/// What schedules and data triggers keep in the state: their runs, each trigger's seen items
/// (each file starts one run, even across restarts) and each one's cursor (a small JSON value:
/// the last tick looked at, the last item run). None of it moves the state's serial.
public protocol LoopRunStore: Sendable {
    func appendRun(_ run: LoopRun) async throws
    /// Runs of `address` (all addresses when nil), newest first.
    func runs(address: String?, limit: Int) async throws -> [LoopRun]
    /// Forgets all but the newest `keep` generations of `address`; what was forgotten.
    func pruneRuns(address: String, keep: Int) async throws -> [LoopRun]
    /// Of `items`, the ones recorded as seen by `trigger`.
    func seenItems(trigger: String) async throws -> Set<String>
    func markSeen(trigger: String, items: [String], at: Date) async throws
    func loopCursor(_ key: String) async throws -> String?
    /// Sets (or, with nil, clears) a cursor.
    func setLoopCursor(_ key: String, _ value: String?) async throws
}
