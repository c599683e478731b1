import Foundation
import PodWire

extension PodController {
    /// Creates the pod's job, or returns the job it already has.
    public func create(_ data: RetrievedPodData, owner: Caller = .local) async throws(AgentError) -> CreateResponse {
        let uid = data.pod.metadata.uid
        guard PodValidation.isUID(uid) else {
            throw AgentError.invalid("metadata.uid '\(uid)' is missing or not a UID (letters, digits, dashes)")
        }
        if let existing = registry[uid] {
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
        if registry[uid]?.phase == .submitting {
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

    /// The jobs of the pods `dte.io/after` names (same namespace), which must succeed first.
    private func afterOKJobs(of pod: Pod) throws(AgentError) -> [String] {
        var jobs: [String] = []
        for dependency in try PodJobBuilder.dependencyUIDs(of: pod) {
            guard let other = registry[dependency], other.namespace == pod.metadata.namespace else {
                throw AgentError.invalid("annotation dte.io/after names pod \(dependency), which this agent does not know")
            }
            if other.phase == .finished {
                if other.failed { throw AgentError(.conflict, "pod \(dependency) named in dte.io/after has failed") }
            } else if let job = other.jobID {
                jobs.append(job)
            } else {
                throw AgentError(.conflict, "pod \(dependency) named in dte.io/after has no job yet; retry")
            }
        }
        return jobs
    }

    /// Refuses a pod over `max-pods` or the identity's `max-pods-per-identity`.
    private func checkLimits(for owner: Caller, identity: String) throws(AgentError) {
        guard registry.count < configuration.maxPods else {
            throw AgentError(.conflict, "the agent already tracks \(registry.count) pods (max-pods \(configuration.maxPods)); "
                                + "delete finished pods or raise max-pods")
        }
        if let limit = configuration.access.maxPodsPerIdentity {
            let held = registry.held(by: identity)
            guard held < limit else {
                throw AgentError(.conflict, "\(owner.subject) already has \(held) pods on this agent "
                                    + "(max-pods-per-identity \(limit)); delete finished pods first")
            }
        }
    }

    private func performCreate(_ data: RetrievedPodData, owner: Caller) async throws(AgentError) -> CreateResponse {
        let meta = data.pod.metadata
        let afterOK = try afterOKJobs(of: data.pod)
        let identity = registry.intern(identity: owner.identity)
        try checkLimits(for: owner, identity: identity)
        // Building the job, storing the intent and writing the folder happen off the actor,
        // so concurrent creates overlap; the placeholder keeps the pod counted meanwhile.
        let now = Self.now()
        let shape = registry.intern(PodShape(
            initContainers: data.pod.spec.initContainers.map { TrackedContainer(name: $0.name, image: $0.image) },
            containers: data.pod.spec.containers.map { TrackedContainer(name: $0.name, image: $0.image) }))
        let defaultDir = builder.podDirectory(namespace: meta.namespace, uid: meta.uid)
        let placeholder = TrackedPod(uid: meta.uid, namespace: meta.namespace, name: meta.name, jobID: nil, phase: .submitting,
                                     shape: shape, owner: identity, customDir: nil, createdAt: now, updatedAt: now)
        registry.track(placeholder)
        var submittedJob: String?
        var folder: String?
        var keepIntent = false
        do {
            let job = try await Self.prepare(builder: builder, data: data, afterOK: afterOK)
            folder = job.podDir
            let customDir = job.podDir == defaultDir ? nil : job.podDir
            registry[meta.uid]?.customDir = customDir
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
            if configuration.layout == .interlink { PodFolder.recordJobID(id, of: job, logger: logger) }
            for warning in job.warnings {
                logger.warning("pod accepted with a warning", metadata: ["uid": "\(meta.uid)", "warning": "\(warning)"])
            }
            let updated = Self.now()
            try await store.perform([.submitted(uid: meta.uid, jobID: id, updatedAt: updated)])
            var pod = registry[meta.uid] ?? placeholder
            pod.jobID = id
            pod.phase = .active
            pod.updatedAt = updated
            pod.customDir = customDir
            pod.submitted = JobParameters(timeLimitMinutes: job.request.timeLimitMinutes, partition: job.request.partition,
                                          qos: job.request.qos).orNil
            registry.track(pod)
            logger.info("pod created", metadata: ["pod": "\(meta.namespace)/\(meta.name)", "uid": "\(meta.uid)", "job": "\(id)"])
            return CreateResponse(podUID: meta.uid, podJID: id)
        } catch {
            if let id = submittedJob {
                // The job exists but its id could not be stored: keep it tracked in memory; a
                // restart adopts it through its comment.
                registry[meta.uid]?.jobID = id
                registry[meta.uid]?.phase = .active
                logger.error("pod submitted but its job id could not be stored", metadata: ["uid": "\(meta.uid)", "job": "\(id)"])
                return CreateResponse(podUID: meta.uid, podJID: id)
            }
            if keepIntent { throw Self.agentError(error) }
            registry.untrack(meta.uid)
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
}
