import EdgeAgent
import Foundation
import PodWire
import Testing

@Suite struct StatusMappingTests {
    let mapping = StatusMapping(initContainers: [TrackedContainer(name: "setup", image: "i")],
                                containers: [TrackedContainer(name: "main", image: "i"), TrackedContainer(name: "side", image: "i")],
                                podDir: "/nonexistent")

    func records(_ values: [String: ContainerRecord]) -> (String) -> ContainerRecord? { { values[$0] } }

    @Test func pendingCarriesSlurmsReason() {
        let outcome = mapping.map(job: BatchJobStatus(jobID: "5", phase: .queued, reason: "Resources"), now: 0)
        #expect(!outcome.isTerminal)
        #expect(outcome.containers.allSatisfy { $0.state.waiting?.reason == "Pending" })
        #expect(outcome.containers[0].state.waiting?.message?.contains("Resources") == true)
    }

    /// A hold someone placed (scontrol hold) is told apart from queueing; the agent's own holds
    /// for dependencies (HTCondor) stay `Pending`.
    @Test func aJobHeldBySomeoneIsHeldNotPending() {
        var held = BatchJobStatus(jobID: "5", phase: .queued, reason: "JobHeldAdmin")
        held.held = true
        let outcome = mapping.map(job: held, now: 0)
        #expect(outcome.containers.allSatisfy { $0.state.waiting?.reason == "Held" })
        #expect(outcome.containers[0].state.waiting?.message == "Slurm job 5 is held: JobHeldAdmin")
        var waitsForDependency = held
        waitsForDependency.dependency = .waiting
        #expect(mapping.map(job: waitsForDependency, now: 0).containers.allSatisfy { $0.state.waiting?.reason == "Pending" })
    }

    @Test func runningReadsTheStatusFiles() {
        let outcome = mapping.map(job: BatchJobStatus(jobID: "5", phase: .running), now: 100, read: records([
            "init-setup": ContainerRecord(started: 10, exitCode: 0, finished: 11),
            "run-main": ContainerRecord(started: 12),
        ]))
        #expect(outcome.initContainers[0].state.terminated?.exitCode == 0)
        #expect(outcome.containers[0].state.running?.startedAt == WireTime(secondsSince1970: 12))
        #expect(outcome.containers[0].ready)
        #expect(outcome.containers[1].state.waiting?.reason == "PodInitializing")
    }

    @Test func endingsMapToKubernetesReasons() {
        let started = records(["init-setup": ContainerRecord(started: 1, exitCode: 0, finished: 2),
                               "run-main": ContainerRecord(started: 3), "run-side": ContainerRecord(started: 3, exitCode: 143, finished: 9)])
        let cases: [(BatchJobStatus.Phase, String, Int)] = [
            (.timedOut, "SlurmJobTimeout", 143), (.cancelled, "Cancelled", 143), (.nodeFailed, "NodeFail", 137),
            (.bootFailed, "BootFail", 137),
            (.outOfMemory, "OOMKilled", 137), (.preempted, "Preempted", 143),
        ]
        for (state, reason, code) in cases {
            let outcome = mapping.map(job: BatchJobStatus(jobID: "5", phase: state), now: 10, read: started)
            #expect(outcome.isTerminal)
            #expect(outcome.containers[0].state.terminated?.reason == reason, "\(state)")
            #expect(outcome.containers[0].state.terminated?.exitCode == code, "\(state)")
            // A recorded exit by signal takes the job's reason too.
            if state != .outOfMemory && state != .nodeFailed && state != .bootFailed {
                #expect(outcome.containers[1].state.terminated?.reason == reason)
            }
        }
    }

    @Test func memoryKillIsRecognisedFromSlurmstepdsMessage() {
        let outcome = mapping.map(job: BatchJobStatus(jobID: "5", phase: .failed, exitCode: 0, signal: 9), now: 10,
                                  read: records(["init-setup": ContainerRecord(started: 1, exitCode: 0, finished: 2),
                                                 "run-main": ContainerRecord(started: 3)]),
                                  jobOutput: { "slurmstepd: error: Detected 1 oom-kill event(s)\nslurmstepd: error: Exceeded job memory limit\n" })
        #expect(outcome.containers[0].state.terminated?.reason == "OOMKilled")
        #expect(outcome.containers[0].state.terminated?.exitCode == 137)
        #expect(outcome.containers[1].state.terminated?.reason == "OOMKilled")
    }

