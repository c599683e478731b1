import Foundation
import PodWire

/// A container of a tracked pod, as remembered by the agent.
public struct TrackedContainer: Codable, Sendable, Hashable {
    public var name: String
    public var image: String
    public init(name: String, image: String) {
        self.name = name
        self.image = image
    }
}

/// Maps a batch job's status (its neutral phase) and the files its script wrote to a pod's
/// container statuses. Messages name the scheduler and keep its own words (its reason, its
/// state's name).
///
/// | phase (Slurm; HTCondor) | containers |
/// |---|---|
/// | queued (PENDING, REQUEUED; Idle, held for dependencies) | waiting `Pending` (message: the scheduler's reason) |
/// | queued and held by a user or administrator (JobHeldUser, JobHeldAdmin; Held) | waiting `Held` (message: the scheduler's reason) |
/// | running, suspended (RUNNING, COMPLETING, SUSPENDED; Running, Transferring Output, Suspended) | from the status files: running, terminated, or waiting `PodInitializing` |
/// | succeeded, failed (COMPLETED, FAILED; Completed, held because it cannot start) | recorded exit codes; unrecorded ones `Error` with the job's exit code |
/// | outOfMemory (OUT_OF_MEMORY, or killed for exceeding `--mem`; held for memory) | `OOMKilled`, exit 137 |
/// | timedOut (TIMEOUT, DEADLINE; held for its allowed duration) | `SlurmJobTimeout` |
/// | cancelled (CANCELLED; Removed) | `Cancelled`, exit 143 |
/// | nodeFailed, bootFailed, preempted (NODE_FAIL, BOOT_FAIL, PREEMPTED) | `NodeFail`, `BootFail`, `Preempted` |
/// Containers that never started in a finished job are terminated `NotStarted`. A container
/// the kernel's memory cgroup killed (`oom=1` in its status file) is `OOMKilled` at once, while
/// its job still runs.
public struct StatusMapping: Sendable {
    public var initContainers: [TrackedContainer]
    public var containers: [TrackedContainer]
    public var podDir: String
    /// The scheduler's name in messages (`Slurm`, `HTCondor`).
    public var scheduler: String

    public init(initContainers: [TrackedContainer], containers: [TrackedContainer], podDir: String, scheduler: String = "Slurm") {
        self.initContainers = initContainers
        self.containers = containers
        self.podDir = podDir
        self.scheduler = scheduler
    }

    /// The outcome for one poll: the statuses and whether the pod reached its end.
    public struct Outcome: Sendable {
        public var initContainers: [ContainerStatus]
        public var containers: [ContainerStatus]
        public var isTerminal: Bool
    }

    /// Statuses before the job is known to the scheduler (just submitted, or still submitting).
    public func submitted() -> Outcome {
        Outcome(initContainers: initContainers.map { waiting($0, "Pending", "submitted to \(scheduler)") },
                containers: containers.map { waiting($0, "Pending", "submitted to \(scheduler)") }, isTerminal: false)
    }

