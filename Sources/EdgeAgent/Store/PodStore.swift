import Foundation
import GRDB
import PodWire

/// One pod the agent tracks (table `pod`). Holds no secret: the pod's ConfigMaps and
/// Secrets live only in its folder.
public struct PodRecord: Codable, Sendable, Hashable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "pod"

    /// Where a pod is in its life at this agent.
    public enum Phase: String, Codable, Sendable {
        /// The create intent is stored; the job may or may not exist yet.
        case submitting
        /// The job exists; its status is polled.
        case active
        /// The job has ended; `status` holds the final status.
        case finished
    }

    public var uid: String
    public var namespace: String
    public var name: String
    public var jobID: String?
    public var phase: Phase
    public var podDir: String
    public var initContainers: [TrackedContainer]
    public var containers: [TrackedContainer]
    public var request: BatchJobRequest
    public var status: PodStatus?
    public var deleteRequested: Bool
    public var createdAt: Double
    public var updatedAt: Double
    public var finishedAt: Double?
    /// Who created the pod: the token's `voperson_id` (else `sub`) and issuer; "local" without OIDC.
    public var ownerSubject: String
    public var ownerIssuer: String?

    public init(uid: String, namespace: String, name: String, jobID: String?, phase: Phase, podDir: String,
                initContainers: [TrackedContainer], containers: [TrackedContainer], request: BatchJobRequest,
                status: PodStatus? = nil, deleteRequested: Bool = false, createdAt: Double, updatedAt: Double,
                finishedAt: Double? = nil, ownerSubject: String = Caller.local.subject, ownerIssuer: String? = nil) {
        self.ownerSubject = ownerSubject
        self.ownerIssuer = ownerIssuer
        self.uid = uid
        self.namespace = namespace
        self.name = name
        self.jobID = jobID
        self.phase = phase
        self.podDir = podDir
        self.initContainers = initContainers
        self.containers = containers
        self.request = request
        self.status = status
        self.deleteRequested = deleteRequested
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.finishedAt = finishedAt
    }

    /// The creator as a caller (without entitlements).
    public var owner: Caller { Caller(issuer: ownerIssuer, subject: ownerSubject, entitlements: [], expiresAt: nil) }

    var mapping: StatusMapping {
        StatusMapping(initContainers: initContainers, containers: containers, podDir: podDir)
    }

    /// Columns written by hand (GRDB's Codable encoder costs more than the SQL itself).
    public func encode(to container: inout PersistenceContainer) throws {
        let encoder = JSONEncoder()
        func json<T: Encodable>(_ value: T) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
        container["uid"] = uid
        container["namespace"] = namespace
        container["name"] = name
        container["jobID"] = jobID
        container["phase"] = phase.rawValue
        container["podDir"] = podDir
        container["initContainers"] = try json(initContainers)
        container["containers"] = try json(containers)
        container["request"] = try json(request)
        container["status"] = try status.map(json)
        container["deleteRequested"] = deleteRequested
        container["createdAt"] = createdAt
        container["updatedAt"] = updatedAt
        container["finishedAt"] = finishedAt
        container["ownerSubject"] = ownerSubject
        container["ownerIssuer"] = ownerIssuer
    }
}

/// A change to the store, applied by `PodStore.perform` together with the other changes
/// that arrive meanwhile (one transaction per burst).
public enum StoreChange: Sendable {
    /// Inserts a new pod (the create intent).
    case insert(PodRecord)
    /// Inserts or replaces a pod.
    case save(PodRecord)
    /// Records the job of a submitted pod.
    case submitted(uid: String, jobID: String, updatedAt: Double)
    /// Marks a pod for deletion.
    case deleteRequested(uid: String, updatedAt: Double)
    /// Records the final status of a pod whose job ended.
    case finished(uid: String, status: PodStatus, finishedAt: Double)
    /// Forgets a pod.
    case delete(uid: String)
    /// Queues the collection of a pod's usage once its job ended (nothing when it has no job or is queued already).
    case queueUsage(uid: String, at: Double)

