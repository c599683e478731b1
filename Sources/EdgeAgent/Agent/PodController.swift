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
public actor PodController {
    nonisolated public let configuration: AgentConfiguration
    nonisolated public let builder: PodJobBuilder
    let backend: any BatchBackend
    let store: PodStore
    let logger: Logger

    private var pods: [String: PodRecord] = [:]
    private var cache: [String: PodStatus] = [:]
    private var inFlight: [String: Task<CreateResponse, any Error>] = [:]
    private var missingSince: [String: Double] = [:]
    private var lastCancel: [String: Double] = [:]
    private(set) var capacity: ClusterCapacity?
    private(set) var lastPollError: String?
    private(set) var lastPollAt: Double?
    /// Jobs this agent instance submitted that match no pod it knows (reported, never cancelled).
    private(set) var orphanJobs: [SlurmJobInfo] = []
    private(set) var counters = Counters()

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
        self.builder = PodJobBuilder(configuration: configuration, instanceID: try store.instanceID())
        var loaded: [String: PodRecord] = [:]
        var statuses: [String: PodStatus] = [:]
        for record in try store.all() {
            loaded[record.uid] = record
            if let status = record.status { statuses[record.uid] = status }
        }
        self.pods = loaded
        self.cache = statuses
    }

    static func now() -> Double { Date().timeIntervalSince1970 }

    // MARK: - Create

    /// Creates the pod's job, or returns the job it already has.
    public func create(_ data: RetrievedPodData) async throws(AgentError) -> CreateResponse {
        let uid = data.pod.metadata.uid
        guard PodValidation.isUID(uid) else {
            throw AgentError.invalid("metadata.uid '\(uid)' is missing or not a UID (letters, digits, dashes)")
        }
        if let existing = pods[uid], let job = existing.jobID {
            return CreateResponse(podUID: uid, podJID: job)
        }
        if let running = inFlight[uid] {
            return try await Self.value(of: running)
        }
        if pods[uid]?.phase == .submitting {
            // An interrupted create from before a restart; recovery adopts or resubmits it.
            throw AgentError(.conflict, "pod \(uid) is being recovered after a restart; retry in a few seconds")
        }
        let task = Task { try await self.performCreate(data) }
        inFlight[uid] = task
        let result = await task.result
        inFlight[uid] = nil
        switch result {
        case .success(let response):
            counters.created += 1
            return response
        case .failure(let error):
            counters.createErrors += 1
            throw Self.agentError(error)
        }
    }

    private static func value(of task: Task<CreateResponse, any Error>) async throws(AgentError) -> CreateResponse {
        switch await task.result {
        case .success(let response): return response
        case .failure(let error): throw agentError(error)
        }
    }

    static func agentError(_ error: any Error) -> AgentError {
        (error as? AgentError) ?? AgentError(.internalFailure, "unexpected failure", cause: error)
    }

    private func performCreate(_ data: RetrievedPodData) async throws(AgentError) -> CreateResponse {
        let meta = data.pod.metadata
        var afterOK: [String] = []
        for dependency in try PodJobBuilder.dependencyUIDs(of: data.pod) {
            guard let other = pods[dependency] else {
                throw AgentError.invalid("annotation dte.io/after names pod \(dependency), which this agent does not know")
            }
            if other.phase == .finished {
                let failed = (other.status?.containers ?? []).contains { ($0.state.terminated?.exitCode ?? 1) != 0 }
                if failed { throw AgentError(.conflict, "pod \(dependency) named in dte.io/after has failed") }
            } else if let job = other.jobID {
                afterOK.append(job)
            } else {
                throw AgentError(.conflict, "pod \(dependency) named in dte.io/after has no job yet; retry")
            }
        }
        let job = try builder.build(data, afterOK: afterOK)
        guard pods.count < configuration.maxPods else {
            throw AgentError(.conflict, "the agent already tracks \(pods.count) pods (max-pods \(configuration.maxPods)); "
                                + "delete finished pods or raise max-pods")
        }
        let now = Self.now()
        var record = PodRecord(
            uid: meta.uid, namespace: meta.namespace, name: meta.name, jobID: nil, phase: .submitting,
            podDir: job.podDir,
            initContainers: data.pod.spec.initContainers.map { TrackedContainer(name: $0.name, image: $0.image) },
            containers: data.pod.spec.containers.map { TrackedContainer(name: $0.name, image: $0.image) },
            request: job.request, createdAt: now, updatedAt: now)
        try store.save(record)
        pods[record.uid] = record
        do {
            try PodFolder.write(job)
            let id = try await backend.submit(job.request, script: job.batchScript, scriptPath: "\(job.podDir)/job.slurm")
            record.jobID = id
            record.phase = .active
            record.updatedAt = Self.now()
            if let latest = pods[record.uid] { record.deleteRequested = latest.deleteRequested }
            pods[record.uid] = record
            try store.save(record)
            cache[record.uid] = podStatus(record, record.mapping.submitted())
            logger.info("pod created", metadata: ["pod": "\(meta.namespace)/\(meta.name)", "uid": "\(meta.uid)", "job": "\(id)"])
            return CreateResponse(podUID: record.uid, podJID: id)
        } catch {
            if record.jobID == nil {
                pods[record.uid] = nil
                try? store.delete(record.uid)
                PodFolder.remove(job.podDir, workDir: configuration.workDir)
            }
            logger.warning("pod create failed", metadata: ["uid": "\(meta.uid)", "error": "\(error)"])
            throw error
        }
    }

    // MARK: - Delete

    /// Cancels the pod's job and forgets the pod once Slurm confirms; unknown pods are fine.
    public func delete(_ pod: Pod) async -> String {
        let uid = pod.metadata.uid
        guard var record = pods[uid] ?? pods.values.first(where: {
            uid.isEmpty && $0.namespace == pod.metadata.namespace && $0.name == pod.metadata.name
        }) else {
            return "pod \(uid.isEmpty ? pod.metadata.name : uid) is not known to this agent; nothing to delete\n"
        }
        counters.deleted += 1
        record.deleteRequested = true
        record.updatedAt = Self.now()
        pods[record.uid] = record
        try? store.save(record)
        if record.phase == .finished {
            forget(record)
            return "pod \(record.uid) deleted\n"
        }
        if let job = record.jobID {
            do {
                try await backend.cancel(jobID: job)
                lastCancel[record.uid] = Self.now()
                logger.info("pod deleted; job cancelled", metadata: ["uid": "\(record.uid)", "job": "\(job)"])
            } catch {
                logger.warning("cancel failed; will retry", metadata: ["uid": "\(record.uid)", "job": "\(job)", "error": "\(error)"])
            }
        }
        return "pod \(record.uid) deletion requested; job \(record.jobID ?? "-") is being cancelled\n"
    }

    private func forget(_ record: PodRecord) {
        pods[record.uid] = nil
        cache[record.uid] = nil
        missingSince[record.uid] = nil
        lastCancel[record.uid] = nil
        try? store.delete(record.uid)
        PodFolder.remove(record.podDir, workDir: configuration.workDir)
    }

    // MARK: - Status

    /// Statuses of the given pods that this agent knows, from the poller's cache.
    public func statuses(of requested: [Pod]) -> [PodStatus] {
        requested.compactMap { pod in
            let uid = pod.metadata.uid
            if let status = cache[uid] { return status }
            guard let record = pods[uid] else { return nil }
            return podStatus(record, record.mapping.submitted())
        }
    }

    /// The answer to the ping: what the cluster has free now.
    public func ping() async throws(AgentError) -> PingResponse {
        if self.capacity == nil { self.capacity = try await backend.capacity() }
        guard let capacity else {
            throw AgentError(.backendFailure, "cluster capacity not known yet: \(lastPollError ?? "first poll pending")")
        }
        return PingResponse(
            status: lastPollError == nil ? "ok" : "degraded: \(lastPollError ?? "")",
            resources: .init(cpu: String(capacity.freeCPUs), memory: Quantity.mebibytes(capacity.freeMemoryMiB),
                             pods: String(max(0, configuration.maxPods - pods.count)),
                             accelerators: [.init(resourceType: "nvidia.com/gpu", available: String(capacity.freeGPUs))]))
    }

    /// A summary for `/healthz`.
    public func health() -> AgentHealth {
        AgentHealth(
            status: lastPollError == nil && lastPollAt != nil ? "ok" : (lastPollAt == nil ? "starting" : "degraded"),
            instance: builder.instanceID, runtime: configuration.runtime.rawValue,
            pods: pods.count, activePods: pods.values.filter { $0.phase != .finished }.count,
            lastPoll: lastPollAt.map { WireTime(secondsSince1970: $0) }, lastPollError: lastPollError,
            orphanJobs: orphanJobs.map(\.jobID), capacity: capacity)
    }

    public func metricCounters() -> (Counters, Int, Int) {
        (counters, pods.count, pods.values.filter { $0.phase != .finished }.count)
    }

    /// The pod record for a log request (by UID, else by namespace and name).
    public func record(uid: String, namespace: String, name: String) -> PodRecord? {
        if let record = pods[uid] { return record }
        return pods.values.first { $0.namespace == namespace && $0.name == name }
    }

    /// Whether the pod's job has ended (for following logs).
    public func isFinished(uid: String) -> Bool {
        guard let record = pods[uid] else { return true }
        return record.phase == .finished
    }

    private func podStatus(_ record: PodRecord, _ outcome: StatusMapping.Outcome) -> PodStatus {
        PodStatus(name: record.name, uid: record.uid, namespace: record.namespace, jobID: record.jobID ?? "",
                  containers: outcome.containers, initContainers: outcome.initContainers)
    }

    // MARK: - Poll

    /// One poll: one query for all jobs, statuses updated, finished pods stored, deletions
    /// retried, capacity refreshed, old pods removed.
    public func pollOnce() async {
        let started = Self.now()
        counters.polls += 1
        let jobs: [String: SlurmJobInfo]
        do {
            jobs = try await backend.jobs()
        } catch {
            counters.pollErrors += 1
            lastPollError = error.message
            logger.warning("poll failed", metadata: ["error": "\(error)"])
            return
        }
        do {
            capacity = try await backend.capacity()
        } catch {
            logger.warning("capacity query failed; keeping the last known", metadata: ["error": "\(error)"])
        }
        var missing: [PodRecord] = []
        for record in pods.values where record.phase == .active {
            guard let id = record.jobID else { continue }
            if let job = jobs[id] {
                missingSince[record.uid] = nil
                update(record, job: job)
            } else if record.updatedAt < started - 1 {
                missing.append(record)
            }
        }
        if !missing.isEmpty {
            let accounted = (try? await backend.accounting(jobIDs: missing.compactMap(\.jobID))) ?? [:]
            for record in missing {
                guard let current = pods[record.uid], current.phase == .active, let id = current.jobID else { continue }
                if let job = accounted[id], job.state.isTerminal {
                    update(current, job: job)
                } else {
                    let since = missingSince[record.uid] ?? started
                    missingSince[record.uid] = since
                    if started - since >= max(30, configuration.pollIntervalSeconds * 5) {
                        logger.warning("job gone from Slurm and accounting; resolving from its folder",
                                       metadata: ["uid": "\(record.uid)", "job": "\(id)"])
                        update(current, job: nil)
                    }
                }
            }
        }
        await retryDeletes(jobs: jobs)
        findOrphans(jobs)
        expireFinished(now: started)
        lastPollError = nil
        lastPollAt = Self.now()
        counters.lastPollSeconds = Self.now() - started
    }

    private func update(_ record: PodRecord, job: SlurmJobInfo?) {
        let now = Self.now()
        let needsFiles = job.map { $0.state != .pending } ?? true
        let podDir = record.podDir
        let outcome = record.mapping.map(
            job: job, now: now,
            read: { needsFiles ? ContainerRecord.read(podDir: podDir, prefix: $0) : nil },
            jobOutput: { PodFolder.tail(of: "\(podDir)/job.out", bytes: 65_536) })
        let status = podStatus(record, outcome)
        cache[record.uid] = status
        if outcome.isTerminal {
            var finished = record
            finished.phase = .finished
            finished.status = status
            finished.finishedAt = now
            finished.updatedAt = now
            pods[record.uid] = finished
            missingSince[record.uid] = nil
            do { try store.save(finished) } catch {
                logger.error("cannot store a finished pod", metadata: ["uid": "\(record.uid)", "error": "\(error)"])
            }
            logger.info("pod finished", metadata: ["uid": "\(record.uid)", "job": "\(record.jobID ?? "-")",
                                                   "state": "\(job?.state.rawValue ?? "gone")"])
        }
    }

    private func retryDeletes(jobs: [String: SlurmJobInfo]) async {
        for record in pods.values where record.deleteRequested {
            if record.phase == .finished {
                forget(record)
                continue
            }
            guard record.phase == .active, let id = record.jobID else { continue }
            if let job = jobs[id], !job.state.isTerminal {
                if Self.now() - (lastCancel[record.uid] ?? 0) >= configuration.pollIntervalSeconds {
                    do {
                        try await backend.cancel(jobID: id)
                        lastCancel[record.uid] = Self.now()
                    } catch {
                        logger.warning("cancel retry failed", metadata: ["uid": "\(record.uid)", "job": "\(id)", "error": "\(error)"])
                    }
                }
            } else if let current = pods[record.uid] {
                forget(current)
            }
        }
    }

    private func findOrphans(_ jobs: [String: SlurmJobInfo]) {
        let prefix = "dte-agent:\(builder.instanceID):"
        let known = Set(pods.values.compactMap(\.jobID))
        var found: [SlurmJobInfo] = []
        for job in jobs.values {
            guard let comment = job.comment, comment.hasPrefix(prefix), !known.contains(job.jobID) else { continue }
            let uid = String(comment.dropFirst(prefix.count))
            if pods[uid]?.phase == .submitting { continue }
            found.append(job)
        }
        if Set(found.map(\.jobID)) != Set(orphanJobs.map(\.jobID)), !found.isEmpty {
            logger.warning("jobs submitted by this agent match no known pod",
                           metadata: ["jobs": "\(found.map(\.jobID).sorted().joined(separator: ","))"])
        }
        orphanJobs = found.sorted { $0.jobID < $1.jobID }
    }

    private func expireFinished(now: Double) {
        let limit = now - Double(configuration.retentionSeconds)
        for record in pods.values where record.phase == .finished && (record.finishedAt ?? now) < limit {
            logger.info("removing an expired pod", metadata: ["uid": "\(record.uid)"])
            forget(record)
        }
    }

    // MARK: - Recovery

    /// After a restart: adopt jobs of pods whose create was interrupted (matching the job
    /// comment), resubmit those whose job never reached Slurm, and report unknown jobs.
    public func recover() async throws(AgentError) {
        let submitting = pods.values.filter { $0.phase == .submitting }
        guard !submitting.isEmpty else { return }
        let jobs = try await backend.jobs()
        var byComment: [String: SlurmJobInfo] = [:]
        for job in jobs.values { if let comment = job.comment { byComment[comment] = job } }
        for var record in submitting {
            if let job = byComment[record.request.comment] {
                record.jobID = job.jobID
                logger.info("adopted the job of an interrupted create", metadata: ["uid": "\(record.uid)", "job": "\(job.jobID)"])
            } else {
                let script = "\(record.podDir)/job.slurm"
                guard let text = FileManager.default.contents(atPath: script),
                      FileManager.default.fileExists(atPath: "\(record.podDir)/job.sh") else {
                    logger.warning("dropping an interrupted create whose folder is incomplete", metadata: ["uid": "\(record.uid)"])
                    pods[record.uid] = nil
                    try? store.delete(record.uid)
                    PodFolder.remove(record.podDir, workDir: configuration.workDir)
                    continue
                }
                record.jobID = try await backend.submit(record.request, script: String(decoding: text, as: UTF8.self),
                                                        scriptPath: script)
                logger.info("resubmitted an interrupted create", metadata: ["uid": "\(record.uid)", "job": "\(record.jobID ?? "")"])
            }
            record.phase = .active
            record.updatedAt = Self.now()
            pods[record.uid] = record
            try store.save(record)
        }
    }
}

/// `/healthz` body.
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
