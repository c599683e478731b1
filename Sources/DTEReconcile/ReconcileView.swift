import DTEState
import Foundation

/// `dte reconcile status` (and, merged later, `dte status`): the repository's and each twin's
/// conditions, the revisions, the pin, and the last ticks.
public struct ReconcileView: Sendable {
    public var status: ReconcileStatus
    public var records: [ReconcileRecord]

    public init(status: ReconcileStatus, records: [ReconcileRecord]) {
        self.status = status
        self.records = records
    }

    /// Reads what the loop left in the state.
    public static func load(from store: any ReconcileRecordStore, records limit: Int = 10) async throws -> ReconcileView {
        var status = ReconcileStatus.decode(try await store.reconcileStatus()) ?? ReconcileStatus()
        // the pin is the state's word (set by --revision, cleared by --unpin), even before a tick ran
        status.pinnedRevision = try await store.reconcilePin()?.revision
        return ReconcileView(status: status, records: try await store.reconcileRecords(limit: max(0, min(limit, 1000))))
    }

    static func time(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: d)
    }

    static func conditionLines(_ conditions: [Condition], indent: String) -> [String] {
        conditions.map { c in
            "\(indent)\(c.type.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0))\(c.status.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0))"
                + "\(c.reason)  since \(time(c.lastTransitionTime))" + (c.message.isEmpty ? "" : "\n\(indent)            \(c.message)")
        }
    }

    /// The schedules' and triggers' lines: next ticks, the last run, what was skipped.
    static func runSourceLines(_ sources: [RunSourceStatus]) -> [String] {
        guard !sources.isEmpty else { return [] }
        var lines = ["schedules and triggers"]
        for s in sources {
            lines.append("  \(s.kind) \(s.name)  \(s.spec)  concurrency \(s.concurrency)  targets \(s.targets.joined(separator: ", "))"
                         + (s.suspended ? "  (suspended)" : ""))
            if !s.next.isEmpty { lines.append("    next runs  " + s.next.map(time).joined(separator: ", ")) }
            if let last = s.lastRunAt {
                let why = s.lastTick.map { "tick \(time($0))" } ?? s.lastItem.map { "file \($0)" } ?? ""
                lines.append("    last run   \(time(last))\(why.isEmpty ? "" : " (\(why))")")
            } else {
                lines.append("    last run   - (none started by the loop yet)")
            }
            if !s.generations.isEmpty {
                lines.append("    runs       " + s.generations.sorted { $0.key < $1.key }.map { "\($0.key) run \($0.value)" }.joined(separator: ", ")
                             + " (dte logs ADDRESS --run N)")
            }
            if let seen = s.seen { lines.append("    files      \(seen) seen, \(s.waiting ?? 0) waiting to stop changing") }
            if s.skipped > 0 { lines.append("    skipped    \(s.skipped)" + (s.lastSkip.map { " (last: \($0))" } ?? "")) }
        }
        return lines
    }

    public func text() -> String {
        var lines: [String] = []
        guard status.lastTick != nil || status.pinnedRevision != nil else {
            return "no reconcile has run on this state yet (dte reconcile --once)\n"
        }
        lines.append("repository \(status.source ?? "-")")
        lines.append("  revision applied  \(status.appliedRevision ?? "-")")
        lines.append("  last revision     \(status.lastRevision ?? "-")")
        lines.append("  pinned revision   \(status.pinnedRevision ?? "- (follows the branch)")")
        if let f = status.failedRevision { lines.append("  failed revision   \(f) (not applied again until a new revision or --retry)") }
        if status.consecutiveFailures > 0 { lines.append("  failed ticks in a row  \(status.consecutiveFailures) (the loop backs off)") }
        lines += Self.conditionLines(status.conditions, indent: "  ")
        for twin in status.twins.keys.sorted() {
            lines.append("twin \(twin)")
            lines += Self.conditionLines(status.twins[twin] ?? [], indent: "  ")
        }
        lines += Self.runSourceLines(status.runSources ?? [])
        if !records.isEmpty {
            lines.append("last ticks (newest first)")
            for r in records {
                lines.append("  \(Self.time(r.finishedAt))  \(r.result.padding(toLength: 8, withPad: " ", startingAt: 0))  \(r.revision.map { String($0.prefix(12)) } ?? "-")"
                             + "  drift \(r.drift)  \(String(format: "%.2f", r.duration)) s  \(r.message)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `{"status": {...}, "records": [...]}` (dates ISO 8601).
    public func json() -> String {
        struct Document: Encodable {
            var status: ReconcileStatus
            var records: [ReconcileRecord]
        }
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return ((try? e.encode(Document(status: status, records: records))).map { String(decoding: $0, as: UTF8.self) } ?? "{}") + "\n"
    }

    /// One record as JSON (`dte reconcile --once --json`).
    public static func json(record: ReconcileRecord, status: ReconcileStatus) -> String {
        ReconcileView(status: status, records: [record]).json()
    }
}