    func apply(_ db: Database) throws {
        switch self {
        case .insert(let record): try record.insert(db)
        case .save(let record): try record.save(db)
        case .submitted(let uid, let jobID, let updatedAt):
            try db.cachedStatement(sql: "UPDATE pod SET jobID = ?, phase = 'active', updatedAt = ? WHERE uid = ?")
                .execute(arguments: [jobID, updatedAt, uid])
        case .deleteRequested(let uid, let updatedAt):
            try db.cachedStatement(sql: "UPDATE pod SET deleteRequested = 1, updatedAt = ? WHERE uid = ?")
                .execute(arguments: [updatedAt, uid])
        case .finished(let uid, let status, let finishedAt):
            let text = String(decoding: try JSONEncoder().encode(status), as: UTF8.self)
            try db.cachedStatement(sql: "UPDATE pod SET phase = 'finished', status = ?, finishedAt = ?, updatedAt = ? WHERE uid = ?")
                .execute(arguments: [text, finishedAt, finishedAt, uid])
        case .delete(let uid):
            try db.cachedStatement(sql: "DELETE FROM pod WHERE uid = ?").execute(arguments: [uid])
        case .queueUsage(let uid, let at):
            try UsageStore.queue(db, uid: uid, at: at)
        }
    }
}

/// Group commit: changes that arrive while a transaction runs wait for the next one, which
/// then applies all of them at once. Every caller returns only after its change is committed.
final class StoreBatcher: @unchecked Sendable {
    private let writer: any DatabaseWriter
    private let queue = DispatchQueue(label: "dte-agent.store")
    private let lock = NSLock()
    // Guarded by `lock`.
    private var pending: [(changes: [StoreChange], done: CheckedContinuation<Void, any Error>)] = []
    private var draining = false

    init(writer: any DatabaseWriter) { self.writer = writer }

    func perform(_ changes: [StoreChange]) async throws {
        guard !changes.isEmpty else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            lock.lock()
            pending.append((changes, continuation))
            let start = !draining
            draining = true
            lock.unlock()
            if start { queue.async { self.drain() } }
        }
    }

    private func drain() {
        while true {
            lock.lock()
            let batch = pending
            pending = []
            if batch.isEmpty { draining = false }
            lock.unlock()
            if batch.isEmpty { return }
            do {
                try writer.write { db in for item in batch { for change in item.changes { try change.apply(db) } } }
                for item in batch { item.done.resume() }
            } catch {
                // One bad call must not fail the others: retry them one by one.
                for item in batch {
                    do {
                        try writer.write { db in for change in item.changes { try change.apply(db) } }
                        item.done.resume()
                    } catch { item.done.resume(throwing: error) }
                }
            }
        }
    }
}

/// The agent's durable state: an SQLite database (WAL) in the state folder.
public struct PodStore: Sendable {
    let writer: any DatabaseWriter
    let batcher: StoreBatcher

    init(writer: any DatabaseWriter) {
        self.writer = writer
        self.batcher = StoreBatcher(writer: writer)
    }

    /// Applies `changes` in one transaction, together with other callers' changes that
    /// arrive meanwhile; returns once they are committed.
    public func perform(_ changes: [StoreChange]) async throws(AgentError) {
        do { try await batcher.perform(changes) } catch {
            throw AgentError(.storeFailure, "database write failed", cause: error)
        }
    }

    /// The stored status of finished pods, by UID.
    public func statuses(of uids: [String]) throws(AgentError) -> [String: PodStatus] {
        guard !uids.isEmpty else { return [:] }
        return try read("read statuses") { db in
            var result: [String: PodStatus] = [:]
            let decoder = JSONDecoder()
            for start in stride(from: 0, to: uids.count, by: 500) {
                let chunk = Array(uids[start..<min(start + 500, uids.count)])
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let rows = try Row.fetchCursor(db, sql: "SELECT uid, status FROM pod WHERE status IS NOT NULL AND uid IN (\(marks))",
                                               arguments: StatementArguments(chunk))
                while let row = try rows.next() {
                    let uid: String = row["uid"]
                    let text: String = row["status"]
                    result[uid] = try decoder.decode(PodStatus.self, from: Data(text.utf8))
                }
            }
            return result
        }
    }

