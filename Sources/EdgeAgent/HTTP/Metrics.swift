import Foundation
import NIOConcurrencyHelpers
import Prometheus

/// The agent's metrics, kept in a swift-prometheus registry and served at `/metrics` in
/// Prometheus' text format. Base units (seconds, bytes); `_total` only on counters.
/// Counts the controller keeps (`PodController.Counters`) and gauges of its state are
/// published when scraped; latencies and usage are recorded as they happen.
public final class AgentMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    let created, createErrors, deleted, polls, pollErrors: Counter
    /// Latency of the batch system's answers, by operation (`jobs`: the poll's one query, `usage`: accounting).
    let backendLatency: [String: DurationHistogram]
    let pods: [PodRecord.Phase: Gauge]
    let tracked, backendUp, orphans, freeCPUs, freeMemory, freeGPUs, lastPoll: Gauge

    /// Distinct projects with their own usage series at most; the rest are counted as `other`.
    static let maxProjects = 1_000
    private struct Usage {
        var coreSeconds: [String: Counter] = [:]
        var gpuSeconds: [String: Counter] = [:]
        /// The controller's counts already published (counters only grow by the difference).
        var published = PodController.Counters()
    }
    private let usage = NIOLockedValueBox(Usage())

    /// `dte_agent_<metric>`, with its unit suffix split off as the library wants it.
    static func name(_ metric: String, _ help: String) -> MetricNameDescriptor {
        for unit in ["total", "seconds", "bytes"] where metric.hasSuffix("_" + unit) {
            return MetricNameDescriptor(namespace: "dte", subsystem: "agent", metricName: String(metric.dropLast(unit.count + 1)),
                                        unitName: unit, helpText: help)
        }
        return MetricNameDescriptor(namespace: "dte", subsystem: "agent", metricName: metric, unitName: "", helpText: help)
    }

    public init() {
        let r = registry
        created = r.makeCounter(descriptor: Self.name("pods_created_total", "Pods created (jobs submitted)."))
        createErrors = r.makeCounter(descriptor: Self.name("pod_create_errors_total", "Create requests that failed."))
        deleted = r.makeCounter(descriptor: Self.name("pods_deleted_total", "Delete requests for known pods."))
        polls = r.makeCounter(descriptor: Self.name("polls_total", "Polls of the batch system."))
        pollErrors = r.makeCounter(descriptor: Self.name("poll_errors_total", "Polls the batch system did not answer."))
        let buckets: [Duration] = [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                   .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2_500), .seconds(5),
                                   .seconds(10), .seconds(30)]
        var latency: [String: DurationHistogram] = [:]
        for operation in ["jobs", "usage"] {
            latency[operation] = r.makeDurationHistogram(
                descriptor: Self.name("backend_query_duration_seconds", "Time the batch system took to answer a query."),
                labels: [("operation", operation)], buckets: buckets)
        }
        backendLatency = latency
        var phases: [PodRecord.Phase: Gauge] = [:]
        for phase in [PodRecord.Phase.submitting, .active, .finished] {
            phases[phase] = r.makeGauge(descriptor: Self.name("pods", "Pods tracked, by phase (submitting, active, finished)."),
                                        labels: [("phase", phase.rawValue)])
        }
        pods = phases
        tracked = r.makeGauge(descriptor: Self.name("tracked_pods", "Pods tracked (all phases)."))
        backendUp = r.makeGauge(descriptor: Self.name("backend_up", "1 when the last poll of the batch system succeeded."))
        orphans = r.makeGauge(descriptor: Self.name("orphan_jobs", "Jobs of this agent that match no known pod."))
        freeCPUs = r.makeGauge(descriptor: Self.name("free_cpus", "Free CPUs on nodes that are up."))
        freeMemory = r.makeGauge(descriptor: Self.name("free_memory_bytes", "Free memory on nodes that are up."))
        freeGPUs = r.makeGauge(descriptor: Self.name("free_gpus", "Free GPUs on nodes that are up."))
        lastPoll = r.makeGauge(descriptor: Self.name("last_poll_duration_seconds", "Duration of the last poll."))
    }

    /// Records how long one batch-system query took.
    func recordLatency(_ operation: String, _ duration: Duration) {
        backendLatency[operation]?.record(duration)
    }

    /// Adds collected usage to the per-project counters.
    func addUsage(project: String, coreSeconds: Double, gpuSeconds: Double) {
        let r = registry
        let (core, gpu) = usage.withLockedValue { state -> (Counter, Counter) in
            // A label value of plain characters, whatever a pod or accounting named the project.
            var name = String(String(project.unicodeScalars.map {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) ? Character($0) : "_"
            }).prefix(64))
            if state.coreSeconds[name] == nil, state.coreSeconds.count >= Self.maxProjects { name = "other" }
            let core = state.coreSeconds[name] ?? r.makeCounter(
                descriptor: Self.name("usage_core_seconds_total", "Core-seconds (cores × wall time) of finished jobs, by project."),
                labels: [("project", name)])
            let gpu = state.gpuSeconds[name] ?? r.makeCounter(
                descriptor: Self.name("usage_gpu_seconds_total", "GPU-seconds (GPUs × wall time) of finished jobs, by project."),
                labels: [("project", name)])
            state.coreSeconds[name] = core
            state.gpuSeconds[name] = gpu
            return (core, gpu)
        }
        if coreSeconds > 0, coreSeconds.isFinite { core.increment(by: coreSeconds) }
        if gpuSeconds > 0, gpuSeconds.isFinite { gpu.increment(by: gpuSeconds) }
    }

    /// What the controller shows at a scrape.
    struct Snapshot: Sendable {
        var counters: PodController.Counters
        var phases: [PodRecord.Phase: Int]
        var tracked: Int
        var backendUp: Bool
        var orphans: Int
        var capacity: ClusterCapacity?
    }

    /// The text format, with the controller's state published first.
    func render(_ s: Snapshot) -> String {
        usage.withLockedValue { state in
            func publish(_ counter: Counter, _ now: Int, _ before: Int) { if now > before { counter.increment(by: Int64(now - before)) } }
            publish(created, s.counters.created, state.published.created)
            publish(createErrors, s.counters.createErrors, state.published.createErrors)
            publish(deleted, s.counters.deleted, state.published.deleted)
            publish(polls, s.counters.polls, state.published.polls)
            publish(pollErrors, s.counters.pollErrors, state.published.pollErrors)
            state.published = s.counters
        }
        for (phase, gauge) in pods { gauge.set(Double(s.phases[phase] ?? 0)) }
        tracked.set(Double(s.tracked))
        backendUp.set(to: s.backendUp ? 1.0 : 0.0)
        orphans.set(Double(s.orphans))
        lastPoll.set(s.counters.lastPollSeconds)
        if let capacity = s.capacity {
            freeCPUs.set(Double(capacity.freeCPUs))
            freeMemory.set(Double(capacity.freeMemoryMiB) * 1_048_576)
            freeGPUs.set(Double(capacity.freeGPUs))
        }
        return registry.emitToString()
    }
}