    /// Maps `job` (nil: the scheduler and its accounting no longer know it) with the recorded files.
    public func map(job: BatchJobStatus?, now: Double, read: (String) -> ContainerRecord? = { _ in nil },
                    jobOutput: () -> String? = { nil }) -> Outcome {
        let records = Dictionary(uniqueKeysWithValues: (initContainers.map { ("init-\($0.name)", $0) }
            + containers.map { ("run-\($0.name)", $0) }).map { ($0.0, read($0.0)) })
        func record(_ prefix: String) -> ContainerRecord? { records[prefix] ?? nil }

        guard let job else {
            // Gone from the queue and accounting: the folder is all there is.
            let ending = Ending(reason: "JobLost", exitCode: 1,
                                message: "the job is no longer known to \(scheduler) and did not record this container's end",
                                finishedAt: now)
            return terminal(record: record, ending: ending)
        }

        switch job.phase {
        case .queued, .unknown:
            let name = "\(scheduler) job \(job.jobID)"
            // Held by someone (an administrator's or user's hold), not waiting for a dependency
            // the agent set up: it will not start until released, which the pod's owner must know.
            let held = job.held && job.dependency == nil
            let reason = held ? "Held" : "Pending"
            let message = job.reason.map { "\(name) \(held ? "is held" : "pending"): \($0)" } ?? "\(name) \(held ? "is held" : "pending")"
            return Outcome(initContainers: initContainers.map { waiting($0, reason, message) },
                           containers: containers.map { waiting($0, reason, message) }, isTerminal: false)
        case .running, .suspended:
            var initStatuses: [ContainerStatus] = []
            var initDone = true
            for container in initContainers {
                let rec = record("init-\(container.name)")
                initStatuses.append(live(container, rec))
                if rec?.exitCode != 0 { initDone = false }
            }
            let regular = containers.map { container -> ContainerStatus in
                let rec = record("run-\(container.name)")
                if rec == nil && !initDone { return waiting(container, "PodInitializing", nil) }
                return live(container, rec)
            }
            return Outcome(initContainers: initStatuses, containers: regular, isTerminal: false)
        case .succeeded, .failed, .cancelled, .timedOut, .outOfMemory, .nodeFailed, .bootFailed, .preempted:
            return terminal(record: record, ending: ending(for: job, now: now, jobOutput: jobOutput))
        }
    }

    struct Ending {
        var reason: String
        var exitCode: Int
        var message: String?
        var finishedAt: Double
    }

    private func ending(for job: BatchJobStatus, now: Double, jobOutput: () -> String?) -> Ending {
        let end = job.endTime ?? now
        let name = "\(scheduler) job \(job.jobID)"
        let signalled = job.signal.map { $0 > 0 } ?? false
        switch job.phase {
        case .outOfMemory:
            return Ending(reason: "OOMKilled", exitCode: 137, message: "\(name) ran out of memory", finishedAt: end)
        case .failed, .cancelled, .succeeded:
            if let text = jobOutput(), Self.showsMemoryKill(text) {
                return Ending(reason: "OOMKilled", exitCode: 137,
                              message: "\(scheduler) killed job \(job.jobID) for exceeding its memory limit", finishedAt: end)
            }
            if job.phase == .cancelled {
                return Ending(reason: "Cancelled", exitCode: 143, message: "\(name) was cancelled", finishedAt: end)
            }
            let code = signalled ? 128 + (job.signal ?? 0) : (job.exitCode.map { $0 == 0 ? 1 : $0 } ?? 1)
            let why = job.reason.map { ": \($0)" } ?? ""
            return Ending(reason: "Error", exitCode: code,
                          message: "\(name) ended (\(job.stateText)\(why)) before this container recorded its exit",
                          finishedAt: end)
        case .timedOut:
            return Ending(reason: "SlurmJobTimeout", exitCode: 143, message: "\(name) reached its time limit", finishedAt: end)
        case .nodeFailed:
            return Ending(reason: "NodeFail", exitCode: 137, message: "the node of \(name) failed", finishedAt: end)
        case .bootFailed:
            return Ending(reason: "BootFail", exitCode: 137, message: "the node of \(name) failed to boot", finishedAt: end)
        case .preempted:
            return Ending(reason: "Preempted", exitCode: 143, message: "\(name) was preempted", finishedAt: end)
        case .queued, .running, .suspended, .unknown:
            return Ending(reason: "Error", exitCode: 1, message: nil, finishedAt: end)
        }
    }

    /// slurmstepd writes this into the job's output when OverMemoryKill ends a job.
    static func showsMemoryKill(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.contains("exceeded job memory limit") || lower.contains("exceeded memory limit")
            || lower.contains("oom-kill") || lower.contains("oom_kill")
    }

    private func terminal(record: (String) -> ContainerRecord?, ending: Ending) -> Outcome {
        var failedInit: String?
        var initStatuses: [ContainerStatus] = []
        for container in initContainers {
            let rec = record("init-\(container.name)")
            let status = finished(container, rec, ending: ending, neverStarted: failedInit.map { "init container \($0) failed" })
            if failedInit == nil, let code = status.state.terminated?.exitCode, code != 0, rec != nil { failedInit = container.name }
            initStatuses.append(status)
        }
        let regular = containers.map { container in
            finished(container, record("run-\(container.name)"), ending: ending,
                     neverStarted: failedInit.map { "init container \($0) failed" })
        }
        return Outcome(initContainers: initStatuses, containers: regular, isTerminal: true)
    }

