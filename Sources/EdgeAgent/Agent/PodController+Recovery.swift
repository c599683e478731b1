import Foundation
import PodWire

/// Creates left unconfirmed (a restart mid-create, or a submission that got no answer).
extension PodController {
    /// Settles pods in phase `submitting`: adopts the job that carries the pod's comment — from
    /// slurmctld, else from accounting for jobs slurmctld already forgot — and submits only when
    /// neither has one. Runs at every poll while such pods exist. Only jobs of the agent's
    /// account (or the pod's `runAsUser`) are adopted.
    public func recover() async throws(AgentError) {
        guard !recovering else { return }
        let now = Self.now()
        let grace = configuration.backendTimeouts.call
        let waiting = registry.pods.filter {
            $0.phase == .submitting && inFlight[$0.uid] == nil && now - (unconfirmedSince[$0.uid] ?? 0) >= grace
        }
        guard !waiting.isEmpty else { return }
        recovering = true
        defer { recovering = false }
        var intents: [(pod: TrackedPod, stored: PodRecord)] = []
        for pod in waiting {
            guard let stored = try store.find(pod.uid) else { registry.untrack(pod.uid); continue }
            // A submission past its deadline may still reach Slurm: not before it returns.
            if backend.submissionPending(comment: stored.request.comment) { continue }
            intents.append((pod, stored))
        }
        guard !intents.isEmpty else { return }
        let found = try await findJobs(of: intents.map(\.stored))
        for (pod, stored) in intents {
            // The pod may have changed while the queries ran.
            guard var current = registry[pod.uid], current.phase == .submitting, inFlight[pod.uid] == nil else { continue }
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
                    registry.untrack(pod.uid)
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
            registry.track(current)
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
    private func findJobs(of intents: [PodRecord]) async throws(AgentError) -> [String: BatchJobStatus] {
        let agentUser = Int(getuid())
        func matches(_ job: BatchJobStatus, _ intent: PodRecord, byComment: Bool) -> Bool {
            if let user = job.userID, user != (intent.request.userID ?? agentUser) { return false }
            if let end = job.endTime, end < intent.createdAt - 5 { return false }
            if let submitted = job.submitTime, submitted < intent.createdAt - 5 { return false }
            if byComment { return job.comment == intent.request.comment }
            return job.comment == nil && job.workDir == intent.request.workDir
        }
        var found: [String: BatchJobStatus] = [:]
        let live = try await backend.jobs(commentPrefix: jobCommentPrefix)
        var byComment: [String: [BatchJobStatus]] = [:]
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
