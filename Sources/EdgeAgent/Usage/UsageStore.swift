import Foundation
import GRDB

/// One pod's usage as stored (table `usage`, keyed by pod UID). Rows outlive their pods (a pod
/// expiring from `retention`, or deleted, keeps its usage) and restarts.
public struct UsageRecord: Sendable, Hashable, Codable {
    /// Where the collection stands.
    public enum Collection: String, Sendable, Codable {
        /// The job ended; accounting is asked at the next polls.
        case pending
        /// Accounting answered: `usage` holds what the job used.
        case collected
        /// Accounting never knew the job within the attempts allowed.
        case unavailable
    }

    public var podUID: String
    public var namespace: String
    public var podName: String
    /// The identity that created the pod (`voperson_id`/`sub` and issuer; `local` without OIDC).
    public var owner: String
    /// `dte.io/project`, else the Slurm account, else the namespace.
    public var project: String
    public var jobID: String
    public var collection: Collection
    public var usage: JobUsage?
    /// Core-seconds (cores × wall time) and GPU-seconds, for the reader's convenience.
    public var coreSeconds: Int
    public var gpuSeconds: Int
}

/// A usage row waiting for accounting.
struct PendingUsage: Sendable {
    var podUID: String
    var jobID: String
    var attempts: Int
    /// The project was named by the pod or the request (else the account accounting reports wins).
    var projectFixed: Bool
}

/// The `usage` table: its schema, and the reads and writes of collection and `/v1/usage`.
enum UsageStore {
    /// Attempts to find a job in accounting before it is given up (with back-off: about an hour).
    static let maxAttempts = 12

    static func createTable(_ db: Database) throws {
        try db.create(table: "usage") { t in
            t.primaryKey("podUID", .text)
            t.column("namespace", .text).notNull()
            t.column("podName", .text).notNull()
            t.column("ownerSubject", .text).notNull()
            t.column("ownerIssuer", .text)
            t.column("project", .text).notNull()
            t.column("projectFixed", .boolean).notNull()
            t.column("jobID", .text).notNull()
            t.column("collection", .text).notNull().check { ["pending", "collected", "unavailable"].contains($0) }
            t.column("attempts", .integer).notNull().defaults(to: 0)
            t.column("queuedAt", .double).notNull()
            t.column("nextAttemptAt", .double).notNull()
            t.column("usage", .jsonText)
            t.column("endTime", .double)
        }
        try db.create(index: "usage_collection", on: "usage", columns: ["collection", "nextAttemptAt"])
        try db.create(index: "usage_end", on: "usage", columns: ["endTime"])
    }

