import DTEEngine
import DTEPlanner
import DTEReconcile
import DTEState
import DTETestSupport
import Foundation
import Testing

/// A clock the test moves: a schedule "every minute" ticks twice in seconds. Its sleeps are
/// short real pauses (what the engine waits for is real Slurm).
final class ManualClock: EngineClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    init(_ start: Date = Date()) { current = start }
    var now: Date { lock.withLock { current } }
    func advance(_ seconds: TimeInterval) { lock.withLock { current = current.addingTimeInterval(seconds) } }
    func sleep(seconds: TimeInterval) async throws { try await Task.sleep(nanoseconds: UInt64(min(max(seconds, 0), 0.2) * 1e9)) }
}

/// Schedules and data triggers run by the GitOps loop on real components (a bare git remote,
/// SQLite state, the dev cluster's Slurm through a real dte-agent), with an injected clock.
@Suite("ScheduleTrigger", .serialized)
struct ScheduleTriggerTests {
    /// The testbed's twin with `components` and extra `policies` (YAML list items).
    func writeTwin(_ b: ReconcileBed, components: String, policies: String) throws {
        let twin = b.bed.twin
        let text = """
        tosca_definitions_version: tosca_simple_yaml_1_3
        imports: [dte/types.yaml]
        topology_template:
          node_templates:
            \(twin): { type: dte.nodes.DigitalTwin, properties: { project: demo, source: https://example.org/e2e } }
        \(components)
          policies:
            - here: { type: dte.policies.Placement, properties: { sites: [local], partition: batch }, targets: [\(twin)] }
        \(policies)
        """
        try text.write(toFile: b.bed.repository + "/templates/\(twin).yaml", atomically: true, encoding: .utf8)
    }

    /// Ticks (the clock standing still: no schedule is due) until the loop has recorded that
    /// each of `components`' jobs succeeded, as the site's agent reports it. The waits are long:
    /// the node's CPUs and GPUs are shared with every suite running in parallel, and a job can
    /// wait in Slurm's queue behind one that waits for resources.
    func finished(_ b: ReconcileBed, _ r: Reconciler, _ components: String...) async throws -> Bool {
        let end = Date().addingTimeInterval(240)
        while Date() < end {
            try await r.tick()
            var done = true
            for c in components {
                if try await b.record(c)?.status != "succeeded" { done = false }
            }
            if done { return true }
            try await Task.sleep(nanoseconds: 1_000_000_000)
        }
        return false
    }

    @Test("a schedule every minute starts a new run (new generation, new job) of its target and then of its dependent at each tick; status shows the next runs and the last run")
    func everyMinute() async throws {
        let b = try ReconcileBed(sync: "{ mode: automatic, prune: true }")
        defer { b.tearDown() }
        let clock = ManualClock()
        let r = try b.reconciler(clock: clock)
        try writeTwin(b, components: b.bed.batchJob("ingest", command: ["true"]) + b.bed.batchJob("report", command: ["true"], after: ["ingest"]),
                      policies: "    - often: { type: dte.policies.Schedule, properties: { cron: \"* * * * *\", history_limit: 2 }, targets: [ingest] }\n")
        try b.commit("a scheduled ingest and its report")
        let (t1, s1) = try await r.tick()
        #expect(t1.result == "applied", "\(t1.message)")
        let first = try #require(try await b.record("ingest"))
        #expect(first.generation == 1)
        let often = try #require(s1.runSources?.first { $0.name == "often" })
        #expect(often.next.count == 3, "the next runs are shown")
        #expect(often.next.first.map { $0 > clock.now && $0 <= clock.now.addingTimeInterval(60) } == true)
        #expect(try await finished(b, r, "ingest", "report"))

        var jobs: Set<String> = [first.jobID ?? ""]
        for run in 2...3 {
            clock.advance(61)
            let (t, s) = try await r.tick()
            #expect(t.result == "applied", "run \(run): \(t.message)")
            #expect(t.message.contains("schedule/often"), "\(t.message)")
            let ingest = try #require(try await b.record("ingest"))
            let report = try #require(try await b.record("report"))
            #expect(ingest.generation == run, "a new generation of the target")
            #expect(report.generation == run, "its dependent runs again after it")
            #expect(ingest.podUID == PodUID.make(lineage: try await b.store().snapshot().lineage, address: ingest.address, generation: run))
            #expect(!jobs.contains(ingest.jobID ?? ""), "a new Slurm job")
            jobs.insert(ingest.jobID ?? "")
            let status = try #require(s.runSources?.first { $0.name == "often" })
            #expect(status.lastRunAt == clock.now)
            #expect(status.generations[ingest.address] == run)
            #expect(try await finished(b, r, "ingest", "report"), "run \(run) ran")
        }
        #expect(Set(b.jobs().map(\.component)) == ["ingest", "report"])
        #expect(b.jobs().filter { $0.component == "ingest" }.count == 3, "three ingest jobs: the apply's and two scheduled runs")
        // the runs are recorded with their ticks; history_limit 2 keeps two generations
        let kept = try await b.store().runs(address: "twin.\(b.bed.twin).ingest", limit: 10)
        #expect(kept.map(\.generation) == [3, 2], "\(kept.map(\.generation))")
        #expect(kept.allSatisfy { $0.tick != nil && $0.origin == "schedule/often" })
        // a tick with no due time starts nothing
        let (quiet, _) = try await r.tick()
        #expect(quiet.result == "synced", "\(quiet.message)")
        #expect(try await b.record("ingest")?.generation == 3)
        // dte status and dte logs see the runs
        let status = try b.bed.dte(["status"])
        #expect(status.out.contains("schedule often  \"* * * * *\" (UTC)"), "\(status.out)\(status.err)")
        #expect(status.out.contains("next runs"), "\(status.out)")
        #expect(status.out.contains("twin.\(b.bed.twin).ingest run 3"), "\(status.out)")
        let gone = try b.bed.dte(["logs", "twin.\(b.bed.twin).ingest", "--run", "1"])
        #expect(gone.status == 1)
        #expect(gone.err.contains("has no run 1 kept (runs kept: 2, 3"), "\(gone.err)")
    }

