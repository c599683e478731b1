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
    public var request: SlurmJobRequest
    public var status: PodStatus?
    public var deleteRequested: Bool
    public var createdAt: Double
    public var updatedAt: Double
    public var finishedAt: Double?

    public init(uid: String, namespace: String, name: String, jobID: String?, phase: Phase, podDir: String,
                initContainers: [TrackedContainer], containers: [TrackedContainer], request: SlurmJobRequest,
                status: PodStatus? = nil, deleteRequested: Bool = false, createdAt: Double, updatedAt: Double,
                finishedAt: Double? = nil) {
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

    var mapping: StatusMapping {
        StatusMapping(initContainers: initContainers, containers: containers, podDir: podDir)
    }
}

/// The agent's durable state: an SQLite database (WAL) in the state folder.
public struct PodStore: Sendable {
    let writer: any DatabaseWriter

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
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
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
        do { try migrator.migrate(writer) } catch {
            throw AgentError(.storeFailure, "cannot migrate the agent database", cause: error)
        }
    }

    private func write<T: Sendable>(_ what: String, _ body: @Sendable (Database) throws -> T) throws(AgentError) -> T {
        do { return try writer.write(body) } catch {
            throw AgentError(.storeFailure, "database write failed: \(what)", cause: error)
        }
    }

    private func read<T: Sendable>(_ what: String, _ body: @Sendable (Database) throws -> T) throws(AgentError) -> T {
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
