import DTEApply
import DTEEngine
import DTEProviders
import DTEReconcile
import DTEState
import DTETestSupport
import Foundation
import Testing

/// Paths of the loop's schedules that the other suites do not take: a suspended schedule, a
/// `dte.nodes.ScheduledJob`'s own schedule, a blocking hook stopping a tick whose run had held
/// back the previous one, `history_limit` deleting an old run's pod at the site, and manual
/// mode's "would start". Real components throughout (bare git remote, SQLite, dte-agent, Slurm).
@Suite("LoopPaths", .serialized)
struct LoopPathTests {
    let schedules = ScheduleTriggerTests()

    /// A `dte.nodes.ScheduledJob` of the testbed's twin (bubblewrap, 5 minutes' walltime).
    func scheduledJob(_ b: ReconcileBed, _ name: String, schedule: String, command: [String]) -> String {
        let quoted = command.map { "'" + $0 + "'" }.joined(separator: ", ")
        return """
            \(name):
              type: dte.nodes.ScheduledJob
              properties: { image: docker://debian:12, command: [\(quoted)], cpus: 1, memory: 32 MB, walltime: 5 m, runtime: bwrap, schedule: "\(schedule)" }
              requirements: [ { twin: \(b.bed.twin) } ]

        """
    }

    func status(_ b: ReconcileBed) throws -> String {
        let s = try b.bed.dte(["status"])
        return s.out + s.err
    }

    @Test("a suspended schedule starts no run at its ticks and dte status says it is suspended and shows no next runs; unsuspended, the next tick runs")
    func suspendedSchedule() async throws {
        let b = try ReconcileBed(sync: "{ mode: automatic }")
        defer { b.tearDown() }
        let clock = ManualClock()
        let r = try b.reconciler(clock: clock)
        let policy = { (suspend: Bool) in
            "    - nightly: { type: dte.policies.Schedule, properties: { cron: \"* * * * *\", suspend: \(suspend) }, targets: [ingest] }\n"
        }
        try schedules.writeTwin(b, components: b.bed.batchJob("ingest", command: ["true"]), policies: policy(true))
        try b.commit("a suspended schedule")
        let (t1, s1) = try await r.tick()
        #expect(t1.result == "applied", "\(t1.message)")
        #expect(s1.runSources?.first?.suspended == true)
        #expect(s1.runSources?.first?.next.isEmpty == true, "a suspended schedule has no next runs")
        #expect(try await schedules.finished(b, r, "ingest"))
        for _ in 0..<2 {
            clock.advance(61)
            let (t, _) = try await r.tick()
            #expect(t.result == "synced", "no run while suspended: \(t.message)")
        }
        #expect(try await b.record("ingest")?.generation == 1)
        #expect(b.jobs().filter { $0.component == "ingest" }.count == 1, "one Slurm job: the apply's")
        let shown = try status(b)
        #expect(shown.contains("schedule nightly  \"* * * * *\" (UTC)  concurrency Forbid  targets ingest  (suspended)"), "\(shown)")
        #expect(!shown.contains("next runs"), "\(shown)")

        try schedules.writeTwin(b, components: b.bed.batchJob("ingest", command: ["true"]), policies: policy(false))
        try b.commit("resume the schedule")
        let (t2, _) = try await r.tick()
        #expect(t2.result == "synced", "ticks while suspended are not made up: \(t2.message)")
        clock.advance(61)
        let (t3, _) = try await r.tick()
        #expect(t3.result == "applied", "\(t3.message)")
        #expect(try await b.record("ingest")?.generation == 2, "the first tick after resuming runs")
    }

    @Test("a dte.nodes.ScheduledJob runs on its own schedule: a new generation (new Slurm job) at each tick, shown in dte status under its name")
    func scheduledJobOwnSchedule() async throws {
        let b = try ReconcileBed(sync: "{ mode: automatic }")
        defer { b.tearDown() }
        let clock = ManualClock()
        let r = try b.reconciler(clock: clock)
        try b.bed.writeTwin(components: scheduledJob(b, "sync", schedule: "* * * * *", command: ["true"]))
        try b.commit("a scheduled job")
        let (t1, s1) = try await r.tick()
        #expect(t1.result == "applied", "\(t1.message)")
        let own = try #require(s1.runSources?.first, "the job's own schedule is a run source")
        #expect(own.name == "sync" && own.targets == ["sync"])
        #expect(own.next.count == 3)
        let first = try #require(try await b.record("sync")?.jobID)
        #expect(try await schedules.finished(b, r, "sync"))

        clock.advance(61)
        let (t2, _) = try await r.tick()
        #expect(t2.result == "applied", "\(t2.message)")
        #expect(t2.message.contains("schedule/twin.\(b.bed.twin).sync"), "\(t2.message)")
        let second = try #require(try await b.record("sync"))
        #expect(second.generation == 2)
        #expect(second.jobID != first, "a new Slurm job")
        #expect(b.jobs().filter { $0.component == "sync" }.count == 2)
        let shown = try status(b)
        #expect(shown.contains("schedule sync  \"* * * * *\" (UTC)  concurrency Forbid  targets sync"), "\(shown)")
        #expect(shown.contains("twin.\(b.bed.twin).sync run 2"), "\(shown)")
    }

