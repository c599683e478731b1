import Foundation

/// Usage collection, run by each poll: the pods whose jobs ended are queued in the store
/// (with their final status, or when they are forgotten), and each poll asks accounting
/// about the due ones in one query. A job accounting does not hold yet is asked again later,
/// with back-off, at most `UsageStore.maxAttempts` times.
extension PodController {
    /// Jobs asked of accounting in one query at most (`sacct -j` takes a list).
    static let usageBatch = 1_000

    func collectUsage(now: Double) async {
        let store = self.store
        let due: [PendingUsage]
        do { due = try await Self.dueUsage(store, now: now) } catch {
            logger.error("cannot read pending usage", metadata: ["error": "\(error)"])
            return
        }
        guard !due.isEmpty else { return }
        let found: [String: JobUsage]
        let clock = ContinuousClock()
        let asked = clock.now
        do {
            found = try await backend.usage(jobIDs: due.map(\.jobID))
            metrics.recordLatency("usage", clock.now - asked)
        } catch {
            // Accounting did not answer: no attempt is spent.
            logger.warning("usage query failed; retrying on a later poll", metadata: ["error": "\(error)"])
            return
        }
        do {
            let collected = try await Self.recordUsage(store, due, found: found, now: now)
            if !collected.isEmpty {
                logger.debug("usage collected", metadata: ["pods": "\(collected.count)"])
                usageCollected(collected)
            }
        } catch {
            logger.error("cannot store usage", metadata: ["error": "\(error)"])
        }
    }

    /// The usage records the caller may see, whose jobs ended in `[from, until)`.
    public func usage(visibility: PodVisibility, endedFrom from: Double? = nil, until: Double? = nil) async throws(AgentError)
        -> [UsageRecord] {
        try await Self.readUsage(store, from: from, until: until).filter { visibility.allows($0.namespace) }
    }

    /// Adds collected usage to the metrics' per-project counters.
    private func usageCollected(_ records: [UsageRecord]) {
        for record in records {
            metrics.addUsage(project: record.project, coreSeconds: Double(record.coreSeconds), gpuSeconds: Double(record.gpuSeconds))
        }
    }

    nonisolated private static func dueUsage(_ store: PodStore, now: Double) async throws(AgentError) -> [PendingUsage] {
        try store.dueUsage(now: now, limit: usageBatch)
    }

    nonisolated private static func recordUsage(_ store: PodStore, _ due: [PendingUsage], found: [String: JobUsage],
                                                now: Double) async throws(AgentError) -> [UsageRecord] {
        try store.recordUsage(due, found: found, now: now)
    }

    nonisolated private static func readUsage(_ store: PodStore, from: Double?, until: Double?) async throws(AgentError)
        -> [UsageRecord] {
        try store.usage(endedFrom: from, until: until)
    }
}
