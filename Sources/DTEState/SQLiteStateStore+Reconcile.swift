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
