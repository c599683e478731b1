import Foundation
import GRDB

/// The state in one SQLite file (default `.dte/state.db`), through GRDB. Every write is one
/// transaction; the serial moves only when a resource's content changes.
public final class SQLiteStateStore: StateStore {
    public static let formatVersion = 1
    let db: DatabaseQueue
    public let path: String

    /// Opens (creating when missing, with a fresh lineage) the state at `path`.
    public init(path: String) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw StateError(.io, "cannot create the state folder \(dir): \(error.localizedDescription)")
            }
        }
        var config = Configuration()
        config.busyMode = .timeout(10)
        // WAL: readers never block the writer, and a commit costs one fsync-free append
        // (synchronous=NORMAL keeps every commit across a killed process; only an OS crash can
        // lose the last ones, which intents and deterministic pod UIDs recover from).
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            db = try DatabaseQueue(path: path, configuration: config)
            // Two processes opening a new state at once (a loop and a `dte status`) must not both
            // migrate it: the migrator checks what is applied before its transaction.
            let lock = Self.migrationLock(path)
            defer { lock.map { _ = flock($0, LOCK_UN); _ = close($0) } }
            try Self.migrator.migrate(db)
            try db.write { db in
                if try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'lineage'") == nil {
                    try db.execute(sql: "INSERT INTO meta(key, value) VALUES ('lineage', ?), ('serial', '0'), ('format_version', ?)",
                                   arguments: [UUID().uuidString.lowercased(), String(Self.formatVersion)])
                }
            }
        } catch let e as StateError {
            throw e
        } catch {
            throw StateError(.corrupt, "cannot open the state at \(path): \(error)")
        }
    }

    /// An exclusive advisory lock on `<state>.lock`, held while the state is migrated; nil where
    /// the lock file cannot be made (a read-only folder: then nobody can migrate it either).
    static func migrationLock(_ path: String) -> Int32? {
        let fd = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                close(fd)
                return nil
            }
        }
        return fd
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                CREATE TABLE resources (
                    address TEXT PRIMARY KEY NOT NULL CHECK (address LIKE 'twin.%' OR address LIKE 'site.%'),
                    site TEXT NOT NULL,
                    spec_hash TEXT NOT NULL,
                    spec TEXT NOT NULL,
                    generation INTEGER NOT NULL DEFAULT 1 CHECK (generation >= 1),
                    pod_uid TEXT UNIQUE,
                    job_id TEXT,
                    outputs TEXT NOT NULL DEFAULT '{}',
                    status TEXT,
                    protected INTEGER NOT NULL DEFAULT 0,
                    updated_at REAL NOT NULL
                );
                CREATE TABLE intents (
                    address TEXT PRIMARY KEY NOT NULL,
                    site TEXT NOT NULL,
                    pod_uid TEXT NOT NULL,
                    action TEXT NOT NULL,
                    created_at REAL NOT NULL
                );
                CREATE TABLE locks (
                    scope TEXT PRIMARY KEY NOT NULL DEFAULT 'state' CHECK (scope = 'state'),
                    id TEXT NOT NULL UNIQUE,
                    holder TEXT NOT NULL,
                    operation TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    expires_at REAL NOT NULL,
                    heartbeat_at REAL NOT NULL
                );
                CREATE TABLE history (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    operation TEXT NOT NULL,
                    who TEXT NOT NULL,
                    git_commit TEXT,
                    started_at REAL NOT NULL,
                    finished_at REAL NOT NULL,
                    result TEXT NOT NULL,
                    summary TEXT NOT NULL,
                    serial_before INTEGER NOT NULL,
                    serial_after INTEGER NOT NULL
                );
                """)
        }
        m.registerMigration("v2: lock owner process") { db in
            try db.execute(sql: "ALTER TABLE locks ADD COLUMN host TEXT NOT NULL DEFAULT ''")
            try db.execute(sql: "ALTER TABLE locks ADD COLUMN pid INTEGER NOT NULL DEFAULT 0")
        }
        m.registerMigration("v3: topology outputs") { db in
            try db.execute(sql: "CREATE TABLE outputs (name TEXT PRIMARY KEY NOT NULL, value TEXT, note TEXT)")
        }
        m.registerMigration("v4: hook results in history") { db in
            try db.execute(sql: "ALTER TABLE history ADD COLUMN hooks TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(hooks))")
        }
        m.registerMigration("v5: reconcile records") { db in
            try db.execute(sql: """
                CREATE TABLE reconcile_records (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    source TEXT NOT NULL,
                    revision TEXT,
                    result TEXT NOT NULL,
                    started_at REAL NOT NULL,
                    finished_at REAL NOT NULL,
                    drift INTEGER NOT NULL DEFAULT 0 CHECK (drift >= 0),
                    actions TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(actions)),
                    message TEXT NOT NULL
                );
                CREATE TABLE reconcile_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                """)
        }
        m.registerMigration("v6: runs of schedules and triggers") { db in
            try db.execute(sql: """
                CREATE TABLE loop_runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    origin TEXT NOT NULL,
                    address TEXT NOT NULL,
                    generation INTEGER NOT NULL CHECK (generation >= 1),
                    site TEXT NOT NULL,
                    pod_uid TEXT,
                    job_id TEXT,
                    tick REAL,
                    item TEXT,
                    started_at REAL NOT NULL
                );
                CREATE INDEX loop_runs_by_address ON loop_runs (address, generation);
                CREATE TABLE trigger_seen (
                    trigger TEXT NOT NULL,
                    item TEXT NOT NULL,
                    seen_at REAL NOT NULL,
                    PRIMARY KEY (trigger, item)
                ) WITHOUT ROWID;
                """)
        }
        return m
    }

    /// Whether the process that took a lease on this host is gone (killed, crashed): its lease is void.
    static func holderIsDead(_ row: Row) -> Bool {
        let host: String = row["host"] ?? ""
        let pid: Int32 = row["pid"] ?? 0
        guard pid > 0, host == ProcessInfo.processInfo.hostName else { return false }
        if pid == getpid() { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    func wrap<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as StateError {
            throw e
        } catch {
            throw StateError(.io, "state \(what) failed at \(path): \(error)")
        }
    }

    static func serial(_ db: Database) throws -> Int {
        Int(try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'serial'") ?? "0") ?? 0
    }

    static func bump(_ db: Database) throws -> Int {
        let s = try serial(db) + 1
        try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'serial'", arguments: [String(s)])
        return s
    }

    static func record(_ row: Row) -> ResourceRecord {
        ResourceRecord(address: row["address"], site: row["site"], specHash: row["spec_hash"], spec: row["spec"],
                       generation: row["generation"], podUID: row["pod_uid"], jobID: row["job_id"], outputs: row["outputs"],
                       status: row["status"], protected: row["protected"])
    }

    public func snapshot() async throws -> StateSnapshot {
        try wrap("read") {
            try db.read { db in
                let lineage = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'lineage'") ?? ""
                let version = Int(try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'format_version'") ?? "1") ?? 1
                let rows = try Row.fetchAll(db, sql: "SELECT * FROM resources ORDER BY address")
                return StateSnapshot(formatVersion: version, lineage: lineage, serial: try Self.serial(db), resources: rows.map(Self.record))
            }
        }
    }

    public func resource(address: String) async throws -> ResourceRecord? {
        try wrap("read") {
            try db.read { try Row.fetchOne($0, sql: "SELECT * FROM resources WHERE address = ?", arguments: [address]).map(Self.record) }
        }
    }

    @discardableResult
    public func commit(_ r: ResourceRecord) async throws -> Int {
        try wrap("write") {
            try db.write { db in
                if let old = try Row.fetchOne(db, sql: "SELECT * FROM resources WHERE address = ?", arguments: [r.address]).map(Self.record),
                   old == r {
                    return try Self.serial(db)
                }
                try db.execute(sql: """
                    INSERT INTO resources (address, site, spec_hash, spec, generation, pod_uid, job_id, outputs, status, protected, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(address) DO UPDATE SET site = excluded.site, spec_hash = excluded.spec_hash, spec = excluded.spec,
                        generation = excluded.generation, pod_uid = excluded.pod_uid, job_id = excluded.job_id, outputs = excluded.outputs,
                        status = excluded.status, protected = excluded.protected, updated_at = excluded.updated_at
                    """, arguments: [r.address, r.site, r.specHash, r.spec, r.generation, r.podUID, r.jobID, r.outputs, r.status, r.protected,
                                     Date().timeIntervalSince1970])
                return try Self.bump(db)
            }
        }
    }

    @discardableResult
    public func remove(address: String) async throws -> Int {
        try wrap("write") {
            try db.write { db in
                try db.execute(sql: "DELETE FROM resources WHERE address = ?", arguments: [address])
                return db.changesCount > 0 ? try Self.bump(db) : try Self.serial(db)
            }
        }
    }

    public func addIntent(_ i: ApplyIntent) async throws {
        try wrap("write") {
            try db.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO intents (address, site, pod_uid, action, created_at) VALUES (?, ?, ?, ?, ?)",
                               arguments: [i.address, i.site, i.podUID, i.action, i.createdAt.timeIntervalSince1970])
            }
        }
    }

    public func clearIntent(address: String) async throws {
        try wrap("write") { try db.write { try $0.execute(sql: "DELETE FROM intents WHERE address = ?", arguments: [address]) } }
    }

    public func intents() async throws -> [ApplyIntent] {
        try wrap("read") {
            try db.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM intents ORDER BY address").map {
                    ApplyIntent(address: $0["address"], site: $0["site"], podUID: $0["pod_uid"], action: $0["action"],
                                createdAt: Date(timeIntervalSince1970: $0["created_at"]))
                }
            }
        }
    }

    static func lease(_ row: Row) -> LockLease {
        LockLease(id: row["id"], holder: row["holder"], operation: row["operation"],
                  createdAt: Date(timeIntervalSince1970: row["created_at"]), expiresAt: Date(timeIntervalSince1970: row["expires_at"]),
                  heartbeatAt: Date(timeIntervalSince1970: row["heartbeat_at"]))
    }

    public func acquireLock(holder: String, operation: String, ttl: TimeInterval) async throws -> LockLease {
        try wrap("lock") {
            try db.write { db in
                let now = Date()
                // an expired lease, or one whose process on this host is gone, is taken over
                if let row = try Row.fetchOne(db, sql: "SELECT * FROM locks"), case let held = Self.lease(row), held.expiresAt > now,
                   !Self.holderIsDead(row) {
                    let f = ISO8601DateFormatter()
                    let pid: Int = row["pid"] ?? 0, host: String = row["host"] ?? ""
                    let process = pid > 0 ? " by process \(pid) on \(host.isEmpty ? "an unknown host" : host)" : ""
                    throw StateError(.locked, """
                        the state is locked by \(held.holder) for \(held.operation) since \(f.string(from: held.createdAt))\(process) \
                        (lock \(held.id), expires \(f.string(from: held.expiresAt)) unless renewed); wait for it to finish, \
                        or run `dte state lock break \(held.id)` if that run is dead
                        """, holder: held)
                }
                try db.execute(sql: "DELETE FROM locks")
                let lease = LockLease(id: UUID().uuidString.lowercased(), holder: holder, operation: operation, createdAt: now,
                                      expiresAt: now.addingTimeInterval(ttl), heartbeatAt: now)
                try db.execute(sql: "INSERT INTO locks (id, holder, operation, created_at, expires_at, heartbeat_at, host, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               arguments: [lease.id, lease.holder, lease.operation, now.timeIntervalSince1970,
                                           lease.expiresAt.timeIntervalSince1970, now.timeIntervalSince1970,
                                           ProcessInfo.processInfo.hostName, Int(getpid())])
                return lease
            }
        }
    }

    public func heartbeat(_ lease: LockLease, ttl: TimeInterval) async throws -> LockLease {
        try wrap("lock") {
            try db.write { db in
                let now = Date()
                try db.execute(sql: "UPDATE locks SET heartbeat_at = ?, expires_at = ? WHERE id = ?",
                               arguments: [now.timeIntervalSince1970, now.addingTimeInterval(ttl).timeIntervalSince1970, lease.id])
                guard db.changesCount == 1 else {
                    throw StateError(.notLocked, "the lock \(lease.id) is no longer held (it expired or was broken); stop and rerun")
                }
                var l = lease
                l.heartbeatAt = now
                l.expiresAt = now.addingTimeInterval(ttl)
                return l
            }
        }
    }

    public func releaseLock(_ lease: LockLease) async throws {
        try wrap("lock") { try db.write { try $0.execute(sql: "DELETE FROM locks WHERE id = ?", arguments: [lease.id]) } }
    }

    public func locks() async throws -> [LockLease] {
        try wrap("read") { try db.read { try Row.fetchAll($0, sql: "SELECT * FROM locks").map(Self.lease) } }
    }

    public func breakLock(id: String) async throws {
        try wrap("lock") {
            try db.write { db in
                try db.execute(sql: "DELETE FROM locks WHERE id = ?", arguments: [id])
                guard db.changesCount == 1 else {
                    throw StateError(.lockNotFound, "no lock with id \(id); `dte state lock list` shows the current one")
                }
            }
        }
    }

    static func outputs(_ db: Database) throws -> [OutputValue] {
        try Row.fetchAll(db, sql: "SELECT * FROM outputs ORDER BY name").map { OutputValue(name: $0["name"], value: $0["value"], note: $0["note"]) }
    }

    public func setOutputs(_ outputs: [OutputValue]) async throws {
        try wrap("write") {
            try db.write { db in
                let sorted = outputs.sorted { $0.name < $1.name }
                guard try Self.outputs(db) != sorted else { return }
                try db.execute(sql: "DELETE FROM outputs")
                for o in sorted {
                    try db.execute(sql: "INSERT INTO outputs (name, value, note) VALUES (?, ?, ?)", arguments: [o.name, o.value, o.note])
                }
                _ = try Self.bump(db)
            }
        }
    }

    public func outputs() async throws -> [OutputValue] {
        try wrap("read") { try db.read(Self.outputs) }
    }

    public func appendHistory(_ e: HistoryEntry) async throws {
        try wrap("write") {
            try db.write { db in
                try db.execute(sql: """
                    INSERT INTO history (operation, who, git_commit, started_at, finished_at, result, summary, serial_before, serial_after, hooks)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [e.operation, e.who, e.gitCommit, e.startedAt.timeIntervalSince1970, e.finishedAt.timeIntervalSince1970,
                                     e.result, e.summary, e.serialBefore, e.serialAfter, e.hooks])
            }
        }
    }

    public func history(limit: Int) async throws -> [HistoryEntry] {
        try wrap("read") {
            try db.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM history ORDER BY id DESC LIMIT ?", arguments: [limit]).map {
                    HistoryEntry(id: $0["id"], operation: $0["operation"], who: $0["who"], gitCommit: $0["git_commit"],
                                 startedAt: Date(timeIntervalSince1970: $0["started_at"]), finishedAt: Date(timeIntervalSince1970: $0["finished_at"]),
                                 result: $0["result"], summary: $0["summary"], serialBefore: $0["serial_before"], serialAfter: $0["serial_after"],
                                 hooks: $0["hooks"])
                }
            }
        }
    }
}
