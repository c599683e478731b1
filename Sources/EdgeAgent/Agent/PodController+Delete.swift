import Foundation
import PodWire

extension PodController {
    /// Cancels the pod's job and forgets the pod once Slurm confirms. A pod the agent does not
    /// know, or one in a namespace the caller may not see, is `notFound` (the same answer for
    /// both); deleting again is harmless. The deletion is stored first; when Slurm cannot be
    /// reached the caller gets `.unavailable` (503) and the poller keeps cancelling.
    public func delete(_ pod: Pod, visibility: PodVisibility = .all) async throws(AgentError) -> String {
        guard var record = registry.find(uid: pod.metadata.uid, namespace: pod.metadata.namespace, name: pod.metadata.name,
                                         visibility: visibility) else {
            throw AgentError(.notFound, "pod \(Self.named(pod.metadata)) is not known to this agent; nothing to delete")
        }
        counters.deleted += 1
        record.deleteRequested = true
        record.updatedAt = Self.now()
        registry.track(record)
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

    /// Drops pods from memory, the store and the disk (their folders, off the actor).
    func forget(_ records: [TrackedPod]) async {
        guard !records.isEmpty else { return }
        for record in records {
            registry.untrack(record.uid)
            missingSince[record.uid] = nil
            lastCancel[record.uid] = nil
            unconfirmedSince[record.uid] = nil
        }
        // A pod forgotten with a job (deleted, cancelled, expired) keeps its usage.
        let now = Self.now()
        let changes = records.flatMap { record -> [StoreChange] in
            record.jobID == nil ? [.delete(uid: record.uid)] : [.queueUsage(uid: record.uid, at: now), .delete(uid: record.uid)]
        }
        do { try await store.perform(changes) } catch {
            logger.error("cannot remove pods from the store", metadata: ["error": "\(error)"])
        }
        await Self.removeFolders(records.map(podDir), workDir: configuration.workDir)
    }

    nonisolated private static func removeFolders(_ dirs: [String], workDir: String) async {
        for dir in dirs { PodFolder.remove(dir, workDir: workDir) }
    }
}
