import Foundation
import Logging
import PodWire

extension PodController {
    /// The `/status` answer for these pods, from the statuses the registry keeps encoded
    /// (unknown pods, and pods in namespaces the caller may not see, are left out): no
    /// mapping and no encoding per request.
    public func encodedStatuses(of uids: [String], visibility: PodVisibility = .all) -> [[UInt8]] {
        registry.encodedStatuses(of: uids, visibility: visibility)
    }

    /// Statuses of the given pods that this agent knows, built afresh: active pods from the
    /// poller's last look, finished pods from the store (read off the actor). What
    /// `encodedStatuses` answers equals these, encoded.
    public func statuses(of requested: [Pod], visibility: PodVisibility = .all) async -> [PodStatus] {
        let requested = requested.filter { registry[$0.metadata.uid].map { visibility.allows($0.namespace) } ?? false }
        let finished = requested.compactMap { registry[$0.metadata.uid]?.phase == .finished ? $0.metadata.uid : nil }
        let stored = finished.isEmpty ? [:] : await Self.storedStatuses(finished, store: store, logger: logger)
        let now = Self.now()
        return requested.compactMap { request in
            let uid = request.metadata.uid
            guard let pod = registry[uid] else { return nil }
            if pod.phase == .finished, let status = stored[uid] { return status }
            return registry.renderer.currentStatus(pod, now: now)
        }
    }

    nonisolated private static func storedStatuses(_ uids: [String], store: PodStore, logger: Logger) async -> [String: PodStatus] {
        do { return try store.statuses(of: uids) } catch {
            logger.error("cannot read stored statuses", metadata: ["error": "\(error)"])
            return [:]
        }
    }

    /// The answer to the ping: the size of the Slurm nodes that are up, not what is free now.
    /// interLink makes it the virtual node's capacity (Kubernetes then subtracts the pods it
    /// placed there) and drains the node when it is 0 (interLink issue #558): a cluster that is
    /// merely busy must not look empty. With no node up, or before anything is known, the ping
    /// fails (502) rather than answer 0.
    public func ping() async throws(AgentError) -> PingResponse {
        if self.capacity == nil { self.capacity = try await backend.capacity() }
        guard let capacity else {
            throw AgentError(.backendFailure, "cluster capacity not known yet: \(lastPollError ?? "first poll pending")")
        }
        guard capacity.nodesUp > 0, capacity.totalCPUs > 0, capacity.totalMemoryMiB > 0 else {
            throw AgentError(.backendFailure, "no batch node is up (or none reports cpus and memory)")
        }
        let gpuResource = configuration.gpuResources.first?.resource ?? "nvidia.com/gpu"
        return PingResponse(
            status: lastPollError == nil ? "ok" : "degraded: \(lastPollError ?? "")",
            resources: .init(cpu: String(capacity.totalCPUs), memory: Quantity.mebibytes(capacity.totalMemoryMiB),
                             pods: String(max(0, configuration.maxPods - registry.count)),
                             accelerators: [.init(resourceType: gpuResource, available: String(capacity.totalGPUs))]))
    }

    /// The pod a log request names (by UID, else by namespace and name).
    public func logTarget(uid: String, namespace: String, name: String, visibility: PodVisibility = .all) -> PodLogTarget? {
        guard let pod = registry.find(uid: uid, namespace: namespace, name: name, visibility: visibility) else { return nil }
        return PodLogTarget(uid: pod.uid, podDir: podDir(pod), initContainers: pod.shape.initContainers.map(\.name),
                            containers: pod.shape.containers.map(\.name))
    }

    /// Whether the pod's job has ended (for following logs).
    public func isFinished(uid: String) -> Bool {
        guard let record = registry[uid] else { return true }
        return record.phase == .finished
    }

    private var healthWord: String { lastPollError == nil && lastPollAt != nil ? "ok" : (lastPollAt == nil ? "starting" : "degraded") }

    /// `/healthz` for anyone: only whether the agent works.
    public func publicHealth() -> PublicHealth { PublicHealth(status: healthWord) }

    /// The details, for authenticated callers (`/v1/health`).
    public func health() -> AgentHealth {
        AgentHealth(
            status: healthWord, instance: builder.instanceID, runtime: configuration.runtime.rawValue,
            pods: registry.count, activePods: registry.activeCount,
            lastPoll: lastPollAt.map { WireTime(secondsSince1970: $0) }, lastPollError: lastPollError,
            orphanJobs: orphanJobs.map(\.jobID), capacity: capacity)
    }

    /// The state `/metrics` publishes.
    func metricsSnapshot() -> AgentMetrics.Snapshot {
        var phases: [PodRecord.Phase: Int] = [:]
        for pod in registry.pods { phases[pod.phase, default: 0] += 1 }
        return AgentMetrics.Snapshot(counters: counters, phases: phases, tracked: registry.count,
                                     backendUp: lastPollAt != nil && lastPollError == nil, orphans: orphanJobs.count,
                                     capacity: capacity)
    }

    public func metricCounters() -> (Counters, Int, Int) {
        (counters, registry.count, registry.activeCount)
    }
}