    @Test("Forbid skips a tick while the run is active (reported); after an hour away a tick older than starting_deadline is skipped, the next one within it runs once")
    func forbidAndDeadline() async throws {
        let b = try ReconcileBed(sync: "{ mode: automatic }")
        defer { b.tearDown() }
        let clock = ManualClock()
        let r = try b.reconciler(clock: clock)
        try writeTwin(b, components: b.bed.batchJob("slow", command: ["sleep", "300"]),
                      policies: "    - often: { type: dte.policies.Schedule, properties: { cron: \"* * * * *\", concurrency: Forbid, starting_deadline: 30 s }, targets: [slow] }\n")
        try b.commit("a slow scheduled job")
        let (t1, _) = try await r.tick()
        #expect(t1.result == "applied", "\(t1.message)")
        let job = try #require(try await b.record("slow")?.jobID)
        #expect(b.bed.eventually(timeout: 180) { b.slurmState(job) == "RUNNING" })
        // 5 s after the next tick (within starting_deadline)
        clock.advance((clock.now.timeIntervalSince1970 / 60).rounded(.down) * 60 + 65 - clock.now.timeIntervalSince1970)
        let (t2, s2) = try await r.tick()
        #expect(t2.message.contains("skipped") && t2.message.contains("concurrency Forbid"), "\(t2.message)")
        #expect(try await b.record("slow")?.generation == 1, "no new run while one is active")
        #expect(b.slurmState(job) == "RUNNING", "the active run is left alone")
        #expect(s2.runSources?.first?.skipped == 1)
        // the run ends; the loop was away for an hour: the ticks are older than starting_deadline
        _ = try runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["scancel", job], in: b.bed.folder)
        #expect(b.bed.eventually(timeout: 180) { b.slurmState(job) == "CANCELLED" })
        // the loop learns it from the agent: drift (self_heal is off: reported, not repaired)
        var reported = false
        for _ in 0..<180 where !reported {
            reported = try await r.tick().0.drift > 0
            if !reported { try await Task.sleep(nanoseconds: 1_000_000_000) }
        }
        #expect(reported)
        // an hour later, 45 s past a minute: the latest tick is older than the deadline
        let minute = (clock.now.timeIntervalSince1970 / 60).rounded(.down) * 60
        clock.advance(minute + 3600 + 45 - clock.now.timeIntervalSince1970)
        let (t3, s3) = try await r.tick()
        #expect(t3.message.contains("missed ticks before") && t3.message.contains("missed by more than starting_deadline"), "\(t3.message)")
        #expect(try await b.record("slow")?.generation == 1, "nothing ran: \(t3.message)")
        #expect((s3.runSources?.first?.skipped ?? 0) > 2)
        // 10 s after the next tick: within the deadline, it runs once
        clock.advance(25)
        let (t4, _) = try await r.tick()
        #expect(t4.result == "applied", "\(t4.message)")
        #expect(try await b.record("slow")?.generation == 2, "the due tick runs: \(t4.message)")
        #expect(try await b.record("slow")?.jobID != job)
    }

    @Test("Replace cancels the active run and starts a new one; Allow starts the new run beside the active one, whose job keeps running")
    func replaceAndAllow() async throws {
        let b = try ReconcileBed(sync: "{ mode: automatic }")
        defer { b.tearDown() }
        let clock = ManualClock()
        let r = try b.reconciler(clock: clock)
        try writeTwin(b, components: b.bed.batchJob("replaced", command: ["sleep", "300"]) + b.bed.batchJob("beside", command: ["sleep", "300"]),
                      policies: "    - swap: { type: dte.policies.Schedule, properties: { cron: \"* * * * *\", concurrency: Replace }, targets: [replaced] }\n"
                        + "    - both: { type: dte.policies.Schedule, properties: { cron: \"* * * * *\", concurrency: Allow }, targets: [beside] }\n")
        try b.commit("two long scheduled jobs")
        let (t1, _) = try await r.tick()
        #expect(t1.result == "applied", "\(t1.message)")
        let oldReplaced = try #require(try await b.record("replaced")?.jobID)
        let oldBeside = try #require(try await b.record("beside")?.jobID)
        #expect(b.bed.eventually(timeout: 180) { b.slurmState(oldReplaced) == "RUNNING" && b.slurmState(oldBeside) == "RUNNING" })
        clock.advance(61)
        let (t2, _) = try await r.tick()
        #expect(t2.result == "applied", "\(t2.message)")
        #expect(try await b.record("replaced")?.generation == 2)
        #expect(try await b.record("beside")?.generation == 2)
        #expect(b.bed.eventually(timeout: 180) { b.slurmState(oldReplaced) == "CANCELLED" }, "Replace cancels the active run")
        #expect(b.slurmState(oldBeside) == "RUNNING", "Allow leaves the active run running")
        let kept = try await b.store().runs(address: "twin.\(b.bed.twin).beside", limit: 10)
        #expect(kept.map(\.generation) == [2, 1], "the older run is kept with its pod: \(kept)")
        #expect(kept.last?.jobID == oldBeside)
    }

    @Test("a file dropped in a watched folder starts exactly one run with its path in DTE_TRIGGER_FILE, once stable, even across restarts; existing files, symlinks out and FIFOs start none")
    func trigger() async throws {
        let b = try ReconcileBed(sync: "{ mode: automatic }")
        defer { b.tearDown() }
        let clock = ManualClock()
        let folder = b.bed.folder + "/incoming"
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for i in 0..<3 { try "old".write(toFile: folder + "/old-\(i).dat", atomically: true, encoding: .utf8) }
        let r = try b.reconciler(clock: clock)
        try writeTwin(b, components: b.bed.batchJob("process", command: ["sh", "-c", "echo file=$DTE_TRIGGER_FILE"]),
                      policies: "    - arrivals: { type: dte.policies.Trigger, properties: { location: \"\(folder)\", pattern: \"*.dat\", debounce: 5 s }, targets: [process] }\n")
        try b.commit("a triggered job")
        let (t1, s1) = try await r.tick()
        #expect(t1.result == "applied", "\(t1.message)")
        #expect(t1.message.contains("3 files already in"), "existing files are the baseline: \(t1.message)")
        #expect(try await b.record("process")?.generation == 1)
        #expect(s1.runSources?.first?.seen == 3)
        #expect(try await finished(b, r, "process"))

        // hostile entries: a symlink out of the folder, a FIFO, a file not matching
        try fm.createSymbolicLink(atPath: folder + "/escape.dat", withDestinationPath: "/etc/passwd")
        #expect(mkfifo(folder + "/pipe.dat", 0o600) == 0)
        try "x".write(toFile: folder + "/notes.txt", atomically: true, encoding: .utf8)
        let fresh = folder + "/new.dat"
        try "growing".write(toFile: fresh, atomically: true, encoding: .utf8)
        try fm.setAttributes([.modificationDate: clock.now], ofItemAtPath: fresh)
        let (t2, s2) = try await r.tick()
        #expect(try await b.record("process")?.generation == 1, "a file still changing is not taken: \(t2.message)")
        #expect(s2.runSources?.first?.waiting == 1)
        #expect(t2.message.contains("symlink leaving the folder") && t2.message.contains("a FIFO"), "\(t2.message)")

        clock.advance(10)
        let (t3, _) = try await r.tick()
        #expect(t3.result == "applied", "\(t3.message)")
        let run = try #require(try await b.record("process"))
        #expect(run.generation == 2, "one run for the new file")
        let spec = try JSONDecoder().decode(ComponentSpec.self, from: Data(run.spec.utf8))
        #expect(spec.env["DTE_TRIGGER_FILE"] == fresh)
        #expect(try await finished(b, r, "process"))

        clock.advance(10)
        let (t4, _) = try await r.tick()
        #expect(t4.result == "synced", "the same file starts no second run: \(t4.message)")
        // a restarted loop (a new process: nothing in memory) does not run it again either
        let restarted = try b.reconciler(clock: clock)
        clock.advance(10)
        let (t5, _) = try await restarted.tick()
        #expect(t5.result == "synced", "\(t5.message)")
        #expect(try await b.record("process")?.generation == 2)
        #expect(b.jobs().filter { $0.component == "process" }.count == 2)
        // the run saw its file; the first run (kept) did not
        let latest = try b.bed.dte(["logs", "twin.\(b.bed.twin).process"])
        #expect(latest.out.contains("file=\(fresh)"), "\(latest.out)\(latest.err)")
        let firstRun = try b.bed.dte(["logs", "twin.\(b.bed.twin).process", "--run", "1"])
        #expect(firstRun.status == 0, "\(firstRun.err)")
        #expect(firstRun.out.trimmingCharacters(in: .whitespacesAndNewlines) == "file=", "\(firstRun.out)\(firstRun.err)")
    }
}
