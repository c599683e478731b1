import Foundation
import Logging
import Testing

@testable import EdgeAgent

/// The three batch backends under one contract (`BatchBackend`): libslurm and the Slurm CLI on
/// the development cluster, HTCondor against its stand-in (Tests/EdgeAgentTests/Fixtures/
/// fake-htcondor, whose submit descriptions are read by HTCondor's own parser; HTCondor's
/// daemons have no Debian 12 package). Every case runs for each backend.
@Suite(.serialized) struct BackendConformanceTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case libslurm, slurmCLI, htcondor
        var testDescription: String { rawValue }
    }

    /// One backend with a folder for its jobs and a comment prefix of its own.
    final class Bed: @unchecked Sendable {
        let kind: Kind
        let backend: any BatchBackend
        let dir: String
        let prefix: String
        // Written by the test's own task only.
        var submitted: [String] = []

        init(_ kind: Kind) throws {
            self.kind = kind
            let tag = UUID().uuidString.prefix(8).lowercased()
            let temp = FileManager.default.temporaryDirectory
            dir = temp.appendingPathComponent("dte-conformance-\(tag)").path
            prefix = "dte-agent:conformance-\(tag):"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let logger = Logger(label: "conformance")
            switch kind {
            case .libslurm:
                try SlurmCluster.require()
                backend = SlurmLibrary(logger: logger)
            case .slurmCLI:
                try SlurmCluster.require()
                backend = SlurmCLI(logger: logger)
            case .htcondor:
                let bin = temp.appendingPathComponent("fake-htcondor-\(tag)").path
                let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fake-htcondor")
                try FileManager.default.copyItem(atPath: fixture.path, toPath: bin)
                backend = HTCondorCLI(logger: logger, binDir: bin)
            }
        }

        /// Submits `body` (bash) as job `name`.
        func submit(_ name: String, _ body: String, after: [String] = [], hold: Bool = false) async throws -> String {
            let work = "\(dir)/\(name)"
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            let request = BatchJobRequest(
                name: "dte-conformance.\(name)", partition: nil, account: nil, qos: nil, cpusPerTask: 1, memoryMiB: 64,
                gpus: 0, gpuModel: nil, timeLimitMinutes: 5, afterOK: after, workDir: work, comment: prefix + name,
                extraFlags: [], hold: hold)
            let script = (kind == .htcondor ? BackendKind.htcondor : .slurm).jobScript(request: request, runner: "#!/bin/bash\n\(body)\n")
            let path = "\(work)/job.slurm"
            guard FileManager.default.createFile(atPath: path, contents: Data(script.utf8), attributes: [.posixPermissions: 0o700]) else {
                throw SlurmCluster.SetupFailure(message: "cannot write \(path)")
            }
            let id = try await backend.submit(request, script: script, scriptPath: path)
            submitted.append(id)
            return id
        }

        /// One poll as the agent makes it: the queue's answer, then the backend's reconcile steps.
        @discardableResult
        func poll() async throws -> (jobs: [String: BatchJobStatus], steps: [ReconcileStep]) {
            let jobs = try await backend.jobs(commentPrefix: prefix)
            return (jobs, try await backend.reconcile(jobs))
        }

        /// Polls until `done` holds for the job (queue first, then accounting); its last status.
        func wait(for id: String, timeout: Double = 90, _ done: (BatchJobStatus) -> Bool) async throws -> BatchJobStatus {
            let deadline = Date().addingTimeInterval(timeout)
            var last: BatchJobStatus?
            while Date() < deadline {
                let jobs = try await poll().jobs
                last = jobs[id] ?? last
                if let status = jobs[id], done(status) { return status }
                if jobs[id] == nil || jobs[id]?.phase.isTerminal == true,
                   let status = try await backend.accounting(jobIDs: [id])[id], done(status) {
                    return status
                }
                try await Task.sleep(for: .milliseconds(400))
            }
            throw SlurmCluster.SetupFailure(message: "\(kind) job \(id) did not get there in \(Int(timeout)) s; last seen \(String(describing: last))")
        }

        func cleanUp() async {
            for id in submitted { try? await backend.cancel(jobID: id) }
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    /// Waits for the job's final accounting record, polling as the agent does (with the
    /// backend's reconcile steps, unless `reconcile` is false).
    static func final(_ bed: Bed, _ id: String, timeout: Double = 90, reconcile: Bool = true) async throws -> BatchJobStatus {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if reconcile { try await bed.poll() }
            if let status = try await bed.backend.accounting(jobIDs: [id])[id], status.phase.isTerminal { return status }
            try await Task.sleep(for: .milliseconds(400))
        }
        throw SlurmCluster.SetupFailure(message: "\(bed.kind) job \(id) has no final record after \(Int(timeout)) s")
    }

    // MARK: - Submission and status

    @Test(arguments: Kind.allCases)
    func submitReturnsAnIDTheQueueKnowsWithItsComment(_ kind: Kind) async throws {
        let bed = try Bed(kind)
        let id = try await bed.submit("known", "sleep 30")
        #expect(BatchJobStatus.isJobID(id), "job id '\(id)'")
        let (mine, _) = try await bed.poll()
        let status = try #require(mine[id], "the new job is in the queue's answer")
        #expect(status.comment == bed.prefix + "known")
        #expect([.queued, .running].contains(status.phase))
        #expect(try await bed.backend.jobs()[id] != nil, "the unfiltered answer has it too")
        #expect(try await bed.backend.jobs(commentPrefix: bed.prefix + "nothing-")[id] == nil, "the filter holds")
        await bed.cleanUp()
    }

    @Test(arguments: Kind.allCases)
    func aHeldJobIsQueuedAndARunningOneRuns(_ kind: Kind) async throws {
        let bed = try Bed(kind)
        let held = try await bed.submit("held", "true", hold: true)
        let running = try await bed.submit("running", "sleep 60")
        let waiting = try await bed.wait(for: held) { $0.phase == .queued }
        #expect(waiting.held, "\(waiting)")
        let live = try await bed.wait(for: running) { $0.phase == .running }
        #expect(live.startTime != nil)
        #expect(live.exitCode == nil && !live.phase.isTerminal)
        // Polled again, the held job is still held: nothing releases it.
        try await Task.sleep(for: .seconds(1))
        #expect(try await bed.poll().jobs[held]?.phase == .queued)
        await bed.cleanUp()
    }

    @Test(arguments: Kind.allCases)
    func finishedJobsKeepTheirExitCodeAndSignal(_ kind: Kind) async throws {
        let bed = try Bed(kind)
        let ok = try await bed.submit("ok", "exit 0")
        let seven = try await bed.submit("seven", "exit 7")
        let killed = try await bed.submit("killed", "kill -9 $$")
        let done = try await Self.final(bed, ok)
        #expect(done.phase == .succeeded && done.exitCode == 0, "\(done)")
        #expect(done.endTime != nil)
        let failed = try await Self.final(bed, seven)
        #expect(failed.phase == .failed && failed.exitCode == 7, "\(failed)")
        let signalled = try await Self.final(bed, killed)
        #expect(signalled.phase == .failed && signalled.signal == 9, "\(signalled)")
        await bed.cleanUp()
    }

    // MARK: - Cancel

    @Test(arguments: Kind.allCases)
    func cancelIsIdempotentAndUnknownJobsAreFine(_ kind: Kind) async throws {
        let bed = try Bed(kind)
        let id = try await bed.submit("cancelled", "sleep 120")
        _ = try await bed.wait(for: id) { $0.phase == .running }
        try await bed.backend.cancel(jobID: id)
        let ended = try await Self.final(bed, id)
        #expect(ended.phase == .cancelled, "\(ended)")
        try await bed.backend.cancel(jobID: id)
        try await bed.backend.cancel(jobID: "999999999")
        await bed.cleanUp()
    }

    // MARK: - Dependencies

    @Test(arguments: Kind.allCases)
    func dependentsStartOnlyAfterTheirDependencySucceeded(_ kind: Kind) async throws {
        let bed = try Bed(kind)
        let first = try await bed.submit("first", "sleep 3")
        let second = try await bed.submit("second", "true", after: [first])
        let queued = try #require(try await bed.backend.jobs(commentPrefix: bed.prefix)[second])
        #expect(queued.phase == .queued, "\(queued)")
        var steps: [ReconcileStep] = []
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            steps += try await bed.poll().steps
            if try await bed.backend.accounting(jobIDs: [second])[second]?.phase.isTerminal == true { break }
            try await Task.sleep(for: .milliseconds(400))
        }
        let a = try await Self.final(bed, first), b = try await Self.final(bed, second)
        #expect(b.phase == .succeeded, "\(b)")
        let firstEnd = try #require(a.endTime), secondStart = try #require(b.startTime)
        #expect(secondStart >= firstEnd, "the dependent started before its dependency ended")
        // Slurm starts dependents itself; HTCondor's are released by a reconcile step, once.
        #expect(steps == (kind == .htcondor ? [.release(jobID: second)] : []), "\(steps)")

        let broken = try await bed.submit("broken", "exit 4")
        let stuck = try await bed.submit("stuck", "echo must-not-run", after: [broken])
        _ = try await Self.final(bed, broken)
        let never = try await bed.wait(for: stuck) { $0.dependency == .neverSatisfied }
        #expect(never.phase == .queued, "\(never)")
        #expect(never.reason == "DependencyNeverSatisfied")
        #expect(!((try? String(contentsOfFile: "\(bed.dir)/stuck/job.out", encoding: .utf8)) ?? "").contains("must-not-run"))
        await bed.cleanUp()
    }

    /// A read is a read: asking for the jobs never releases a held job, even one whose
    /// dependencies all succeeded (HTCondor's release is a reconcile step).
    @Test(arguments: Kind.allCases)
    func readsChangeNothing(_ kind: Kind) async throws {
        let bed = try Bed(kind)
        let held = try await bed.submit("site-held", "true", hold: true)
        for _ in 0..<3 {
            _ = try await bed.backend.jobs()
            _ = try await bed.backend.jobs(commentPrefix: bed.prefix)
            _ = try await bed.backend.accounting(jobIDs: [held])
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(try await bed.backend.jobs()[held]?.phase == .queued)
        #expect(try await bed.backend.reconcile(try await bed.backend.jobs(commentPrefix: bed.prefix)).isEmpty,
                "a job the site holds is never released by the agent")
        if kind == .htcondor {
            let first = try await bed.submit("first", "true")
            let second = try await bed.submit("second", "true", after: [first])
            _ = try await Self.final(bed, first, reconcile: false)
            for _ in 0..<3 { _ = try await bed.backend.jobs(commentPrefix: bed.prefix) }
            let waiting = try #require(try await bed.backend.jobs(commentPrefix: bed.prefix)[second])
            #expect(waiting.phase == .queued && waiting.held && waiting.dependency == .met, "\(waiting)")
        }
        await bed.cleanUp()
    }

    // MARK: - States

    /// Each state the scheduler reports, as the scheduler writes it, and its neutral phase.
    static func states(_ kind: Kind) throws -> [(String, BatchJobStatus.Phase, BatchJobStatus.Phase)] {
        switch kind {
        case .libslurm:
            let expected: [(UInt32, BatchJobStatus.Phase)] = [
                (0, .queued), (1, .running), (1 | 0x8000, .running), (2, .suspended), (3, .succeeded), (4, .cancelled),
                (5, .failed), (6, .timedOut), (7, .nodeFailed), (8, .preempted), (9, .bootFailed), (10, .timedOut),
                (11, .outOfMemory), (12, .unknown), (0xff, .unknown), (UInt32.max, .unknown),
            ]
            return expected.map { ("job_state \($0.0)", SlurmState(jobState: $0.0).phase, $0.1) }
        case .slurmCLI:
            let expected: [(String, BatchJobStatus.Phase)] = [
                ("PENDING", .queued), ("PD", .queued), ("REQUEUED", .queued), ("RUNNING", .running), ("R", .running),
                ("COMPLETING", .running), ("CG", .running), ("SUSPENDED", .suspended), ("COMPLETED", .succeeded),
                ("CD", .succeeded), ("FAILED", .failed), ("CANCELLED by 0", .cancelled), ("CA", .cancelled),
                ("TIMEOUT", .timedOut), ("DEADLINE", .timedOut), ("NODE_FAIL", .nodeFailed), ("BOOT_FAIL", .bootFailed),
                ("OUT_OF_MEMORY", .outOfMemory), ("OOM", .outOfMemory), ("PREEMPTED", .preempted), ("", .unknown),
                ("SOMETHING_NEW", .unknown),
            ]
            return expected.map { ("\($0.0)", SlurmState(slurm: $0.0).phase, $0.1) }
        case .htcondor:
            let expected: [(String, BatchJobStatus.Phase)] = [
                (#""JobStatus": 1"#, .queued), (#""JobStatus": 2"#, .running), (#""JobStatus": 6"#, .running),
                (#""JobStatus": 7"#, .suspended), (#""JobStatus": 3"#, .cancelled),
                (#""JobStatus": 4, "ExitCode": 0"#, .succeeded), (#""JobStatus": 4, "ExitCode": 2"#, .failed),
                (#""JobStatus": 4, "ExitBySignal": true, "ExitSignal": 9"#, .failed),
                (#""JobStatus": 5, "HoldReasonCode": 15"#, .queued), (#""JobStatus": 5, "HoldReasonCode": 1"#, .queued),
                (#""JobStatus": 5, "HoldReasonCode": 34"#, .outOfMemory), (#""JobStatus": 5, "HoldReasonCode": 46"#, .timedOut),
                (#""JobStatus": 5, "HoldReasonCode": 14"#, .failed), (#""JobStatus": 99"#, .unknown),
            ]
            return try expected.enumerated().map { index, item in
                let jobs = try HTCondorCLI.parseJobs(#"[{"ClusterId": \#(index + 1), \#(item.0)}]"#)
                return (item.0, jobs["\(index + 1)"]?.phase ?? .unknown, item.1)
            }
        }
    }

    @Test(arguments: Kind.allCases)
    func eachSchedulerStateHasItsNeutralPhase(_ kind: Kind) throws {
        for (state, phase, expected) in try Self.states(kind) {
            #expect(phase == expected, "\(kind): \(state)")
        }
        if kind != .htcondor {
            // Every Slurm state has a phase other than unknown (but UNKNOWN itself).
            for state in SlurmState.allCases where state != .unknown { #expect(state.phase != .unknown, "\(state)") }
        }
    }

    // MARK: - Hostile answers

    /// Answers no scheduler should give, as a compromised or broken one could.
    static func hostile(_ kind: Kind) throws -> [String: BatchJobStatus] {
        let huge = String(repeating: "x", count: 1_000_000)
        switch kind {
        case .libslurm:
            // libslurm's structs carry numbers and C strings: the same bounds apply to what is read.
            var status = BatchJobStatus(slurmJobID: "7", state: SlurmState(jobState: UInt32.max), reason: huge, exitCode: 70_000,
                                        signal: -3, comment: huge, startTime: .infinity, endTime: -1, submitTime: .nan,
                                        userID: -1, workDir: huge)
            status.dependencies = Array(repeating: huge, count: 10_000)
            return ["7": status]
        case .slurmCLI:
            let squeue = ["1|RUNNING|\(huge)|0|\(huge)|\(huge)", "١٢|RUNNING|None|0|N/A|x", "12_3|PENDING|None|0|N/A|x",
                          String(repeating: "9", count: 40) + "|RUNNING|None|0|N/A|x", "|||", "2|\u{0}|\u{0}|\u{0}|\u{0}|\u{0}",
                          "3|PENDING|None|99999999999999999999999|99999-01-01T00:00:00|(null)"].joined(separator: "\n")
            let sacct = ["4|FAILED|99999999999999999999:-5|9999-99-99T99:99:99|x", "5|COMPLETED|300:200|||",
                         "6|CANCELLED by 0|0:0|2026-01-01T00:00:00|2025-01-01T00:00:00|-7|x|\(huge)|\(huge)"].joined(separator: "\n")
            return SlurmCLI.parseSqueue(squeue).merging(SlurmCLI.parseSacct(sacct)) { a, _ in a }
        case .htcondor:
            #expect(throws: AgentError.self) { try HTCondorCLI.parseJobs("[{\"ClusterId\": 1, " + huge) }
            #expect(throws: AgentError.self) { try HTCondorCLI.parseJobs("{\"not\": \"an array\"}") }
            let ads = """
                [{"ClusterId": 1e300, "JobStatus": 2},
                 {"ClusterId": -4, "JobStatus": 2},
                 {"ClusterId": "5", "JobStatus": 2},
                 {"ClusterId": 6, "JobStatus": 4, "ExitCode": 1e18, "CompletionDate": 1e300},
                 {"ClusterId": 7, "JobStatus": 4, "ExitBySignal": true, "ExitSignal": 4000000000},
                 {"ClusterId": 8, "JobStatus": 5, "HoldReasonCode": 15, "HoldReason": "\(huge)",
                  "DTEAfter": "\(Array(repeating: "1", count: 5000).joined(separator: " ")) x; rm -rf /"},
                 {"ClusterId": 9, "JobStatus": [1, 2], "DTEComment": {"a": 1}, "JobCurrentStartDate": -5},
                 {"ClusterId": 10, "JobStatus": 4}]
                """
            return try HTCondorCLI.parseJobs(ads)
        }
    }

    @Test(arguments: Kind.allCases)
    func hostileSchedulerAnswersGiveBoundedStatuses(_ kind: Kind) throws {
        let jobs = try Self.hostile(kind)
        #expect(!jobs.isEmpty)
        typealias B = BatchJobStatus.Bounds
        for (id, status) in jobs {
            #expect(id == status.jobID && BatchJobStatus.isJobID(id), "job id '\(id.prefix(50))'")
            #expect((status.reason?.utf8.count ?? 0) <= B.reason && (status.comment?.utf8.count ?? 0) <= B.comment)
            #expect((status.workDir?.utf8.count ?? 0) <= B.path && (status.detail?.utf8.count ?? 0) <= B.detail)
            #expect(status.dependencies.count <= B.dependencies && status.dependencies.allSatisfy { $0.utf8.count <= B.jobID })
            #expect(status.exitCode.map(B.exitCode.contains) ?? true, "\(String(describing: status.exitCode))")
            #expect(status.signal.map(B.signal.contains) ?? true)
            #expect(status.userID.map(B.accountID.contains) ?? true)
            for time in [status.startTime, status.endTime, status.submitTime] { #expect(time.map(B.time.contains) ?? true) }
        }
        switch kind {
        case .libslurm:
            #expect(jobs["7"]?.phase == .unknown && jobs["7"]?.exitCode == nil && jobs["7"]?.startTime == nil)
        case .slurmCLI:
            #expect(Set(jobs.keys) == ["1", "2", "3", "4", "5", "6"], "\(jobs.keys.sorted())")
            #expect(jobs["3"]?.userID == nil && jobs["4"]?.exitCode == nil && jobs["4"]?.startTime == nil)
            #expect(jobs["5"]?.phase == .succeeded && jobs["5"]?.exitCode == nil && jobs["5"]?.signal == nil)
        case .htcondor:
            #expect(Set(jobs.keys) == ["6", "7", "8", "9", "10"], "\(jobs.keys.sorted())")
            #expect(jobs["6"]?.phase == .failed && jobs["6"]?.exitCode == nil && jobs["6"]?.endTime == nil)
            #expect(jobs["7"]?.phase == .failed && jobs["7"]?.signal == nil)
            #expect(jobs["8"]?.phase == .queued && jobs["8"]?.dependencies.count == B.dependencies)
            #expect(jobs["9"]?.phase == .unknown && jobs["9"]?.comment == nil && jobs["9"]?.startTime == nil)
            #expect(jobs["10"]?.phase == .failed, "a completed job without an exit code is not taken as a success")
        }
    }
}
