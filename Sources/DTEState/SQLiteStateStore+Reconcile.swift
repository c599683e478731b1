import Foundation
import GRDB

extension SQLiteStateStore: ReconcileRecordStore {
    public func appendReconcileRecord(_ r: ReconcileRecord, keep: Int) async throws {
        let keep = min(max(keep, 1), ReconcileRecord.maxRecords)
        try wrap("write") {
            try db.write { db in
                try db.execute(sql: """
                    INSERT INTO reconcile_records (source, revision, result, started_at, finished_at, drift, actions, message)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [r.source, r.revision, r.result, r.startedAt.timeIntervalSince1970, r.finishedAt.timeIntervalSince1970,
                                     max(0, r.drift), r.actions, ReconcileRecord.bounded(r.message)])
                try db.execute(sql: "DELETE FROM reconcile_records WHERE id NOT IN (SELECT id FROM reconcile_records ORDER BY id DESC LIMIT ?)",
                               arguments: [keep])
            }
        }
    }

    public func reconcileRecords(limit: Int) async throws -> [ReconcileRecord] {
        try wrap("read") {
            try db.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM reconcile_records ORDER BY id DESC LIMIT ?", arguments: [max(0, limit)]).map {
                    ReconcileRecord(id: $0["id"], source: $0["source"], revision: $0["revision"], result: $0["result"],
                                    startedAt: Date(timeIntervalSince1970: $0["started_at"]), finishedAt: Date(timeIntervalSince1970: $0["finished_at"]),
                                    drift: $0["drift"], actions: $0["actions"], message: $0["message"])
                }
            }
        }
    }

    func meta(_ key: String) throws -> String? {
        try wrap("read") { try db.read { try String.fetchOne($0, sql: "SELECT value FROM reconcile_meta WHERE key = ?", arguments: [key]) } }
    }

    func setMeta(_ key: String, _ value: String?) throws {
        try wrap("write") {
            try db.write { db in
                if let value {
                    try db.execute(sql: "INSERT OR REPLACE INTO reconcile_meta (key, value) VALUES (?, ?)", arguments: [key, value])
                } else {
                    try db.execute(sql: "DELETE FROM reconcile_meta WHERE key = ?", arguments: [key])
                }
            }
        }
    }

    public func reconcilePin() async throws -> ReconcilePin? {
        guard let text = try meta("pin") else { return nil }
        let d = JSONDecoder()
        d.dateDecodingStrategy = .secondsSince1970
        guard let pin = try? d.decode(ReconcilePin.self, from: Data(text.utf8)) else {
            throw StateError(.corrupt, "the reconcile pin in \(path) is not readable; clear it with dte reconcile --unpin")
        }
        return pin
    }

    public func setReconcilePin(_ pin: ReconcilePin?) async throws {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .secondsSince1970
        try setMeta("pin", try pin.map { String(decoding: try e.encode($0), as: UTF8.self) })
    }

    public func reconcileStatus() async throws -> String? { try meta("status") }

    public func setReconcileStatus(_ json: String) async throws {
        guard (try? JSONSerialization.jsonObject(with: Data(json.utf8))) is [String: Any] else {
            throw StateError(.io, "state write failed at \(path): the reconcile status is not a JSON object")
        }
        try setMeta("status", json)
    }
}

extension SQLiteStateStore: LoopRunStore {
    static func run(_ row: Row) -> LoopRun {
        let tick: Double? = row["tick"]
        return LoopRun(id: row["id"], origin: row["origin"], address: row["address"], generation: row["generation"], site: row["site"],
                       podUID: row["pod_uid"], jobID: row["job_id"], tick: tick.map(Date.init(timeIntervalSince1970:)), item: row["item"],
                       startedAt: Date(timeIntervalSince1970: row["started_at"]))
    }

    public func appendRun(_ r: LoopRun) async throws {
        guard (r.item?.utf8.count ?? 0) <= LoopRun.maxItemBytes else {
            throw StateError(.io, "state write failed at \(path): a run's item is longer than \(LoopRun.maxItemBytes) bytes")
        }
        try wrap("write") {
            try db.write { db in
                try db.execute(sql: """
                    INSERT INTO loop_runs (origin, address, generation, site, pod_uid, job_id, tick, item, started_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [r.origin, r.address, max(1, r.generation), r.site, r.podUID, r.jobID, r.tick?.timeIntervalSince1970, r.item,
                                     r.startedAt.timeIntervalSince1970])
            }
        }
    }

    public func runs(address: String?, limit: Int) async throws -> [LoopRun] {
        try wrap("read") {
            try db.read { db in
                let limit = max(0, min(limit, 100_000))
                if let address {
                    return try Row.fetchAll(db, sql: "SELECT * FROM loop_runs WHERE address = ? ORDER BY generation DESC, id DESC LIMIT ?",
                                            arguments: [address, limit]).map(Self.run)
                }
                return try Row.fetchAll(db, sql: "SELECT * FROM loop_runs ORDER BY id DESC LIMIT ?", arguments: [limit]).map(Self.run)
            }
        }
    }

    public func pruneRuns(address: String, keep: Int) async throws -> [LoopRun] {
        try wrap("write") {
            try db.write { db in
                let old = try Row.fetchAll(db, sql: "SELECT * FROM loop_runs WHERE address = ? ORDER BY generation DESC, id DESC LIMIT -1 OFFSET ?",
                                           arguments: [address, max(1, keep)]).map(Self.run)
                for r in old { try db.execute(sql: "DELETE FROM loop_runs WHERE id = ?", arguments: [r.id]) }
                return old
            }
        }
    }

    public func seenItems(trigger: String) async throws -> Set<String> {
        try wrap("read") {
            try db.read { Set(try String.fetchAll($0, sql: "SELECT item FROM trigger_seen WHERE trigger = ?", arguments: [trigger])) }
        }
    }

    public func markSeen(trigger: String, items: [String], at: Date) async throws {
        try wrap("write") {
            try db.write { db in
                let statement = try db.cachedStatement(sql: "INSERT OR IGNORE INTO trigger_seen (trigger, item, seen_at) VALUES (?, ?, ?)")
                for item in items where item.utf8.count <= LoopRun.maxItemBytes {
                    try statement.execute(arguments: [trigger, item, at.timeIntervalSince1970])
                }
            }
        }
    }

    public func loopCursor(_ key: String) async throws -> String? { try meta("loop/" + key) }

    public func setLoopCursor(_ key: String, _ value: String?) async throws { try setMeta("loop/" + key, value) }
}