    /// The runner writes `oom=1` when the cgroup counted an out-of-memory kill: the container is
    /// OOMKilled the moment it ends, before Slurm has ended the job (and stays so after).
    @Test func aContainerTheKernelKilledForMemoryIsOOMKilledWhileItsJobStillRuns() {
        let file = ContainerRecord(parsing: "started=3\nexit=137\nfinished=4\noom=1\n")
        #expect(file.oomKilled)
        let running = mapping.map(job: BatchJobStatus(jobID: "5", phase: .running), now: 10,
                                  read: records(["init-setup": ContainerRecord(started: 1, exitCode: 0, finished: 2), "run-main": file]))
        #expect(!running.isTerminal)
        #expect(running.containers[0].state.terminated?.reason == "OOMKilled")
        #expect(running.containers[0].state.terminated?.exitCode == 137)
        let ended = mapping.map(job: BatchJobStatus(jobID: "5", phase: .outOfMemory, exitCode: 0, signal: 9), now: 10,
                                read: records(["init-setup": ContainerRecord(started: 1, exitCode: 0, finished: 2), "run-main": file]))
        #expect(ended.containers[0].state.terminated?.reason == "OOMKilled")
        // a job's own words are not the kernel's: only `oom=1` after exit 137 counts
        for text in ["started=3\nexit=137\noom=yes\n", "started=3\nexit=1\noom=1\n", "started=3\nexit=137\n"] {
            let outcome = mapping.map(job: BatchJobStatus(jobID: "5", phase: .running), now: 10,
                                      read: records(["init-setup": ContainerRecord(started: 1, exitCode: 0, finished: 2),
                                                     "run-main": ContainerRecord(parsing: text)]))
            #expect(outcome.containers[0].state.terminated?.reason == "Error", "\(text)")
        }
    }

    @Test func jobsGoneFromSlurmAreResolvedFromTheFolder() {
        let outcome = mapping.map(job: nil, now: 50, read: records([
            "init-setup": ContainerRecord(started: 1, exitCode: 0, finished: 2),
            "run-main": ContainerRecord(started: 3, exitCode: 0, finished: 4),
            "run-side": ContainerRecord(started: 3, exitCode: 5, finished: 6),
        ]))
        #expect(outcome.isTerminal)
        #expect(outcome.containers.map { $0.state.terminated?.exitCode } == [0, 5])
        #expect(outcome.containers[0].state.terminated?.finishedAt == WireTime(secondsSince1970: 4))
        let lost = mapping.map(job: nil, now: 50, read: records(["run-main": ContainerRecord(started: 3)]))
        #expect(lost.containers[0].state.terminated?.reason == "JobLost")
    }

    @Test func failedInitMarksTheRestNotStarted() {
        let outcome = mapping.map(job: BatchJobStatus(jobID: "5", phase: .failed, exitCode: 3), now: 10,
                                  read: records(["init-setup": ContainerRecord(started: 1, exitCode: 3, finished: 2)]))
        #expect(outcome.initContainers[0].state.terminated?.exitCode == 3)
        #expect(outcome.containers.allSatisfy { $0.state.terminated?.reason == "NotStarted" })
    }

    @Test func slurmStateNamesParse() {
        #expect(SlurmState(slurm: "CANCELLED by 0") == .cancelled)
        #expect(SlurmState(slurm: "OUT_OF_MEMORY") == .outOfMemory)
        #expect(SlurmState(slurm: "CG") == .completing)
        #expect(SlurmState(slurm: "TO") == .timeout)
    }

    /// Messages name the scheduler the job is on and keep its own words.
    @Test func messagesNameTheSchedulerAndKeepItsWords() {
        let condor = StatusMapping(initContainers: [], containers: [TrackedContainer(name: "main", image: "i")], podDir: "/x",
                                   scheduler: "HTCondor")
        let waiting = condor.map(job: BatchJobStatus(jobID: "9", phase: .queued, reason: "DependencyNeverSatisfied"), now: 0)
        #expect(waiting.containers[0].state.waiting?.message == "HTCondor job 9 pending: DependencyNeverSatisfied")
        #expect(condor.submitted().containers[0].state.waiting?.message == "submitted to HTCondor")
        let held = condor.map(job: BatchJobStatus(jobID: "9", phase: .failed, reason: "cannot access initial working directory",
                                                  detail: "Held"), now: 0, read: { _ in ContainerRecord(started: 1) })
        #expect(held.containers[0].state.terminated?.message == "HTCondor job 9 ended (Held: cannot access initial working directory) before this container recorded its exit")
    }

    /// Usage stored by earlier versions named Slurm's states; it still reads, as phases.
    @Test func storedUsageWithSlurmStateNamesStillReads() throws {
        let old = try JSONDecoder().decode([JobUsage].self, from: Data("""
            [{"state": "COMPLETED", "wallSeconds": 1, "cpuSeconds": 1, "cores": 1, "nodes": 1, "maxRSSKiB": 1, "gpus": 0},
             {"state": "CANCELLED", "wallSeconds": 1, "cpuSeconds": 1, "cores": 1, "nodes": 1, "maxRSSKiB": 1, "gpus": 0},
             {"state": "outOfMemory", "wallSeconds": 1, "cpuSeconds": 1, "cores": 1, "nodes": 1, "maxRSSKiB": 1, "gpus": 0}]
            """.utf8))
        #expect(old.map(\.state) == [.succeeded, .cancelled, .outOfMemory])
        let again = try JSONDecoder().decode(JobUsage.self, from: try JSONEncoder().encode(old[0]))
        #expect(again.state == .succeeded)
    }
}