    private func finished(_ container: TrackedContainer, _ rec: ContainerRecord?, ending: Ending,
                          neverStarted: String?) -> ContainerStatus {
        let state: ContainerState
        if let rec, let code = rec.exitCode {
            var reason = Self.reason(exitCode: code, rec)
            if code >= 128 && reason == "Error" {
                switch ending.reason {
                case "OOMKilled", "SlurmJobTimeout", "Cancelled", "Preempted", "NodeFail": reason = ending.reason
                default: break
                }
            }
            state = ContainerState(terminated: .init(exitCode: code, reason: reason,
                                                     startedAt: rec.started.map(WireTime.init(secondsSince1970:)),
                                                     finishedAt: rec.finished.map(WireTime.init(secondsSince1970:))))
        } else if let rec {
            state = ContainerState(terminated: .init(exitCode: ending.exitCode, reason: ending.reason, message: ending.message,
                                                     startedAt: rec.started.map(WireTime.init(secondsSince1970:)),
                                                     finishedAt: WireTime(secondsSince1970: ending.finishedAt)))
        } else if let neverStarted {
            state = ContainerState(terminated: .init(exitCode: 1, reason: "NotStarted", message: neverStarted,
                                                     finishedAt: WireTime(secondsSince1970: ending.finishedAt)))
        } else {
            let reason = ending.reason == "Error" || ending.reason == "JobLost" ? "NotStarted" : ending.reason
            state = ContainerState(terminated: .init(exitCode: ending.exitCode, reason: reason,
                                                     message: ending.message ?? "the container never started",
                                                     finishedAt: WireTime(secondsSince1970: ending.finishedAt)))
        }
        return ContainerStatus(name: container.name, state: state, ready: false, image: container.image)
    }

    private func live(_ container: TrackedContainer, _ rec: ContainerRecord?) -> ContainerStatus {
        guard let rec else { return waiting(container, "PodInitializing", nil) }
        if let code = rec.exitCode {
            return ContainerStatus(name: container.name, state: ContainerState(terminated: .init(
                exitCode: code, reason: Self.reason(exitCode: code, rec),
                startedAt: rec.started.map(WireTime.init(secondsSince1970:)),
                finishedAt: rec.finished.map(WireTime.init(secondsSince1970:)))), ready: false, image: container.image)
        }
        var status = ContainerStatus(name: container.name,
                                     state: ContainerState(running: .init(startedAt: rec.started.map(WireTime.init(secondsSince1970:)))),
                                     ready: rec.ready ?? true, image: container.image)
        status.started = true
        return status
    }

    /// A container's reason from its own record: the kernel's out-of-memory kill is known the
    /// moment the container ends, before Slurm ends the job.
    static func reason(exitCode code: Int, _ rec: ContainerRecord) -> String {
        code == 0 ? "Completed" : rec.oomKilled && code == 137 ? "OOMKilled" : "Error"
    }

    private func waiting(_ container: TrackedContainer, _ reason: String, _ message: String?) -> ContainerStatus {
        ContainerStatus(name: container.name, state: .waiting(reason, message), ready: false, image: container.image)
    }
}

extension StatusMapping {
    /// DTE's extension of a pod's status: the job's scheduler parameters now (from the last
    /// poll) and as submitted. nil while the job is not seen queued or running (not polled yet,
    /// finished) or its scheduler reports none: there is nothing it could have been changed to.
    public static func dteStatus(job: BatchJobStatus?, submitted: JobParameters?) -> DTEPodStatus? {
        guard let job, !job.phase.isTerminal,
              let now = JobParameters(timeLimitMinutes: job.timeLimitMinutes, partition: job.partition, qos: job.qos).orNil
        else { return nil }
        return DTEPodStatus(job: now, submitted: submitted)
    }
}
