import Foundation

/// `/metrics` in Prometheus' text format.
enum Metrics {
    static func render(controller: PodController) async -> String {
        let (counters, pods, active) = await controller.metricCounters()
        let health = await controller.health()
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ value: String) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
            lines.append("\(name) \(value)")
        }
        metric("dte_agent_pods_created_total", "counter", "Pods created (jobs submitted).", "\(counters.created)")
        metric("dte_agent_pod_create_errors_total", "counter", "Create requests that failed.", "\(counters.createErrors)")
        metric("dte_agent_pods_deleted_total", "counter", "Delete requests for known pods.", "\(counters.deleted)")
        metric("dte_agent_polls_total", "counter", "Slurm polls.", "\(counters.polls)")
        metric("dte_agent_poll_errors_total", "counter", "Slurm polls that failed.", "\(counters.pollErrors)")
        metric("dte_agent_poll_duration_seconds", "gauge", "Duration of the last poll.", String(format: "%.6f", counters.lastPollSeconds))
        metric("dte_agent_pods", "gauge", "Pods tracked (active and finished).", "\(pods)")
        metric("dte_agent_active_pods", "gauge", "Pods whose job has not ended.", "\(active)")
        metric("dte_agent_orphan_jobs", "gauge", "Jobs of this agent that match no known pod.", "\(health.orphanJobs.count)")
        if let capacity = health.capacity {
            metric("dte_agent_free_cpus", "gauge", "Free CPUs on nodes that are up.", "\(capacity.freeCPUs)")
            metric("dte_agent_free_memory_bytes", "gauge", "Free memory on nodes that are up.", "\(capacity.freeMemoryMiB * 1_048_576)")
            metric("dte_agent_free_gpus", "gauge", "Free GPUs on nodes that are up.", "\(capacity.freeGPUs)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
