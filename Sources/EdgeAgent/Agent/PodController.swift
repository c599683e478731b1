import Foundation
import Logging
import PodWire

/// The agent's core: creates pods as Slurm jobs, deletes them, answers status from a cache
/// filled by one Slurm query per poll, and keeps every pod in the store so a restart loses
/// nothing.
///
/// Contract (as virtual-kubelet's provider contract): `create` is idempotent on the pod UID
/// (concurrent and repeated calls get the same job); `delete` may be called more than once
/// and for pods the agent never saw.
///
/// The in-memory bookkeeping is a `PodRegistry`; each concern of the controller has its own
/// file: PodController+Create (create, submission), +Delete (delete, forget), +Status (the
/// answers: status, ping, logs, health), +Poll (the reconcile loop: one Slurm query, finished
/// pods, deletions, orphans, retention) and +Recovery (creates left unconfirmed). File and
/// SQLite reads of many pods run off the actor.
public actor PodController {
    nonisolated public let configuration: AgentConfiguration
    nonisolated public let builder: PodJobBuilder
    let backend: any BatchBackend
    let store: PodStore
    let logger: Logger

    /// Every pod, compact, each with its `/status` entry encoded (no `PodStatus` kept per pod).
    var registry: PodRegistry
    /// Creates in progress, by UID (a second create of the same UID waits for the first).
    var inFlight: [String: Task<CreateResponse, any Error>] = [:]
    /// When an active pod's job was first missing from slurmctld and accounting.
    var missingSince: [String: Double] = [:]
    /// slurmctld's time of the last job change in the last answer, and when it last sent all.
    var lastJobsUpdate: Double?
    var lastFullPoll = 0.0
    var lastCancel: [String: Double] = [:]
    /// When a submission last ended without an answer (deadline passed, Slurm unreachable):
    /// recovery looks for its job only after `backend-timeout` more, and never resubmits
    /// while the backend may still deliver it.
    var unconfirmedSince: [String: Double] = [:]
    var recovering = false
    var capacity: ClusterCapacity?
    var lastPollError: String?
    var lastPollAt: Double?
    /// Jobs this agent instance submitted that match no pod it knows (reported, never cancelled).
    var orphanJobs: [BatchJobStatus] = []
    var counters = Counters()
    /// What `/metrics` serves.
    nonisolated public let metrics = AgentMetrics()

    /// Totals since start, for `/metrics`.
    public struct Counters: Sendable {
        public var created = 0, createErrors = 0, deleted = 0, polls = 0, pollErrors = 0
        public var lastPollSeconds = 0.0
    }

    public init(configuration: AgentConfiguration, backend: any BatchBackend, store: PodStore,
                logger: Logger) throws(AgentError) {
        self.configuration = configuration
        self.backend = backend
        self.store = store
        self.logger = logger
        let builder = PodJobBuilder(configuration: configuration, instanceID: try store.instanceID())
        self.builder = builder
        let renderer = StatusRenderer(scheduler: backend.schedulerName,
                                      podDirectory: { [builder] in builder.podDirectory(namespace: $0, uid: $1) })
        self.registry = PodRegistry(records: try store.all(), renderer: renderer)
        for (project, total) in try store.usageTotals() {
            metrics.addUsage(project: project, coreSeconds: total.coreSeconds, gpuSeconds: total.gpuSeconds)
        }
    }

    func podDir(_ pod: TrackedPod) -> String { registry.renderer.podDir(pod) }

    func mapping(_ pod: TrackedPod) -> StatusMapping { registry.renderer.mapping(pod) }

    static func now() -> Double { Date().timeIntervalSince1970 }

    static func agentError(_ error: any Error) -> AgentError {
        (error as? AgentError) ?? AgentError(.internalFailure, "unexpected failure", cause: error)
    }

    static func named(_ meta: ObjectMeta) -> String {
        String((meta.uid.isEmpty ? "\(meta.namespace)/\(meta.name)" : meta.uid).prefix(200))
    }

    /// The prefix of the comment of every job this agent instance submits (then the pod's UID).
    var jobCommentPrefix: String { "dte-agent:\(builder.instanceID):" }
}

/// `/healthz` body: nothing but whether the agent works.
public struct PublicHealth: Codable, Sendable {
    public var status: String
}

/// `/v1/health` body.
public struct AgentHealth: Codable, Sendable {
    public var status: String
    public var instance: String
    public var runtime: String
    public var pods: Int
    public var activePods: Int
    public var lastPoll: WireTime?
    public var lastPollError: String?
    public var orphanJobs: [String]
    public var capacity: ClusterCapacity?
}

/// Where a pod's logs are.
public struct PodLogTarget: Sendable {
    public var uid: String
    public var podDir: String
    public var initContainers: [String]
    public var containers: [String]
}
