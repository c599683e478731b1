import Foundation
import PodWire

/// The reconcile loop: what the scheduler and the pod folders show is brought into the registry and the store.
extension PodController {
    /// One poll: one query for this agent's jobs, what they show remembered, finished pods
    /// stored (one transaction), deletions retried, capacity refreshed, old pods removed.
    /// The pod folders' status files are read off the actor, so requests are answered meanwhile.
    public func pollOnce() async {
        let started = Self.now()
        counters.polls += 1
        do { try await recover() } catch {
            logger.warning("recovery of unconfirmed creates failed; retrying on the next poll", metadata: ["error": "\(error)"])
        }
        // Ask for the jobs only if one changed since the last answer (then slurmctld sends
        // nothing); a full answer at least every 30 s and whenever a deletion waits.
        let full = lastJobsUpdate == nil || started - lastFullPoll >= 30
            || registry.pods.contains { $0.deleteRequested || $0.phase == .active && $0.live == nil }
        let snapshot: JobSnapshot?
        do {
            let clock = ContinuousClock()
            let asked = clock.now
            snapshot = try await backend.jobs(commentPrefix: jobCommentPrefix, changedSince: full ? nil : lastJobsUpdate)
            metrics.recordLatency("jobs", clock.now - asked)
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
        let looks: [Look]
        if let snapshot {
            lastJobsUpdate = snapshot.updated
            if full { lastFullPoll = started }
            looks = await jobsToLookAt(snapshot.jobs, started: started)
        } else {
            // Nothing changed in Slurm: what the last poll saw still holds; running pods'
            // status files are read again (containers start and end inside the job).
            looks = registry.pods.compactMap { pod in
                guard pod.phase == .active, let job = pod.live?.job, job.phase.mayRun else { return nil }
                return Look(pod: pod, job: job)
            }
        }
        let finished = await observe(looks)
        if !finished.isEmpty {
            do { try await store.perform(finished) } catch {
                logger.error("cannot store finished pods", metadata: ["error": "\(error)"])
            }
        }
        if let snapshot {
            await reconcile(snapshot.jobs)
            await retryDeletes(jobs: snapshot.jobs)
            findOrphans(snapshot.jobs)
        }
        await collectUsage(now: started)
        await expireFinished(now: started)
        lastPollError = nil
        lastPollAt = Self.now()
        counters.lastPollSeconds = Self.now() - started
        if snapshot != nil { MallocTuning.releaseFreedMemory() }
    }

    /// An active pod and what Slurm shows of its job (nil: gone from slurmctld and accounting).
    struct Look: Sendable {
        var pod: TrackedPod
        var job: BatchJobStatus?
    }

    /// Each active pod with its job from the answer; a job slurmctld no longer holds is asked of
    /// accounting, and resolved from the pod's folder alone when accounting does not know it either.
    private func jobsToLookAt(_ jobs: [String: BatchJobStatus], started: Double) async -> [Look] {
        var looks: [Look] = []
        var missing: [TrackedPod] = []
        for pod in registry.pods where pod.phase == .active {
            guard let id = pod.jobID else { continue }
            if let job = jobs[id] {
                missingSince[pod.uid] = nil
                looks.append(Look(pod: pod, job: job))
            } else if pod.updatedAt < started - 1 {
                missing.append(pod)
            }
        }
        guard !missing.isEmpty else { return looks }
        let accounted = (try? await backend.accounting(jobIDs: missing.compactMap(\.jobID))) ?? [:]
        for pod in missing {
            guard let current = registry[pod.uid], current.phase == .active, let id = current.jobID else { continue }
            if let job = accounted[id], job.phase.isTerminal {
                looks.append(Look(pod: current, job: job))
            } else {
                let since = missingSince[pod.uid] ?? started
                missingSince[pod.uid] = since
                if started - since >= max(30, configuration.pollIntervalSeconds * 5) {
                    logger.warning("job gone from Slurm and accounting; resolving from its folder",
                                   metadata: ["uid": "\(pod.uid)", "job": "\(id)"])
                    looks.append(Look(pod: current, job: nil))
                }
            }
        }
        return looks
    }

    /// What a pod's folder and job show, worked out off the actor.
    struct Seen: Sendable {
        var uid: String
        var jobID: String?
        var job: BatchJobStatus?
        var files: [String: ContainerRecord]
        var outcome: StatusMapping.Outcome
        var at: Double
    }

    /// Remembers what each job shows and returns the changes to store for pods that finished.
    /// Waiting jobs need no folder read; the others' status files are read off the actor and
    /// applied only to pods that did not change meanwhile.
    private func observe(_ looks: [Look]) async -> [StoreChange] {
        var reads: [(uid: String, jobID: String?, job: BatchJobStatus?, dir: String, prefixes: [String], mapping: StatusMapping)] = []
        for look in looks {
            if let job = look.job, job.phase == .queued || job.phase == .unknown {
                registry[look.pod.uid]?.live = LiveState(job: job.compact, files: nil)
            } else {
                reads.append((look.pod.uid, look.pod.jobID, look.job, podDir(look.pod), look.pod.containerFilePrefixes, mapping(look.pod)))
            }
        }
        guard !reads.isEmpty else { return [] }
        let seen = await Self.read(reads)
        var finished: [StoreChange] = []
        for s in seen {
            guard var pod = registry[s.uid], pod.phase == .active, pod.jobID == s.jobID else { continue }
            guard s.outcome.isTerminal else {
                pod.live = LiveState(job: s.job?.compact, files: s.files.isEmpty ? nil : s.files)
                registry.track(pod)
                continue
            }
            let status = StatusRenderer.podStatus(pod, s.outcome)
            pod.phase = .finished
            pod.live = nil
            pod.failed = (status.containers + status.initContainers).contains { ($0.state.terminated?.exitCode ?? 1) != 0 }
            pod.finishedAt = s.at
            pod.updatedAt = s.at
            registry.track(pod, finalStatus: status)
            missingSince[pod.uid] = nil
            logger.info("pod finished", metadata: ["uid": "\(pod.uid)", "job": "\(pod.jobID ?? "-")",
                                                   "state": "\(s.job?.stateText ?? "gone")"])
            finished.append(.finished(uid: pod.uid, status: status, finishedAt: s.at))
            finished.append(.queueUsage(uid: pod.uid, at: s.at))
        }
        return finished
    }

    /// Reads the status files (and, when the mapping needs it, the job output's end) of each pod.
    nonisolated private static func read(
        _ reads: [(uid: String, jobID: String?, job: BatchJobStatus?, dir: String, prefixes: [String], mapping: StatusMapping)]
    ) async -> [Seen] {
        reads.map { r in
            var files: [String: ContainerRecord] = [:]
            for prefix in r.prefixes { if let record = ContainerRecord.read(podDir: r.dir, prefix: prefix) { files[prefix] = record } }
            let now = Self.now()
            let outcome = r.mapping.map(job: r.job, now: now, read: { files[$0] },
                                        jobOutput: { PodFolder.tail(of: "\(r.dir)/job.out", bytes: 65_536) })
            return Seen(uid: r.uid, jobID: r.jobID, job: r.job, files: files, outcome: outcome, at: now)
        }
    }

    /// The scheduler's own steps for this answer (HTCondor: release jobs whose dependencies
    /// succeeded, remove jobs held for a reason that ends them); their outcome shows in the
    /// next answer.
    private func reconcile(_ jobs: [String: BatchJobStatus]) async {
        do {
            for step in try await backend.reconcile(jobs) {
                logger.info("reconciled a job", metadata: ["job": "\(step.jobID)", "step": "\(step)"])
            }
        } catch {
            logger.warning("reconcile failed; retrying on the next poll", metadata: ["error": "\(error)"])
        }
    }

    private func retryDeletes(jobs: [String: BatchJobStatus]) async {
        var gone: [TrackedPod] = []
        for record in registry.pods where record.deleteRequested {
            if record.phase == .finished {
                gone.append(record)
                continue
            }
            guard record.phase == .active, let id = record.jobID else { continue }
            if let job = jobs[id], !job.phase.isTerminal {
                if Self.now() - (lastCancel[record.uid] ?? 0) >= configuration.pollIntervalSeconds {
                    do {
                        try await backend.cancel(jobID: id)
                        lastCancel[record.uid] = Self.now()
                    } catch {
                        logger.warning("cancel retry failed", metadata: ["uid": "\(record.uid)", "job": "\(id)", "error": "\(error)"])
                    }
                }
            } else if let current = registry[record.uid] {
                gone.append(current)
            }
        }
        await forget(gone)
    }

    private func findOrphans(_ jobs: [String: BatchJobStatus]) {
        let prefix = jobCommentPrefix
        var found: [BatchJobStatus] = []
        for job in jobs.values {
            guard let comment = job.comment, comment.hasPrefix(prefix) else { continue }
            let uid = String(comment.dropFirst(prefix.count))
            if let pod = registry[uid], pod.jobID == job.jobID || pod.phase == .submitting { continue }
            found.append(job)
        }
        if Set(found.map(\.jobID)) != Set(orphanJobs.map(\.jobID)), !found.isEmpty {
            logger.warning("jobs submitted by this agent match no known pod",
                           metadata: ["jobs": "\(found.map(\.jobID).sorted().joined(separator: ","))"])
        }
        orphanJobs = found.sorted { $0.jobID < $1.jobID }
    }

    /// Forgets finished pods older than `retention`.
    private func expireFinished(now: Double) async {
        let limit = now - Double(configuration.retentionSeconds)
        let expired = registry.pods.filter { $0.phase == .finished && ($0.finishedAt ?? now) < limit }
        for record in expired { logger.info("removing an expired pod", metadata: ["uid": "\(record.uid)"]) }
        await forget(Array(expired))
    }
}
