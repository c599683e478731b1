import CSlurm
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

    /// Every pod, compact: statuses are built when asked (active pods) or read from the store
    /// (finished pods), never kept per pod.
    private var pods: [String: TrackedPod] = [:]
    /// Container lists shared by pods with the same containers.
    private var shapes: Set<PodShape> = []
    /// Identities of the pods' creators (shared text), and how many pods each has.
    private var owners: Set<String> = []
    private var podsPerOwner: [String: Int] = [:]
    private var inFlight: [String: Task<CreateResponse, any Error>] = [:]
    private var missingSince: [String: Double] = [:]
    /// slurmctld's time of the last job change in the last answer, and when it last sent all.
    private var lastJobsUpdate: Double?
    private var lastFullPoll = 0.0
    private var lastCancel: [String: Double] = [:]
    /// When a submission last ended without an answer (deadline passed, Slurm unreachable):
    /// recovery looks for its job only after `backend-timeout` more, and never resubmits
    /// while the backend may still deliver it.
    private var unconfirmedSince: [String: Double] = [:]
    private var recovering = false
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
        var loaded: [String: TrackedPod] = [:]
        var shapes: Set<PodShape> = []
        var owners: Set<String> = []
        var counts: [String: Int] = [:]
        for record in try store.all() {
            let shape = shapes.insert(PodShape(initContainers: record.initContainers, containers: record.containers)).memberAfterInsert
            let owner = owners.insert(record.owner.identity).memberAfterInsert
            counts[owner, default: 0] += 1
            var pod = TrackedPod(record, shape: shape, owner: owner,
                                 defaultDir: builder.podDirectory(namespace: record.namespace, uid: record.uid))
            if record.phase == .finished {
                pod.failed = (record.status.map { $0.containers + $0.initContainers } ?? []).contains {
                    ($0.state.terminated?.exitCode ?? 1) != 0
                }
            }
            loaded[record.uid] = pod
        }
        self.pods = loaded
        self.shapes = shapes
        self.owners = owners
        self.podsPerOwner = counts
    }

    private func intern(_ shape: PodShape) -> PodShape { shapes.insert(shape).memberAfterInsert }
    private func intern(identity: String) -> String { owners.insert(identity).memberAfterInsert }

    /// Adds or replaces a pod, keeping the per-identity counts.
    private func track(_ pod: TrackedPod) {
        if let old = pods.updateValue(pod, forKey: pod.uid) { podsPerOwner[old.owner, default: 1] -= 1 }
        podsPerOwner[pod.owner, default: 0] += 1
    }

    private func untrack(_ uid: String) {
        guard let old = pods.removeValue(forKey: uid) else { return }
        podsPerOwner[old.owner, default: 1] -= 1
        if podsPerOwner[old.owner] == 0 { podsPerOwner[old.owner] = nil }
    }

    func podDir(_ pod: TrackedPod) -> String {
        pod.customDir ?? builder.podDirectory(namespace: pod.namespace, uid: pod.uid)
    }

    private func mapping(_ pod: TrackedPod) -> StatusMapping {
        StatusMapping(initContainers: pod.shape.initContainers, containers: pod.shape.containers, podDir: podDir(pod))
    }

    static func now() -> Double { Date().timeIntervalSince1970 }

    // MARK: - Create

    /// Creates the pod's job, or returns the job it already has.
    public func create(_ data: RetrievedPodData, owner: Caller = .local) async throws(AgentError) -> CreateResponse {
        let uid = data.pod.metadata.uid
        guard PodValidation.isUID(uid) else {
            throw AgentError.invalid("metadata.uid '\(uid)' is missing or not a UID (letters, digits, dashes)")
        }
        if let existing = pods[uid] {
            // A UID is one pod: another namespace or another identity does not get to see or
            // take over its job.
            guard existing.namespace == data.pod.metadata.namespace, existing.owner == owner.identity else {
                throw AgentError(.conflict, "pod UID \(uid) is already used by another pod on this agent")
            }
            if let job = existing.jobID { return CreateResponse(podUID: uid, podJID: job) }
        }
        if let running = inFlight[uid] {
            return try await Self.value(of: running)
        }
        if pods[uid]?.phase == .submitting {
            // A create that was interrupted (restart) or whose submission got no answer: the
            // poller's recovery looks its job up by comment before submitting again.
            throw AgentError.unavailable("pod \(uid)'s job is being confirmed with the batch system; retry shortly")
        }
        let task = Task { try await self.performCreate(data, owner: owner) }
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

    private func performCreate(_ data: RetrievedPodData, owner: Caller) async throws(AgentError) -> CreateResponse {
        let meta = data.pod.metadata
        var afterOK: [String] = []
        for dependency in try PodJobBuilder.dependencyUIDs(of: data.pod) {
            guard let other = pods[dependency], other.namespace == meta.namespace else {
                throw AgentError.invalid("annotation dte.io/after names pod \(dependency), which this agent does not know")
            }
            if other.phase == .finished {
                if other.failed { throw AgentError(.conflict, "pod \(dependency) named in dte.io/after has failed") }
            } else if let job = other.jobID {
                afterOK.append(job)
            } else {
                throw AgentError(.conflict, "pod \(dependency) named in dte.io/after has no job yet; retry")
            }
        }
        guard pods.count < configuration.maxPods else {
            throw AgentError(.conflict, "the agent already tracks \(pods.count) pods (max-pods \(configuration.maxPods)); "
                                + "delete finished pods or raise max-pods")
        }
        let identity = intern(identity: owner.identity)
        if let limit = configuration.access.maxPodsPerIdentity {
            let held = podsPerOwner[identity, default: 0]
            guard held < limit else {
                throw AgentError(.conflict, "\(owner.subject) already has \(held) pods on this agent "
                                    + "(max-pods-per-identity \(limit)); delete finished pods first")
            }
        }
        // Building the job, storing the intent and writing the folder happen off the actor,
        // so concurrent creates overlap; the placeholder keeps the pod counted meanwhile.
        let now = Self.now()
        let shape = intern(PodShape(
            initContainers: data.pod.spec.initContainers.map { TrackedContainer(name: $0.name, image: $0.image) },
            containers: data.pod.spec.containers.map { TrackedContainer(name: $0.name, image: $0.image) }))
        let defaultDir = builder.podDirectory(namespace: meta.namespace, uid: meta.uid)
        track(TrackedPod(uid: meta.uid, namespace: meta.namespace, name: meta.name, jobID: nil, phase: .submitting,
                         shape: shape, owner: identity, customDir: nil, createdAt: now, updatedAt: now))
        var submittedJob: String?
        var folder: String?
        var keepIntent = false
        do {
            let job = try await Self.prepare(builder: builder, data: data, afterOK: afterOK)
            folder = job.podDir
            pods[meta.uid]?.customDir = job.podDir == defaultDir ? nil : job.podDir
            let record = PodRecord(
                uid: meta.uid, namespace: meta.namespace, name: meta.name, jobID: nil, phase: .submitting,
                podDir: job.podDir, initContainers: shape.initContainers, containers: shape.containers,
                request: job.request, createdAt: now, updatedAt: now,
                ownerSubject: owner.subject, ownerIssuer: owner.issuer)
            async let written: Void = Self.writeFolder(job)
            async let stored: Void = store.perform([.insert(record)])
            try await stored
            try await written
            let id: String
            switch await submission(job) {
            case .success(let value): id = value
            case .failure(let error):
                if error.code == .unavailable {
                    // The job may or may not exist: keep the intent; recovery finds it by its
                    // comment (or submits it once Slurm answers). Retries answer 503 meanwhile.
                    keepIntent = true
                    unconfirmedSince[meta.uid] = Self.now()
                    logger.warning("submission not confirmed; the poller will look for its job before submitting again",
                                   metadata: ["uid": "\(meta.uid)", "error": "\(error)"])
                }
                throw error
            }
            submittedJob = id
            let updated = Self.now()
            try await store.perform([.submitted(uid: meta.uid, jobID: id, updatedAt: updated)])
            var pod = pods[meta.uid] ?? TrackedPod(uid: meta.uid, namespace: meta.namespace, name: meta.name, jobID: nil,
                                                  phase: .submitting, shape: shape, owner: identity, customDir: nil,
                                                  createdAt: now, updatedAt: now)
            pod.jobID = id
            pod.phase = .active
            pod.updatedAt = updated
            pod.customDir = job.podDir == defaultDir ? nil : job.podDir
            track(pod)
            logger.info("pod created", metadata: ["pod": "\(meta.namespace)/\(meta.name)", "uid": "\(meta.uid)", "job": "\(id)"])
            return CreateResponse(podUID: meta.uid, podJID: id)
        } catch {
            if let id = submittedJob {
                // The job exists but its id could not be stored: keep it tracked in memory; a
                // restart adopts it through its comment.
                pods[meta.uid]?.jobID = id
                pods[meta.uid]?.phase = .active
                logger.error("pod submitted but its job id could not be stored", metadata: ["uid": "\(meta.uid)", "job": "\(id)"])
                return CreateResponse(podUID: meta.uid, podJID: id)
            }
            if keepIntent { throw Self.agentError(error) }
            untrack(meta.uid)
            try? await store.perform([.delete(uid: meta.uid)])
            if let folder { PodFolder.remove(folder, workDir: configuration.workDir) }
            logger.warning("pod create failed", metadata: ["uid": "\(meta.uid)", "error": "\(error)"])
            throw Self.agentError(error)
        }
    }

    /// Submits the job; the outcome as a value (the caller tells an unanswered submission from a refusal).
    private func submission(_ job: PodJob) async -> Result<String, AgentError> {
        do {
            return .success(try await backend.submit(job.request, script: job.batchScript, scriptPath: "\(job.podDir)/job.slurm"))
        } catch {
            return .failure(error)
        }
    }

    /// Builds the job (validation included), off the actor.
    nonisolated private static func prepare(builder: PodJobBuilder, data: RetrievedPodData,
                                            afterOK: [String]) async throws(AgentError) -> PodJob {
        try builder.build(data, afterOK: afterOK)
    }

    /// Writes the pod folder, off the actor.
    nonisolated private static func writeFolder(_ job: PodJob) async throws(AgentError) {
        try PodFolder.write(job)
    }

    // MARK: - Delete

    /// Cancels the pod's job and forgets the pod once Slurm confirms. A pod the agent does not
    /// know, or one in a namespace the caller may not see, is `notFound` (the same answer for
    /// both); deleting again is harmless. The deletion is stored first; when Slurm cannot be
    /// reached the caller gets `.unavailable` (503) and the poller keeps cancelling.
    public func delete(_ pod: Pod, visibility: PodVisibility = .all) async throws(AgentError) -> String {
        guard var record = find(uid: pod.metadata.uid, namespace: pod.metadata.namespace, name: pod.metadata.name,
                                visibility: visibility) else {
            throw AgentError(.notFound, "pod \(Self.named(pod.metadata)) is not known to this agent; nothing to delete")
        }
        counters.deleted += 1
        record.deleteRequested = true
        record.updatedAt = Self.now()
        pods[record.uid] = record
        try? await store.perform([.deleteRequested(uid: record.uid, updatedAt: record.updatedAt)])
        if record.phase == .finished {
            await forget([record])
            return "pod \(record.uid) deleted\n"
        }
        if let job = record.jobID {
            do {
                try await backend.cancel(jobID: job)
                lastCancel[record.uid] = Self.now()
                logger.info("pod deleted; job cancelled", metadata: ["uid": "\(record.uid)", "job": "\(job)"])
            } catch {
                logger.warning("cancel failed; will retry", metadata: ["uid": "\(record.uid)", "job": "\(job)", "error": "\(error)"])
                if error.code == .unavailable {
                    throw AgentError.unavailable("pod \(record.uid)'s deletion is stored but Slurm does not answer; "
                                                 + "the agent keeps cancelling job \(job)")
                }
            }
        }
        return "pod \(record.uid) deletion requested; job \(record.jobID ?? "-") is being cancelled\n"
    }

    private func forget(_ records: [TrackedPod]) async {
        guard !records.isEmpty else { return }
        for record in records {
            untrack(record.uid)
            missingSince[record.uid] = nil
            lastCancel[record.uid] = nil
            unconfirmedSince[record.uid] = nil
        }
        do { try await store.perform(records.map { .delete(uid: $0.uid) }) } catch {
            logger.error("cannot remove pods from the store", metadata: ["error": "\(error)"])
        }
        let dirs = records.map(podDir)
        let workDir = configuration.workDir
        await Self.removeFolders(dirs, workDir: workDir)
    }

    nonisolated private static func removeFolders(_ dirs: [String], workDir: String) async {
        for dir in dirs { PodFolder.remove(dir, workDir: workDir) }
    }

    // MARK: - Status

    /// Statuses of the given pods that this agent knows: active pods from the poller's last
    /// look, finished pods from the store.
    public func statuses(of requested: [Pod], visibility: PodVisibility = .all) -> [PodStatus] {
        let now = Self.now()
        let requested = requested.filter { pods[$0.metadata.uid].map { visibility.allows($0.namespace) } ?? false }
        let finished = requested.compactMap { pods[$0.metadata.uid]?.phase == .finished ? $0.metadata.uid : nil }
        let stored: [String: PodStatus]
        do { stored = try store.statuses(of: finished) } catch {
            logger.error("cannot read stored statuses", metadata: ["error": "\(error)"])
            stored = [:]
        }
        return requested.compactMap { request in
            let uid = request.metadata.uid
            guard let pod = pods[uid] else { return nil }
            if pod.phase == .finished, let status = stored[uid] { return status }
            let mapping = mapping(pod)
            guard let live = pod.live else { return podStatus(pod, mapping.submitted()) }
            let files = live.files
            return podStatus(pod, mapping.map(job: live.job, now: now, read: { files?[$0] }))
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

    /// The pod a request names: by UID, else (no UID given) by namespace and name; nil when
    /// unknown or in a namespace the caller may not see.
    private func find(uid: String, namespace: String, name: String, visibility: PodVisibility) -> TrackedPod? {
        let pod = uid.isEmpty ? pods.values.first { $0.namespace == namespace && $0.name == name } : pods[uid]
        guard let pod, visibility.allows(pod.namespace) else { return nil }
        return pod
    }

    static func named(_ meta: ObjectMeta) -> String {
        String((meta.uid.isEmpty ? "\(meta.namespace)/\(meta.name)" : meta.uid).prefix(200))
    }

    /// `/healthz` for anyone: only whether the agent works.
    public func publicHealth() -> PublicHealth {
        PublicHealth(status: lastPollError == nil && lastPollAt != nil ? "ok" : (lastPollAt == nil ? "starting" : "degraded"))
    }

    /// The details, for authenticated callers (`/v1/health`).
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

    /// The pod a log request names (by UID, else by namespace and name).
    public func logTarget(uid: String, namespace: String, name: String, visibility: PodVisibility = .all) -> PodLogTarget? {
        guard let pod = find(uid: uid, namespace: namespace, name: name, visibility: visibility) else { return nil }
        return PodLogTarget(uid: pod.uid, podDir: podDir(pod), initContainers: pod.shape.initContainers.map(\.name),
                            containers: pod.shape.containers.map(\.name))
    }

    /// Whether the pod's job has ended (for following logs).
    public func isFinished(uid: String) -> Bool {
        guard let record = pods[uid] else { return true }
        return record.phase == .finished
    }

    private func podStatus(_ pod: TrackedPod, _ outcome: StatusMapping.Outcome) -> PodStatus {
        PodStatus(name: pod.name, uid: pod.uid, namespace: pod.namespace, jobID: pod.jobID ?? "",
                  containers: outcome.containers, initContainers: outcome.initContainers)
    }

    // MARK: - Poll

    var jobCommentPrefix: String { "dte-agent:\(builder.instanceID):" }

    /// One poll: one query for this agent's jobs, what they show remembered, finished pods
    /// stored (one transaction), deletions retried, capacity refreshed, old pods removed.
    public func pollOnce() async {
        let started = Self.now()
        counters.polls += 1
        do { try await recover() } catch {
            logger.warning("recovery of unconfirmed creates failed; retrying on the next poll", metadata: ["error": "\(error)"])
        }
        // Ask for the jobs only if one changed since the last answer (then slurmctld sends
        // nothing); a full answer at least every 30 s and whenever a deletion waits.
        let full = lastJobsUpdate == nil || started - lastFullPoll >= 30
            || pods.values.contains { $0.deleteRequested || $0.phase == .active && $0.live == nil }
        let snapshot: JobSnapshot?
        do {
            snapshot = try await backend.jobs(commentPrefix: jobCommentPrefix, changedSince: full ? nil : lastJobsUpdate)
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
        guard let snapshot else {
            // Nothing changed in Slurm: what the last poll saw still holds; running pods'
            // status files are read again (containers start and end inside the job).
            var finished: [StoreChange] = []
            for pod in pods.values where pod.phase == .active {
                guard let job = pod.live?.job, [.running, .completing, .suspended].contains(job.state) else { continue }
                if let done = update(pod, job: job) { finished.append(done) }
            }
            if !finished.isEmpty {
                do { try await store.perform(finished) } catch {
                    logger.error("cannot store finished pods", metadata: ["error": "\(error)"])
                }
            }
            await expireFinished(now: started)
            lastPollError = nil
            lastPollAt = Self.now()
            counters.lastPollSeconds = Self.now() - started
            return
        }
        let jobs = snapshot.jobs
        lastJobsUpdate = snapshot.updated
        if full { lastFullPoll = started }
        var missing: [TrackedPod] = []
        var finished: [StoreChange] = []
        for record in pods.values where record.phase == .active {
            guard let id = record.jobID else { continue }
            if let job = jobs[id] {
                missingSince[record.uid] = nil
                if let done = update(record, job: job) { finished.append(done) }
            } else if record.updatedAt < started - 1 {
                missing.append(record)
            }
        }
        if !missing.isEmpty {
            let accounted = (try? await backend.accounting(jobIDs: missing.compactMap(\.jobID))) ?? [:]
            for record in missing {
                guard let current = pods[record.uid], current.phase == .active, let id = current.jobID else { continue }
                if let job = accounted[id], job.state.isTerminal {
                    if let done = update(current, job: job) { finished.append(done) }
                } else {
                    let since = missingSince[record.uid] ?? started
                    missingSince[record.uid] = since
                    if started - since >= max(30, configuration.pollIntervalSeconds * 5) {
                        logger.warning("job gone from Slurm and accounting; resolving from its folder",
                                       metadata: ["uid": "\(record.uid)", "job": "\(id)"])
                        if let done = update(current, job: nil) { finished.append(done) }
                    }
                }
            }
        }
        if !finished.isEmpty {
            do { try await store.perform(finished) } catch {
                logger.error("cannot store finished pods", metadata: ["error": "\(error)"])
            }
        }
        await retryDeletes(jobs: jobs)
        findOrphans(jobs)
        await expireFinished(now: started)
        lastPollError = nil
        lastPollAt = Self.now()
        counters.lastPollSeconds = Self.now() - started
        Self.releaseFreedMemory()
    }

    /// libslurm's answer for every job is large and freed right after the poll; glibc keeps
    /// freed heap pages unless asked to give them back.
    nonisolated static func releaseFreedMemory() {
        _ = malloc_trim(0)
    }

    /// Fewer malloc arenas: with one per thread (glibc's default, up to 8 per core) freed
    /// memory stays spread over arenas that are rarely reused.
    public static func limitMallocArenas() {
        _ = mallopt(M_ARENA_MAX, 2)
    }


    /// Remembers what the job shows; returns the change to store when the pod has finished.
    private func update(_ pod: TrackedPod, job: SlurmJobInfo?) -> StoreChange? {
        if let job, [.pending, .requeued, .unknown].contains(job.state) {
            // Waiting: nothing to read from the folder.
            pods[pod.uid]?.live = LiveState(job: job.compact, files: nil)
            return nil
        }
        let now = Self.now()
        let dir = podDir(pod)
        let prefixes = pod.shape.initContainers.map { "init-\($0.name)" } + pod.shape.containers.map { "run-\($0.name)" }
        var files: [String: ContainerRecord] = [:]
        for prefix in prefixes { if let record = ContainerRecord.read(podDir: dir, prefix: prefix) { files[prefix] = record } }
        let outcome = mapping(pod).map(job: job, now: now, read: { files[$0] },
                                       jobOutput: { PodFolder.tail(of: "\(dir)/job.out", bytes: 65_536) })
        guard outcome.isTerminal else {
            pods[pod.uid]?.live = LiveState(job: job?.compact, files: files.isEmpty ? nil : files)
            return nil
        }
        let status = podStatus(pod, outcome)
        var finished = pod
        finished.phase = .finished
        finished.live = nil
        finished.failed = (status.containers + status.initContainers).contains { ($0.state.terminated?.exitCode ?? 1) != 0 }
        finished.finishedAt = now
        finished.updatedAt = now
        pods[pod.uid] = finished
        missingSince[pod.uid] = nil
        logger.info("pod finished", metadata: ["uid": "\(pod.uid)", "job": "\(pod.jobID ?? "-")",
                                               "state": "\(job?.state.rawValue ?? "gone")"])
        return .finished(uid: pod.uid, status: status, finishedAt: now)
    }

    private func retryDeletes(jobs: [String: SlurmJobInfo]) async {
        var gone: [TrackedPod] = []
        for record in pods.values where record.deleteRequested {
            if record.phase == .finished {
                gone.append(record)
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
                gone.append(current)
            }
        }
        await forget(gone)
    }

    private func findOrphans(_ jobs: [String: SlurmJobInfo]) {
        let prefix = jobCommentPrefix
        var found: [SlurmJobInfo] = []
        for job in jobs.values {
            guard let comment = job.comment, comment.hasPrefix(prefix) else { continue }
            let uid = String(comment.dropFirst(prefix.count))
            if let pod = pods[uid], pod.jobID == job.jobID || pod.phase == .submitting { continue }
            found.append(job)
        }
        if Set(found.map(\.jobID)) != Set(orphanJobs.map(\.jobID)), !found.isEmpty {
            logger.warning("jobs submitted by this agent match no known pod",
                           metadata: ["jobs": "\(found.map(\.jobID).sorted().joined(separator: ","))"])
        }
        orphanJobs = found.sorted { $0.jobID < $1.jobID }
    }

    private func expireFinished(now: Double) async {
        let limit = now - Double(configuration.retentionSeconds)
        let expired = pods.values.filter { $0.phase == .finished && ($0.finishedAt ?? now) < limit }
        for record in expired { logger.info("removing an expired pod", metadata: ["uid": "\(record.uid)"]) }
        await forget(Array(expired))
    }

    // MARK: - Recovery

    /// Settles pods in phase `submitting` (a create interrupted by a restart, or whose
    /// submission got no answer): adopts the job that carries the pod's comment — from
    /// slurmctld, else from accounting for jobs slurmctld already forgot — and submits only when
    /// neither has one. Runs at every poll while such pods exist. Only jobs of the agent's
    /// account (or the pod's `runAsUser`) are adopted.
    public func recover() async throws(AgentError) {
        guard !recovering else { return }
        let now = Self.now()
        let grace = configuration.backendTimeouts.call
        let waiting = pods.values.filter {
            $0.phase == .submitting && inFlight[$0.uid] == nil && now - (unconfirmedSince[$0.uid] ?? 0) >= grace
        }
        guard !waiting.isEmpty else { return }
        recovering = true
        defer { recovering = false }
        var intents: [(pod: TrackedPod, stored: PodRecord)] = []
        for pod in waiting {
            guard let stored = try store.find(pod.uid) else { untrack(pod.uid); continue }
            // A submission past its deadline may still reach Slurm: not before it returns.
            if backend.submissionPending(comment: stored.request.comment) { continue }
            intents.append((pod, stored))
        }
        guard !intents.isEmpty else { return }
        let found = try await findJobs(of: intents.map(\.stored))
        for (pod, stored) in intents {
            // The pod may have changed while the queries ran.
            guard var current = pods[pod.uid], current.phase == .submitting, inFlight[pod.uid] == nil else { continue }
            if let job = found[pod.uid] {
                current.jobID = job.jobID
                logger.info("adopted the job of an unconfirmed create", metadata: ["uid": "\(pod.uid)", "job": "\(job.jobID)"])
            } else if current.deleteRequested {
                logger.info("dropping an unconfirmed create that was deleted", metadata: ["uid": "\(pod.uid)"])
                await forget([current])
                continue
            } else {
                let dir = podDir(current)
                // The script the agent wrote itself (never one the job's user could change).
                let scriptPath = builder.scriptPath(podDir: dir, request: stored.request)
                guard let script = PodFolder.readScript(scriptPath) else {
                    logger.warning("dropping an interrupted create whose folder is incomplete", metadata: ["uid": "\(pod.uid)"])
                    untrack(pod.uid)
                    unconfirmedSince[pod.uid] = nil
                    try await store.perform([.delete(uid: pod.uid)])
                    PodFolder.remove(dir, workDir: configuration.workDir)
                    continue
                }
                do {
                    current.jobID = try await backend.submit(stored.request, script: script, scriptPath: scriptPath)
                } catch {
                    if error.code == .unavailable { unconfirmedSince[pod.uid] = Self.now() }
                    throw error
                }
                logger.info("submitted an unconfirmed create", metadata: ["uid": "\(pod.uid)", "job": "\(current.jobID ?? "")"])
            }
            current.phase = .active
            current.updatedAt = Self.now()
            pods[pod.uid] = current
            unconfirmedSince[pod.uid] = nil
            if let id = current.jobID {
                try await store.perform([.submitted(uid: pod.uid, jobID: id, updatedAt: current.updatedAt)])
            }
        }
    }

    /// The job each intent already has, by pod UID: slurmctld's jobs with the agent's comment
    /// prefix first, then accounting (by comment, or by working directory where Slurm stores
    /// no comments) for those slurmctld does not hold. Jobs of other accounts, and jobs that
    /// ended before the intent was stored, are never matched.
    private func findJobs(of intents: [PodRecord]) async throws(AgentError) -> [String: SlurmJobInfo] {
        let agentUser = Int(getuid())
        func matches(_ job: SlurmJobInfo, _ intent: PodRecord, byComment: Bool) -> Bool {
            if let user = job.userID, user != (intent.request.userID ?? agentUser) { return false }
            if let end = job.endTime, end < intent.createdAt - 5 { return false }
            if let submitted = job.submitTime, submitted < intent.createdAt - 5 { return false }
            if byComment { return job.comment == intent.request.comment }
            return job.comment == nil && job.workDir == intent.request.workDir
        }
        var found: [String: SlurmJobInfo] = [:]
        let live = try await backend.jobs(commentPrefix: jobCommentPrefix)
        var byComment: [String: [SlurmJobInfo]] = [:]
        for job in live.values { if let comment = job.comment { byComment[comment, default: []].append(job) } }
        for intent in intents {
            if let job = byComment[intent.request.comment]?.first(where: { matches($0, intent, byComment: true) }) {
                found[intent.uid] = job
            }
        }
        let rest = intents.filter { found[$0.uid] == nil }
        guard let earliest = rest.map(\.createdAt).min() else { return found }
        let users = Set(rest.map { $0.request.userID ?? agentUser })
        let accounted = try await backend.accounting(submittedSince: earliest - 5, userID: users.count == 1 ? users.first : nil)
        for intent in rest {
            let job = accounted.values.first { matches($0, intent, byComment: true) }
                ?? accounted.values.first { matches($0, intent, byComment: false) }
            if let job { found[intent.uid] = job }
        }
        return found
    }

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

/// A pod as the controller keeps it in memory (a few hundred bytes): statuses are not kept.
struct TrackedPod: Sendable {
    var uid: String
    var namespace: String
    var name: String
    var jobID: String?
    var phase: PodRecord.Phase
    /// The containers (shared between pods with the same ones).
    var shape: PodShape
    /// The identity that created the pod (`Caller.identity`; shared text).
    var owner: String
    /// The pod folder when it is not where the builder puts it (`<work-dir>/<namespace>-<uid>`).
    var customDir: String?
    var deleteRequested = false
    /// Finished with a container that failed (for `dte.io/after`).
    var failed = false
    var createdAt: Double
    var updatedAt: Double
    var finishedAt: Double?
    /// What the last poll saw, for active pods.
    var live: LiveState?

    init(uid: String, namespace: String, name: String, jobID: String?, phase: PodRecord.Phase, shape: PodShape,
         owner: String, customDir: String?, createdAt: Double, updatedAt: Double) {
        self.uid = uid
        self.namespace = namespace
        self.name = name
        self.jobID = jobID
        self.phase = phase
        self.shape = shape
        self.owner = owner
        self.customDir = customDir
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    init(_ record: PodRecord, shape: PodShape, owner: String, defaultDir: String) {
        self.init(uid: record.uid, namespace: record.namespace, name: record.name, jobID: record.jobID, phase: record.phase,
                  shape: shape, owner: owner, customDir: record.podDir == defaultDir ? nil : record.podDir,
                  createdAt: record.createdAt, updatedAt: record.updatedAt)
        deleteRequested = record.deleteRequested
        finishedAt = record.finishedAt
    }
}

/// A pod's containers.
struct PodShape: Sendable, Hashable {
    var initContainers: [TrackedContainer]
    var containers: [TrackedContainer]
}

/// What the last poll saw of an active pod's job and its status files.
struct LiveState: Sendable {
    var job: SlurmJobInfo?
    var files: [String: ContainerRecord]?
}

/// Where a pod's logs are.
public struct PodLogTarget: Sendable {
    public var uid: String
    public var podDir: String
    public var initContainers: [String]
    public var containers: [String]
}

extension SlurmJobInfo {
    /// Without the comment (only needed to match jobs to pods).
    var compact: SlurmJobInfo {
        var copy = self
        copy.comment = nil
        return copy
    }
}