    /// Opens (creating if needed) `<stateDir>/agent.db`, readable by its owner only.
    public static func open(stateDir: String) throws(AgentError) -> PodStore {
        do {
            try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let path = (stateDir as NSString).appendingPathComponent("agent.db")
            var config = Configuration()
            config.busyMode = .timeout(10)
            // WAL with synchronous=NORMAL survives a crash of the agent (kill -9); only a
            // power loss can drop the last commits.
            // A page cache of 512 KiB per connection (SQLite's default is 2 MiB, for each of the
            // writer and the readers): the pods' rows are read once at start and written one at
            // a time; the file's pages stay in the system's cache anyway.
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -512") }
            let pool = try DatabasePool(path: path, configuration: config)
            chmod(path, 0o600)
            let store = PodStore(writer: pool)
            try store.migrate()
            return store
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError(.storeFailure, "cannot open the agent database in \(stateDir)", cause: error)
        }
    }

    /// An in-memory store, for tests.
    public static func inMemory() throws(AgentError) -> PodStore {
        do {
            let store = PodStore(writer: try DatabaseQueue())
            try store.migrate()
            return store
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError(.storeFailure, "cannot create an in-memory database", cause: error)
        }
    }

    func migrate() throws(AgentError) {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "pod") { t in
                t.primaryKey("uid", .text)
                t.column("namespace", .text).notNull()
                t.column("name", .text).notNull()
                t.column("jobID", .text)
                t.column("phase", .text).notNull()
                t.column("podDir", .text).notNull()
                t.column("initContainers", .jsonText).notNull()
                t.column("containers", .jsonText).notNull()
                t.column("request", .jsonText).notNull()
                t.column("status", .jsonText)
                t.column("deleteRequested", .boolean).notNull().defaults(to: false)
                t.column("createdAt", .double).notNull()
                t.column("updatedAt", .double).notNull()
                t.column("finishedAt", .double)
            }
            try db.create(index: "pod_phase", on: "pod", columns: ["phase"])
            try db.create(table: "setting") { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
            }
        }
        migrator.registerMigration("v2-owner") { db in
            try db.alter(table: "pod") { t in
                t.add(column: "ownerSubject", .text).notNull().defaults(to: "local")
                t.add(column: "ownerIssuer", .text)
            }
        }
        migrator.registerMigration("v3-usage") { db in try UsageStore.createTable(db) }
        do { try migrator.migrate(writer) } catch {
            throw AgentError(.storeFailure, "cannot migrate the agent database", cause: error)
        }
    }

    func write<T: Sendable>(_ what: String, _ body: @Sendable (Database) throws -> T) throws(AgentError) -> T {
        do { return try writer.write(body) } catch {
            throw AgentError(.storeFailure, "database write failed: \(what)", cause: error)
        }
    }

    func read<T: Sendable>(_ what: String, _ body: @Sendable (Database) throws -> T) throws(AgentError) -> T {
        do { return try writer.read(body) } catch {
            throw AgentError(.storeFailure, "database read failed: \(what)", cause: error)
        }
    }

    /// This agent's instance identifier, created once per state folder.
    public func instanceID() throws(AgentError) -> String {
        try write("instance id") { db in
            if let value = try String.fetchOne(db, sql: "SELECT value FROM setting WHERE key = 'instance'") { return value }
            let value = String(UUID().uuidString.lowercased().prefix(8))
            try db.execute(sql: "INSERT INTO setting (key, value) VALUES ('instance', ?)", arguments: [value])
            return value
        }
    }

    public func save(_ record: PodRecord) throws(AgentError) {
        try write("save pod \(record.uid)") { db in try record.save(db) }
    }

    public func find(_ uid: String) throws(AgentError) -> PodRecord? {
        try read("find pod \(uid)") { db in try PodRecord.fetchOne(db, key: uid) }
    }

    public func all() throws(AgentError) -> [PodRecord] {
        try read("list pods") { db in try PodRecord.fetchAll(db) }
    }

    public func delete(_ uid: String) throws(AgentError) {
        try write("delete pod \(uid)") { db in _ = try PodRecord.deleteOne(db, key: uid) }
    }
}
