import Foundation

/// A managed resource as the state records it.
public struct ResourceRecord: Sendable, Codable, Hashable {
    /// `twin.<twin>.<component>` or `site.<site>`.
    public var address: String
    public var site: String
    /// A hash of the desired spec the resource was last applied with.
    public var specHash: String
    /// The spec itself (JSON), so plans can show attribute-level differences.
    public var spec: String
    /// Bumped by `replace`: part of the pod UID, so a replaced component gets a new job.
    public var generation: Int
    public var podUID: String?
    public var jobID: String?
    /// Outputs and attributes reported by the site (JSON object).
    public var outputs: String
    /// The last observed phase (pending, running, succeeded, failed…).
    public var status: String?
    public var protected: Bool

    public init(address: String, site: String, specHash: String, spec: String, generation: Int = 1, podUID: String? = nil,
                jobID: String? = nil, outputs: String = "{}", status: String? = nil, protected: Bool = false) {
        self.address = address
        self.site = site
        self.specHash = specHash
        self.spec = spec
        self.generation = generation
        self.podUID = podUID
        self.jobID = jobID
        self.outputs = outputs
        self.status = status
        self.protected = protected
    }
}

/// What the state held at one moment: plans are made against a snapshot.
public struct StateSnapshot: Sendable, Codable {
    public var formatVersion: Int
    /// Fixed when the state is created; a plan made against another lineage never applies.
    public var lineage: String
    /// Bumped whenever content changes; a plan made against an older serial is stale.
    public var serial: Int
    public var resources: [ResourceRecord]

    public func resource(_ address: String) -> ResourceRecord? {
        resources.first { $0.address == address }
    }
}

/// A topology output as last resolved: its value, or (nil) why it has none yet.
public struct OutputValue: Sendable, Codable, Hashable {
    /// `<twin>.<output>` for an output of a file that declares one twin, else the output's name.
    public var name: String
    public var value: String?
    /// Why there is no value yet, e.g. "twin.demo.hello has not reported exit_code (yet)".
    public var note: String?

    public init(name: String, value: String?, note: String?) {
        self.name = name
        self.value = value
        self.note = note
    }
}

/// A write-ahead record stored before an external create, so a killed apply can adopt instead of duplicating.
public struct ApplyIntent: Sendable, Codable, Hashable {
    public var address: String
    public var site: String
    public var podUID: String
    public var action: String
    public var createdAt: Date

    public init(address: String, site: String, podUID: String, action: String, createdAt: Date) {
        self.address = address
        self.site = site
        self.podUID = podUID
        self.action = action
        self.createdAt = createdAt
    }
}

/// A lease on the state: who holds it, for what, until when.
public struct LockLease: Sendable, Codable, Hashable {
    public var id: String
    public var holder: String
    public var operation: String
    public var createdAt: Date
    public var expiresAt: Date
    public var heartbeatAt: Date

    public init(id: String, holder: String, operation: String, createdAt: Date, expiresAt: Date, heartbeatAt: Date) {
        self.id = id
        self.holder = holder
        self.operation = operation
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.heartbeatAt = heartbeatAt
    }
}

/// One finished (or failed) operation on the state.
public struct HistoryEntry: Sendable, Codable, Hashable {
    public var id: Int64?
    public var operation: String
    public var who: String
    public var gitCommit: String?
    public var startedAt: Date
    public var finishedAt: Date
    public var result: String
    public var summary: String
    public var serialBefore: Int
    public var serialAfter: Int
    /// What the reconciliation hooks said during the operation: a JSON array of hook results
    /// (name, phase, verdict, blocking, summary, evidence, remedy, subject); `[]` when none ran.
    public var hooks: String

    public init(id: Int64? = nil, operation: String, who: String, gitCommit: String?, startedAt: Date, finishedAt: Date, result: String,
                summary: String, serialBefore: Int, serialAfter: Int, hooks: String = "[]") {
        self.id = id
        self.operation = operation
        self.who = who
        self.gitCommit = gitCommit
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.result = result
        self.summary = summary
        self.serialBefore = serialBefore
        self.serialAfter = serialAfter
        self.hooks = hooks
    }
}

/// Errors of the state layer; each says what to do.
public struct StateError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable { case locked, notLocked, lockNotFound, stale, corrupt, io }
    public var code: Code
    public var message: String
    /// The lease that blocked the caller, for `locked`.
    public var holder: LockLease?

    public init(_ code: Code, _ message: String, holder: LockLease? = nil) {
        self.code = code
        self.message = message
        self.holder = holder
    }

    public var description: String { message }
}

/// Where plan and apply keep what they manage. Implementations run the shared conformance tests.
///
/// Contract: `commit` and `remove` bump the serial only when the content changes; a lock is a
/// lease that expires unless heartbeated; `breakLock` removes a lease whoever holds it.
public protocol StateStore: Sendable {
    func snapshot() async throws -> StateSnapshot
    /// One resource, without reading the others.
    func resource(address: String) async throws -> ResourceRecord?
    /// Records a resource (insert or replace); returns the new serial.
    @discardableResult func commit(_ resource: ResourceRecord) async throws -> Int
    /// Forgets a resource; returns the new serial.
    @discardableResult func remove(address: String) async throws -> Int

    func addIntent(_ intent: ApplyIntent) async throws
    func clearIntent(address: String) async throws
    func intents() async throws -> [ApplyIntent]

    /// Takes the lock, or throws `locked` with the holder's lease.
    func acquireLock(holder: String, operation: String, ttl: TimeInterval) async throws -> LockLease
    func heartbeat(_ lease: LockLease, ttl: TimeInterval) async throws -> LockLease
    func releaseLock(_ lease: LockLease) async throws
    func locks() async throws -> [LockLease]
    func breakLock(id: String) async throws

    /// Replaces the recorded topology outputs (the serial moves only when they change).
    func setOutputs(_ outputs: [OutputValue]) async throws
    /// The recorded topology outputs, by name.
    func outputs() async throws -> [OutputValue]

    func appendHistory(_ entry: HistoryEntry) async throws
    func history(limit: Int) async throws -> [HistoryEntry]
}