    /// Queues a pod's usage from its row in `pod` (same transaction as the pod's change).
    static func queue(_ db: Database, uid: String, at: Double) throws {
        try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO usage (podUID, namespace, podName, ownerSubject, ownerIssuer, project, projectFixed,
                                         jobID, collection, attempts, queuedAt, nextAttemptAt)
            SELECT uid, namespace, name, ownerSubject, ownerIssuer,
                   COALESCE(json_extract(request, '$.project'), json_extract(request, '$.account'), namespace),
                   json_extract(request, '$.project') IS NOT NULL OR json_extract(request, '$.account') IS NOT NULL,
                   jobID, 'pending', 0, ?, ?
            FROM pod WHERE uid = ? AND jobID IS NOT NULL
            """).execute(arguments: [at, at, uid])
    }

    /// Back-off before the next attempt: 2, 4, 8 … seconds, at most 10 minutes.
    static func delay(afterAttempts attempts: Int) -> Double { min(600, Double(1 << min(attempts, 20)) * 2) }
}

extension PodStore {
    /// Usage rows whose next attempt is due, oldest first.
    func dueUsage(now: Double, limit: Int) throws(AgentError) -> [PendingUsage] {
        try read("read pending usage") { db in
            try Row.fetchAll(db, sql: """
                SELECT podUID, jobID, attempts, projectFixed FROM usage
                WHERE collection = 'pending' AND nextAttemptAt <= ? ORDER BY queuedAt LIMIT ?
                """, arguments: [now, limit]).map {
                PendingUsage(podUID: $0["podUID"], jobID: $0["jobID"], attempts: $0["attempts"], projectFixed: $0["projectFixed"])
            }
        }
    }

    /// Stores what accounting answered (one transaction): the usage of jobs it knew, another
    /// attempt (or giving up) for the others. Returns the rows collected (for the metrics).
    @discardableResult
    func recordUsage(_ due: [PendingUsage], found: [String: JobUsage], now: Double) throws(AgentError) -> [UsageRecord] {
        try write("record usage") { db in
            let encoder = JSONEncoder()
            var collected: [String] = []
            for row in due {
                if let usage = found[row.jobID] {
                    let text = String(decoding: try encoder.encode(usage), as: UTF8.self)
                    let project = row.projectFixed ? nil : usage.account
                    try db.cachedStatement(sql: """
                        UPDATE usage SET collection = 'collected', usage = ?, endTime = ?, attempts = attempts + 1,
                               project = COALESCE(?, project) WHERE podUID = ?
                        """).execute(arguments: [text, usage.endTime ?? now, project, row.podUID])
                    collected.append(row.podUID)
                } else {
                    let attempts = row.attempts + 1
                    let giveUp = attempts >= UsageStore.maxAttempts
                    try db.cachedStatement(sql: """
                        UPDATE usage SET attempts = ?, nextAttemptAt = ?, collection = ? WHERE podUID = ?
                        """).execute(arguments: [attempts, now + UsageStore.delay(afterAttempts: attempts),
                                                 giveUp ? "unavailable" : "pending", row.podUID])
                }
            }
            return try Self.usageRows(db, sql: "podUID IN (\(collected.map { _ in "?" }.joined(separator: ",")))",
                                      arguments: StatementArguments(collected), when: !collected.isEmpty)
        }
    }

    /// Every usage row whose job ended in `[from, until)` (nil: no bound; pending rows have no end yet).
    public func usage(endedFrom from: Double? = nil, until: Double? = nil) throws(AgentError) -> [UsageRecord] {
        try read("read usage") { db in
            var clauses: [String] = []
            var arguments: [(any DatabaseValueConvertible)?] = []
            if let from { clauses.append("endTime >= ?"); arguments.append(from) }
            if let until { clauses.append("endTime < ?"); arguments.append(until) }
            return try Self.usageRows(db, sql: clauses.isEmpty ? "1" : clauses.joined(separator: " AND "),
                                      arguments: StatementArguments(arguments))
        }
    }

    /// Totals per project of collected usage (core-seconds, GPU-seconds), for the metrics at start-up.
    public func usageTotals() throws(AgentError) -> [String: (coreSeconds: Double, gpuSeconds: Double)] {
        var totals: [String: (coreSeconds: Double, gpuSeconds: Double)] = [:]
        for record in try usage() where record.collection == .collected {
            let old = totals[record.project] ?? (0, 0)
            totals[record.project] = (old.coreSeconds + Double(record.coreSeconds), old.gpuSeconds + Double(record.gpuSeconds))
        }
        return totals
    }

    private static func usageRows(_ db: Database, sql filter: String, arguments: StatementArguments,
                                  when run: Bool = true) throws -> [UsageRecord] {
        guard run else { return [] }
        let decoder = JSONDecoder()
        return try Row.fetchAll(db, sql: """
            SELECT podUID, namespace, podName, ownerSubject, ownerIssuer, project, jobID, collection, usage FROM usage
            WHERE \(filter) ORDER BY endTime, podUID
            """, arguments: arguments).map { row in
            let text: String? = row["usage"]
            let usage = try text.map { try decoder.decode(JobUsage.self, from: Data($0.utf8)) }
            let subject: String = row["ownerSubject"]
            let issuer: String? = row["ownerIssuer"]
            return UsageRecord(
                podUID: row["podUID"], namespace: row["namespace"], podName: row["podName"],
                owner: Caller(issuer: issuer, subject: subject, entitlements: [], expiresAt: nil).identity, project: row["project"], jobID: row["jobID"],
                collection: UsageRecord.Collection(rawValue: row["collection"]) ?? .pending, usage: usage,
                coreSeconds: usage?.coreSeconds ?? 0, gpuSeconds: usage?.gpuSeconds ?? 0)
        }
    }
}
