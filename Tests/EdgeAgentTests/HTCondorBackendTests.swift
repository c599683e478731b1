import EdgeAgent
import Foundation
import Logging
import PodWire
import Testing

@testable import EdgeAgent

/// The HTCondor backend: what it submits and how it reads HTCondor's answers.
@Suite struct HTCondorBackendTests {
    static func request(_ change: (inout BatchJobRequest) -> Void = { _ in }) -> BatchJobRequest {
        var request = BatchJobRequest(
            name: "tests.hello", partition: nil, account: nil, qos: nil, cpusPerTask: 2, memoryMiB: 512, gpus: 0,
            gpuModel: nil, timeLimitMinutes: nil, afterOK: [], workDir: "/srv/dte/pods/tests-u1",
            comment: "dte-agent:abc:u1", extraFlags: [], hold: false)
        change(&request)
        return request
    }

    @Test func submitDescriptionCarriesTheRequest() throws {
        let request = Self.request {
            $0.gpus = 1; $0.gpuModel = "a100"; $0.account = "proj1"; $0.timeLimitMinutes = 90; $0.afterOK = ["17", "18"]
        }
        let text = try HTCondorCLI.submitDescription(request, executable: "/srv/dte/pods/tests-u1/job.slurm",
                                                     environment: ["PATH": "/usr/bin:/bin", "HOME": "/home/o'neil \"x\""])
        #expect(text == """
            # dte-agent: one pod's job
            universe = vanilla
            executable = /srv/dte/pods/tests-u1/job.slurm
            transfer_executable = false
            should_transfer_files = NO
            initialdir = /srv/dte/pods/tests-u1
            output = /srv/dte/pods/tests-u1/job.out
            error = /srv/dte/pods/tests-u1/job.err
            batch_name = tests.hello
            request_cpus = 2
            request_memory = 512
            getenv = false
            environment = "HOME='/home/o''neil ""x""' PATH='/usr/bin:/bin'"
            +DTEComment = "dte-agent:abc:u1"
            request_gpus = 1
            require_gpus = regexp("a100", DeviceName, "i")
            accounting_group = proj1
            allowed_job_duration = 5400
            +DTEAfter = "17 18"
            hold = true
            queue 1

            """)
        // Held by the site, the job is marked so that dependencies never release it.
        let held = try HTCondorCLI.submitDescription(Self.request { $0.hold = true }, executable: "/x/job.slurm", environment: [:])
        #expect(held.contains("+DTESiteHold = true\nhold = true\n"))
        #expect(!(try HTCondorCLI.submitDescription(Self.request(), executable: "/x/job.slurm", environment: [:])).contains("hold"))
    }

    @Test func whatHTCondorCannotDoIsRefusedWithAReason() throws {
        let cases: [(BatchJobRequest, String)] = [
            (Self.request { $0.partition = "gpu" }, "no partitions"),
            (Self.request { $0.qos = "high" }, "no QoS"),
            (Self.request { $0.userID = 1234 }, "runAsUser"),
            (Self.request { $0.extraFlags = ["--constraint=x"] }, "sbatch flags"),
        ]
        for (request, words) in cases {
            let error = #expect(throws: AgentError.self) {
                try HTCondorCLI.submitDescription(request, executable: "/x/job.slurm", environment: [:])
            }
            #expect(error?.code == .unsupported)
            #expect(error?.status.code == 422)
            #expect(error?.message.contains(words) == true, "\(String(describing: error))")
        }
        var configuration = AgentConfiguration()
        configuration.backend = .htcondor
        configuration.partition = "batch"
        #expect(throws: AgentError.self) { try configuration.validate() }
    }

    @Test func jobStatesFromQueueAds() throws {
        let json = """
            [
              {"ClusterId": 1, "JobStatus": 1, "DTEComment": "dte-agent:i:a"},
              {"ClusterId": 2, "JobStatus": 2, "JobCurrentStartDate": 1700000000},
              {"ClusterId": 3, "JobStatus": 4, "ExitCode": 0, "ExitBySignal": false, "CompletionDate": 1700000100},
              {"ClusterId": 4, "JobStatus": 4, "ExitCode": 3, "ExitBySignal": false},
              {"ClusterId": 5, "JobStatus": 4, "ExitBySignal": true, "ExitSignal": 9},
              {"ClusterId": 6, "JobStatus": 3, "EnteredCurrentStatus": 1700000200},
              {"ClusterId": 7, "JobStatus": 5, "HoldReasonCode": 15, "HoldReason": "submitted on hold at user's request"},
              {"ClusterId": 8, "JobStatus": 5, "HoldReasonCode": 34, "HoldReason": "memory usage exceeded request_memory"},
              {"ClusterId": 9, "JobStatus": 5, "HoldReasonCode": 46, "HoldReason": "The job's allowed duration was exceeded."},
              {"ClusterId": 10, "JobStatus": 5, "HoldReasonCode": 14, "HoldReason": "cannot access initial working directory"},
              {"ClusterId": 11, "JobStatus": 7},
              {"ClusterId": 12, "JobStatus": 6}
            ]
            """
        let jobs = try HTCondorCLI.parseJobs(json)
        let states = jobs.mapValues(\.phase)
        #expect(states == ["1": .queued, "2": .running, "3": .succeeded, "4": .failed, "5": .failed, "6": .cancelled,
                           "7": .queued, "8": .outOfMemory, "9": .timedOut, "10": .failed, "11": .suspended, "12": .running])
        #expect(jobs["1"]?.comment == "dte-agent:i:a")
        #expect(jobs["2"]?.startTime == 1_700_000_000)
        #expect(jobs["3"]?.endTime == 1_700_000_100 && jobs["3"]?.exitCode == 0)
        #expect(jobs["4"]?.exitCode == 3)
        #expect(jobs["5"]?.signal == 9 && jobs["5"]?.exitCode == 137)
        #expect(jobs["6"]?.endTime == 1_700_000_200)
        #expect(jobs["10"]?.reason == "cannot access initial working directory")
        #expect(try HTCondorCLI.parseJobs("").isEmpty)
        #expect(throws: AgentError.self) { try HTCondorCLI.parseJobs("-- Failed to fetch ads from: <127.0.0.1:9618>") }
        #expect(HTCondorCLI.parseTerse("42.0 - 42.0\n") == "42")
        #expect(HTCondorCLI.parseTerse("ERROR: no\n") == nil)
    }

    @Test func capacityCountsPartitionableAndFreeStaticSlots() throws {
        let slots = try HTCondorCLI.parseAds("""
            [
              {"Machine": "n1", "SlotType": "Partitionable", "PartitionableSlot": true, "State": "Unclaimed",
               "Cpus": 6, "Memory": 10000, "GPUs": 1, "TotalSlotCpus": 8, "TotalSlotMemory": 16000, "TotalSlotGPUs": 2},
              {"Machine": "n1", "SlotType": "Dynamic", "State": "Claimed", "Cpus": 2, "Memory": 6000, "GPUs": 1},
              {"Machine": "n2", "SlotType": "Static", "State": "Unclaimed", "Cpus": 1, "Memory": 2000, "GPUs": 0},
              {"Machine": "n2", "SlotType": "Static", "State": "Claimed", "Cpus": 1, "Memory": 2000, "GPUs": 0}
            ]
            """, what: "condor_status")
        let capacity = try HTCondorCLI.capacity(slots)
        #expect(capacity == ClusterCapacity(freeCPUs: 7, freeMemoryMiB: 12000, freeGPUs: 1, totalCPUs: 10,
                                            totalMemoryMiB: 20000, totalGPUs: 2, nodesUp: 2))
    }
}

/// The agent's pod behaviours with `backend: htcondor`, run against `fake-htcondor` (a stand-in
/// for an HTCondor pool, see its header: HTCondor cannot be installed on the development
/// machines). The same behaviours run on real Slurm in SlurmPodTests.
@Suite struct HTCondorStandInTests {
    /// A pool of its own (the stand-in's queue lives next to its scripts) and an agent on it.
    static func pool() throws -> (agent: TestAgent, backend: HTCondorCLI, bin: String) {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let bin = FileManager.default.temporaryDirectory.appendingPathComponent("fake-htcondor-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.copyItem(atPath: root.appendingPathComponent("Fixtures/fake-htcondor").path, toPath: bin)
        let backend = HTCondorCLI(logger: Logger(label: "htcondor-test"), binDir: bin)
        let agent = try TestAgent(backend: backend) { $0.backend = .htcondor; $0.htcondorBinDir = bin }
        return (agent, backend, bin)
    }

    @Test func helloWorldRunsAndItsLogIsRead() async throws {
        let (agent, backend, _) = try Self.pool()
        defer { agent.stop() }
        let pod = Fixtures.pod("hello", containers: [Fixtures.container("main", ["echo", "hello world"])])
        let job = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid, timeout: 60)
        #expect(status.jobID == job)
        #expect(status.exitCode("main") == 0)
        #expect(status.reason("main") == "Completed")
        #expect(try await agent.logs(pod.pod.metadata.uid, "main").1 == "hello world\n")
        let description = try String(contentsOfFile: "\(agent.podDir(pod.pod.metadata.uid))/job.sub", encoding: .utf8)
        #expect(description.contains("executable = \(agent.podDir(pod.pod.metadata.uid))/job.slurm"))
        // HTCondor reads the request from job.sub: the script is the runner alone, no #SBATCH lines
        let script = try String(contentsOfFile: "\(agent.podDir(pod.pod.metadata.uid))/job.slurm", encoding: .utf8)
        #expect(script.hasPrefix("#!/bin/bash\n"))
        #expect(!script.contains("#SBATCH"))
        #expect(script.contains("hello world"))
        #expect(try await backend.accounting(jobIDs: [job])[job]?.phase == .succeeded)
    }

    @Test func initFailureStopsThePodAndExitCodesAreKept() async throws {
        let (agent, backend, _) = try Self.pool()
        defer { agent.stop() }
        let failing = Fixtures.pod(
            "init-fail",
            initContainers: [Fixtures.container("breaks", ["sh", "-c", "exit 3"])],
            containers: [Fixtures.container("main", ["echo", "should-not-run"])])
        let codes = Fixtures.pod(
            "exit-codes",
            containers: [Fixtures.container("ok", ["true"]), Fixtures.container("seven", ["sh", "-c", "exit 7"])])
        _ = try await agent.create(failing)
        let job = try await agent.create(codes)
        let failed = try await agent.finished(failing.pod.metadata.uid, timeout: 60)
        #expect(failed.exitCode("breaks") == 3)
        #expect(failed.reason("main") == "NotStarted")
        let status = try await agent.finished(codes.pod.metadata.uid, timeout: 60)
        #expect(status.exitCode("ok") == 0 && status.exitCode("seven") == 7)
        let history = try await backend.accounting(jobIDs: [job])
        #expect(history[job]?.phase == .failed && history[job]?.exitCode == 7)
    }

    @Test func deleteRemovesTheRunningJob() async throws {
        let (agent, backend, _) = try Self.pool()
        defer { agent.stop() }
        let pod = Fixtures.pod("sleeper", containers: [Fixtures.container("main", ["sleep", "300"])])
        let job = try await agent.create(pod)
        let deadline = Date().addingTimeInterval(30)
        while try await backend.jobs()[job]?.phase != .running, Date() < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(try await backend.jobs()[job]?.phase == .running)
        let (code, _) = try await agent.request(.delete, "/delete", body: try JSONEncoder().encode(pod.pod))
        #expect(code == 200)
        #expect(try await backend.jobs()[job] == nil)
        #expect(try await backend.accounting(jobIDs: [job])[job]?.phase == .cancelled)
        // A second cancel of the gone job succeeds (delete is idempotent).
        try await backend.cancel(jobID: job)
    }

    @Test func afterWaitsForTheDependencyAndNeverRunsAfterAFailure() async throws {
        let (agent, backend, _) = try Self.pool()
        defer { agent.stop() }
        let first = Fixtures.pod("first", containers: [Fixtures.container("main", ["sh", "-c", "sleep 2; echo first"])])
        let firstJob = try await agent.create(first)
        let second = Fixtures.pod("second", containers: [Fixtures.container("main", ["echo", "second"])],
                                  annotations: ["dte.io/after": first.pod.metadata.uid])
        let secondJob = try await agent.create(second)
        #expect(try await backend.jobs()[secondJob]?.phase == .queued)
        _ = try await agent.finished(second.pod.metadata.uid, timeout: 60)
        let history = try await backend.accounting(jobIDs: [firstJob, secondJob])
        let firstEnd = try #require(history[firstJob]?.endTime)
        let secondStart = try #require(history[secondJob]?.startTime)
        #expect(secondStart >= firstEnd, "the dependent started before its dependency ended")
        #expect(try await agent.logs(second.pod.metadata.uid, "main").1 == "second\n")

        let broken = Fixtures.pod("broken", containers: [Fixtures.container("main", ["sh", "-c", "sleep 1; exit 4"])])
        let brokenJob = try await agent.create(broken)
        let waiting = Fixtures.pod("waiting", containers: [Fixtures.container("main", ["echo", "must-not-run"])],
                                   annotations: ["dte.io/after": broken.pod.metadata.uid])
        let waitingJob = try await agent.create(waiting)
        _ = try await agent.finished(broken.pod.metadata.uid, timeout: 60)
        #expect(try await backend.accounting(jobIDs: [brokenJob])[brokenJob]?.phase == .failed)
        let queue = try await backend.jobs()
        #expect(queue[waitingJob]?.phase == .queued)
        #expect(queue[waitingJob]?.reason == "DependencyNeverSatisfied")
        let output = (try? String(contentsOfFile: "\(agent.podDir(waiting.pod.metadata.uid))/job.out", encoding: .utf8)) ?? ""
        #expect(!output.contains("must-not-run"))
        try await backend.cancel(jobID: waitingJob)
    }

    @Test func pingReportsThePoolsFreeResourcesAndPartitionsAreRefused() async throws {
        let (agent, _, _) = try Self.pool()
        defer { agent.stop() }
        let (code, body) = try await agent.request(.get, "/status", body: Data("[]".utf8))
        #expect(code == 200)
        let ping = try JSONDecoder().decode(PingResponse.self, from: body)
        #expect(ping.resources.cpu == "\(ProcessInfo.processInfo.activeProcessorCount)")
        #expect(ping.resources.memory == "4096Mi")
        let pod = Fixtures.pod("partitioned", containers: [Fixtures.container("main", ["true"])],
                               annotations: ["dte.io/partition": "gpu"])
        let (status, text) = try await agent.request(.post, "/create", body: try JSONEncoder().encode(pod))
        #expect(status == 422)
        #expect(String(decoding: text, as: UTF8.self).contains("HTCondor has no partitions"))
    }
}