    @Test("a blocking hook that stops the tick of a due run gives the run it held back its pod again: still tracked, still running; the next tick starts the run", arguments: ["pre-plan", "pre-apply"])
    func blockingHookReattaches(_ phase: String) async throws {
        let b = try ReconcileBed(sync: "{ mode: automatic }")
        defer { b.tearDown() }
        let gate = b.bed.folder + "/gate-closed"
        try """
        if [ -e '\(gate)' ]; then echo '{"verdict": "fail", "summary": "the gate is closed"}'; else echo '{"verdict": "pass", "summary": "open"}'; fi

        """.write(toFile: b.bed.repository + "/gate.sh", atomically: true, encoding: .utf8)
        try """
        version: 1
        sync: { mode: automatic }
        hooks:
          gate: { command: [/bin/sh, gate.sh], phases: [\(phase)], blocking: true }

        """.write(toFile: b.bed.repository + "/dte.yaml", atomically: true, encoding: .utf8)
        let clock = ManualClock()
        let r = try b.reconciler(clock: clock)
        try schedules.writeTwin(b, components: b.bed.batchJob("beside", command: ["sleep", "300"]),
                                policies: "    - both: { type: dte.policies.Schedule, properties: { cron: \"* * * * *\", concurrency: Allow }, targets: [beside] }\n")
        try b.commit("a long job with an Allow schedule and a gate")
        let (t1, _) = try await r.tick()
        #expect(t1.result == "applied", "\(t1.message)")
        let before = try #require(try await b.record("beside"))
        let job = try #require(before.jobID)
        #expect(b.bed.eventually(timeout: 60) { b.slurmState(job) == "RUNNING" })

        try "".write(toFile: gate, atomically: true, encoding: .utf8)
        clock.advance(61)
        let (t2, s2) = try await r.tick()
        #expect(t2.result == "stalled", "\(t2.message)")
        #expect(t2.message.contains("the gate is closed"), "\(t2.message)")
        #expect(s2.condition(.stalled)?.reason == "HookFailed")
        let held = try #require(try await b.record("beside"))
        #expect(held.generation == 1, "no new run")
        #expect(held.podUID == before.podUID && held.jobID == job, "the held-back run has its pod again: \(String(describing: held.podUID))")
        #expect(b.slurmState(job) == "RUNNING", "and its job runs on")
        let shown = try status(b)
        #expect(shown.contains("HookFailed"), "\(shown)")

        try FileManager.default.removeItem(atPath: gate)
        let (t3, _) = try await r.tick()
        #expect(t3.result == "applied", "the gate open, the due run starts: \(t3.message)")
        let after = try #require(try await b.record("beside"))
        #expect(after.generation == 2)
        let kept = try await b.store().runs(address: "twin.\(b.bed.twin).beside", limit: 10)
        #expect(kept.map(\.generation) == [2, 1], "\(kept.map(\.generation))")
        #expect(kept.last?.jobID == job && kept.last?.podUID == before.podUID, "the held-back run is kept with its pod")
        _ = try runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["scancel", job] + (after.jobID.map { [$0] } ?? []), in: b.bed.folder)
    }

    @Test("history_limit 1 with Allow: the next run prunes the old one, whose pod is deleted at the agent (its Slurm job cancelled, the agent no longer runs it)")
    func prunedPodDeletedAtSite() async throws {
        let b = try ReconcileBed(sync: "{ mode: automatic }")
        defer { b.tearDown() }
        let clock = ManualClock()
        let r = try b.reconciler(clock: clock)
        try schedules.writeTwin(b, components: b.bed.batchJob("beside", command: ["sleep", "300"]),
                                policies: "    - both: { type: dte.policies.Schedule, properties: { cron: \"* * * * *\", concurrency: Allow, history_limit: 1 }, targets: [beside] }\n")
        try b.commit("an Allow schedule keeping one run")
        let (t1, _) = try await r.tick()
        #expect(t1.result == "applied", "\(t1.message)")
        let old = try #require(try await b.record("beside"))
        let oldJob = try #require(old.jobID)
        let oldUID = try #require(old.podUID)
        #expect(b.bed.eventually(timeout: 60) { b.slurmState(oldJob) == "RUNNING" })

        clock.advance(61)
        let (t2, _) = try await r.tick()
        #expect(t2.result == "applied", "\(t2.message)")
        let new = try #require(try await b.record("beside"))
        #expect(new.generation == 2 && new.jobID != oldJob)
        let kept = try await b.store().runs(address: "twin.\(b.bed.twin).beside", limit: 10)
        #expect(kept.map(\.generation) == [2], "one run kept: \(kept.map(\.generation))")
        #expect(b.bed.eventually(timeout: 60) { b.slurmState(oldJob) == "CANCELLED" }, "the pruned run's job is cancelled at the site")
        let agent = AgentProvider(site: "local", endpoint: b.endpoint.value, client: b.client)
        // the agent forgets the pod once its poll has seen the cancelled job end
        var seen: [PodObservation] = []
        for _ in 0..<60 {
            seen = try await agent.status([PodRef(name: "beside", namespace: b.bed.twin, uid: oldUID)])
            if seen.allSatisfy({ $0.phase != .pending && $0.phase != .running }) { break }
            try await Task.sleep(nanoseconds: 1_000_000_000)
        }
        #expect(seen.allSatisfy { $0.phase != .pending && $0.phase != .running }, "the agent no longer runs the pruned pod: \(seen)")
        let current = try await agent.status([PodRef(name: "beside", namespace: b.bed.twin, uid: new.podUID ?? "")])
        #expect(current.count == 1, "the current run's pod is left alone")
        if let id = new.jobID { _ = try runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["scancel", id], in: b.bed.folder) }
    }

    @Test("manual mode: a due schedule tick is reported as 'would start' in the record and starts nothing, also for a repository that was manual from its first tick")
    func manualWouldStart() async throws {
        let b = try ReconcileBed(sync: "{ mode: automatic }")
        defer { b.tearDown() }
        let clock = ManualClock()
        let r = try b.reconciler(clock: clock)
        let policy = "    - often: { type: dte.policies.Schedule, properties: { cron: \"* * * * *\" }, targets: [ingest] }\n"
        try schedules.writeTwin(b, components: b.bed.batchJob("ingest", command: ["true"]) + b.bed.batchJob("report", command: ["true"], after: ["ingest"]),
                                policies: policy)
        try b.commit("a schedule")
        let (t1, _) = try await r.tick()
        #expect(t1.result == "applied", "\(t1.message)")
        #expect(try await schedules.finished(b, r, "ingest", "report"))

        try b.setSync("{ mode: manual }")
        try b.commit("manual now")
        clock.advance(61)
        let (t2, _) = try await r.tick()
        let address = "twin.\(b.bed.twin)"
        #expect(t2.message.contains("schedule/often would start a run of \(address).ingest, \(address).report (sync.mode is manual)"), "\(t2.message)")
        #expect(try await b.record("ingest")?.generation == 1, "nothing started")
        #expect(b.jobs().filter { $0.component == "ingest" }.count == 1)
        let record = try #require(try await b.store().reconcileRecords(limit: 1).first)
        #expect(record.message.contains("would start"), "the record keeps it: \(record.message)")

        // a repository in manual mode from its first tick: the schedule counts from then on
        let m = try ReconcileBed(startingAgent: false, sync: "{ mode: manual }")
        defer { m.tearDown() }
        let mr = try m.reconciler(clock: clock)
        try schedules.writeTwin(m, components: m.bed.batchJob("ingest", command: ["true"]), policies: policy)
        try m.commit("manual from the start")
        let (first, _) = try await mr.tick()
        #expect(first.result == "planned", "\(first.message)")
        #expect(!first.message.contains("would start"), "the first tick is the schedule's start: \(first.message)")
        clock.advance(61)
        let (due, _) = try await mr.tick()
        #expect(due.message.contains("schedule/often would start a run of twin.\(m.bed.twin).ingest (sync.mode is manual)"), "\(due.message)")
        #expect(m.jobs().isEmpty, "no Slurm job in manual mode")
    }
}
