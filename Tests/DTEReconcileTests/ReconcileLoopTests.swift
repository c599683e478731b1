import DTEApply
import DTEEngine
import DTEReconcile
import DTEState
import DTETestSupport
import Foundation
import Testing

/// The GitOps loop on real components: a bare git remote on disk, SQLite state, a real
/// dte-agent submitting to the development cluster's Slurm. Serialized: they share the cluster.
@Suite("ReconcileLoop", .serialized)
struct ReconcileLoopTests {
    func job(_ bed: ReconcileBed, _ name: String, _ command: [String], after: [String] = []) -> String {
        bed.bed.batchJob(name, command: command, after: after)
    }

    @Test("commits that add, change and remove components are reconciled onto Slurm (automatic, prune on); a tick with nothing new fires no event")
    func addChangeRemove() async throws {
        let b = try ReconcileBed(sync: "{ mode: automatic, prune: true }")
        defer { b.tearDown() }
        let r = try b.reconciler()
        try b.bed.writeTwin(components: job(b, "first", ["true"]))
        let c1 = try b.commit("first")
        let (t1, _) = try await r.tick()
        #expect(t1.result == "applied", "\(t1.message)")
        #expect(t1.revision == c1)
        #expect(t1.actions == "{\"create\":1}")
        #expect(b.jobs().map(\.component) == ["first"], "one Slurm job for the new component")
        let firstJob = try await b.record("first")?.jobID

        try b.bed.writeTwin(components: job(b, "first", ["sleep", "1"]) + job(b, "second", ["true"]))
        let c2 = try b.commit("change first, add second")
        let (t2, s2) = try await r.tick()
        #expect(t2.result == "applied", "\(t2.message)")
        #expect(t2.revision == c2)
        #expect(t2.actions == "{\"create\":1,\"replace\":1}")
        #expect(try await b.record("first")?.jobID != firstJob, "the changed component runs as a new job")
        #expect(Set(b.jobs().map(\.component)) == ["first", "second"])
        #expect(s2.appliedRevision == c2)
        #expect(s2.condition(.ready)?.status == .yes)

        try b.bed.writeTwin(components: job(b, "first", ["sleep", "1"]))
        let c3 = try b.commit("remove second")
        let (t3, _) = try await r.tick()
        #expect(t3.result == "applied", "\(t3.message)")
        #expect(t3.actions == "{\"delete\":1}")
        #expect(try await b.record("second") == nil, "a component removed from git is deleted (prune on)")
        #expect(try await b.record("first") != nil)

        let last = try #require(try await b.record("first")?.jobID)
        #expect(b.bed.eventually(timeout: 60) { b.slurmState(last) == "COMPLETED" }, "the job ran")
        let (t4, s4) = try await r.tick()
        #expect(["synced", "applied"].contains(t4.result), "\(t4.message)")
        #expect(t4.revision == c3)
        // the job's end reaches the loop through the agent's next poll: a tick may still report it
        // (an event); once a tick has nothing new, the next one fires no event either
        var ticks = 4
        var before = b.eventCount
        for _ in 0..<10 {
            _ = try await r.tick()
            ticks += 1
            if b.eventCount == before { break }
            before = b.eventCount
            try await Task.sleep(for: .seconds(1))
        }
        let (t5, _) = try await r.tick()
        ticks += 1
        #expect(t5.result == "synced", "\(t5.message)")
        #expect(b.eventCount == before, "a tick with nothing new fires no event")
        #expect(s4.twins[b.bed.twin]?.first { $0.type == .ready } != nil, "the twin has its conditions")
        let records = try await b.store().reconcileRecords(limit: 20)
        #expect(records.count == ticks, "every tick is recorded")
        #expect(records.allSatisfy { $0.duration >= 0 })
    }

    @Test("manual mode only plans: the record and the Ready condition say what waits, nothing runs; prune off reports what it would prune")
    func manualModePlansOnly() async throws {
        let b = try ReconcileBed(startingAgent: false, sync: "{ mode: manual }")
        defer { b.tearDown() }
        let r = try b.reconciler()
        try b.bed.writeTwin(components: job(b, "only", ["true"]))
        try b.commit("one component")
        let (t, s) = try await r.tick()
        #expect(t.result == "planned", "\(t.message)")
        #expect(t.actions == "{\"create\":1}")
        #expect(t.message.contains("sync.mode is manual"), "\(t.message)")
        #expect(s.condition(.ready)?.status == .no)
        #expect(s.condition(.ready)?.reason == "OutOfSync")
        #expect(try await b.store().snapshot().resources.isEmpty, "nothing was applied")
        #expect(b.jobs().isEmpty, "no Slurm job")
    }

    @Test("a job cancelled outside DTE is drift in the site's words: only reported with self_heal off, recreated with it on")
    func driftReportedThenHealed() async throws {
        let b = try ReconcileBed(sync: "{ mode: automatic, prune: true, self_heal: false }")
        defer { b.tearDown() }
        let r = try b.reconciler()
        try b.bed.writeTwin(components: job(b, "long", ["sleep", "120"]))
        try b.commit("a long job")
        let (t1, _) = try await r.tick()
        #expect(t1.result == "applied", "\(t1.message)")
        let jobID = try #require(try await b.record("long")?.jobID)
        _ = try runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["scancel", jobID], in: b.bed.folder)
        #expect(b.bed.eventually(timeout: 60) { b.slurmState(jobID) == "CANCELLED" }, "Slurm cancelled the job")
        // the agent reports the cancellation at its next poll (1 s)
        var drifted: ReconcileRecord?
        for _ in 0..<30 {
            let (t, _) = try await r.tick()
            if t.drift > 0 { drifted = t; break }
            try await Task.sleep(nanoseconds: 1_000_000_000)
        }
        let t2 = try #require(drifted, "the cancellation is seen as drift")
        #expect(t2.drift == 1)
        #expect(t2.message.contains("Cancelled"), "the site's own words: \(t2.message)")
        #expect(t2.message.contains(jobID))
        let s2 = await ReconcileStatusProbe.status(try b.store())
        let twinReady = s2?.twins[b.bed.twin]?.first { $0.type == .ready }
        #expect(twinReady?.reason == "Drifted")
        #expect(try await b.record("long")?.jobID == jobID, "self_heal off: not recreated")
        let events = b.eventCount
        let (t3, _) = try await r.tick()
        #expect(t3.drift == 1, "the drift stays visible")
        #expect(b.eventCount == events, "the same drift is not reported again")

        try b.setSync("{ mode: automatic, prune: true, self_heal: true }")
        try b.commit("self_heal on")
        let (t4, _) = try await r.tick()
        #expect(t4.result == "applied", "\(t4.message)")
        #expect(t4.actions == "{\"replace\":1}")
        let healed = try #require(try await b.record("long")?.jobID)
        #expect(healed != jobID, "recreated as a new job")
        #expect(b.jobs().map(\.id).contains(healed))
        _ = try runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["scancel", healed], in: b.bed.folder)
    }

    @Test("a job Slurm holds is drift in Slurm's words until it is released; self_heal replaces it")
    func heldJobIsDrift() async throws {
        // Every job this agent submits is held (Slurm's JobHeldUser), as `scontrol hold` of a
        // user or an administrator would leave it.
        let b = try ReconcileBed(agentArguments: ["--hold-jobs"], sync: "{ mode: automatic, prune: true, self_heal: false }")
        defer { b.tearDown() }
        let r = try b.reconciler()
        try b.bed.writeTwin(components: job(b, "held", ["true"]))
        try b.commit("a job that is held")
        let (t1, _) = try await r.tick()
        #expect(t1.result == "applied", "\(t1.message)")
        let jobID = try #require(try await b.record("held")?.jobID)
        var drifted: ReconcileRecord?
        for _ in 0..<30 {
            let (t, _) = try await r.tick()
            if t.drift > 0 { drifted = t; break }
            try await Task.sleep(nanoseconds: 1_000_000_000)
        }
        let t2 = try #require(drifted, "the hold is seen as drift")
        #expect(t2.message.contains("Slurm job \(jobID) is held: JobHeld"), "Slurm's own words: \(t2.message)")
        #expect(try await b.record("held")?.jobID == jobID, "self_heal off: only reported")

        try b.setSync("{ mode: automatic, prune: true, self_heal: true }")
        try b.commit("self_heal on")
        let (t3, _) = try await r.tick()
        #expect(t3.result == "applied", "\(t3.message)")
        #expect(t3.actions == "{\"replace\":1}", "\(t3.message)")
        let replaced = try #require(try await b.record("held")?.jobID)
        #expect(replaced != jobID, "replaced by a new job")

        // released at the site, the job runs and is no longer drift
        _ = try runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["scontrol", "release", replaced], in: b.bed.folder)
        #expect(b.bed.eventually(timeout: 120) { ["RUNNING", "COMPLETED", "COMPLETING"].contains(b.slurmState(replaced)) },
                "Slurm runs the released job")
        var clean = false
        for _ in 0..<30 where !clean {
            clean = try await r.tick().0.drift == 0
            if !clean { try await Task.sleep(nanoseconds: 1_000_000_000) }
        }
        #expect(clean, "a released job is not drift")
    }

    /// The job's time limit as Slurm has it now (`squeue %l`: `5:00`, `20:00`).
    func timeLimit(_ id: String) -> String {
        let r = try? runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["squeue", "-h", "-j", id, "-o", "%l"], in: NSTemporaryDirectory())
        return (r?.out ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Ticks until one reports drift (the agent sees a change at its next poll, 1 s).
    func driftTick(_ r: Reconciler) async throws -> ReconcileRecord? {
        for _ in 0..<30 {
            let (t, _) = try await r.tick()
            if t.drift > 0 { return t }
            try await Task.sleep(nanoseconds: 1_000_000_000)
        }
        return nil
    }

    @Test("a job changed at the site (scontrol update TimeLimit) is drift in its own words, from and to: only reported with self_heal off, replaced by a job with the time limit asked for with it on")
    func changedJobIsDrift() async throws {
        let b = try ReconcileBed(sync: "{ mode: automatic, prune: true, self_heal: false }")
        defer { b.tearDown() }
        let r = try b.reconciler()
        try b.bed.writeTwin(components: job(b, "long", ["sleep", "240"]))
        try b.commit("a long job, walltime 5 m")
        let (t1, _) = try await r.tick()
        #expect(t1.result == "applied", "\(t1.message)")
        let jobID = try #require(try await b.record("long")?.jobID)
        #expect(b.bed.eventually(timeout: 60) { timeLimit(jobID) == "5:00" }, "submitted with 5 minutes: \(timeLimit(jobID))")
        // a few ticks while nothing changed: the job's parameters are what was asked, no drift
        for _ in 0..<3 {
            let (t, _) = try await r.tick()
            #expect(t.drift == 0, "\(t.message)")
            try await Task.sleep(nanoseconds: 500_000_000)
        }

        let update = try runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["scontrol", "update", "JobId=\(jobID)", "TimeLimit=20"], in: b.bed.folder)
        #expect(update.status == 0, "\(update.err)")
        #expect(timeLimit(jobID) == "20:00")
        let t2 = try #require(try await driftTick(r), "the changed time limit is seen as drift")
        #expect(t2.drift == 1)
        #expect(t2.message.contains("job \(jobID) changed at the site: time limit 5 min → 20 min"), "from and to: \(t2.message)")
        #expect(t2.message.contains("not repaired"), "\(t2.message)")
        let s2 = await ReconcileStatusProbe.status(try b.store())
        let twinReady = s2?.twins[b.bed.twin]?.first { $0.type == .ready }
        #expect(twinReady?.reason == "Drifted")
        #expect(twinReady?.message.contains("time limit 5 min → 20 min") == true, "\(twinReady?.message ?? "-")")
        #expect(try await b.record("long")?.jobID == jobID, "self_heal off: only reported")
        #expect(b.slurmState(jobID) == "RUNNING", "the changed job is left alone")
        let shown = try b.bed.dte(["status"])
        #expect(shown.out.contains("time limit 5 min → 20 min"), "dte status shows it: \(shown.out)\(shown.err)")
        let events = b.eventCount
        let (t3, _) = try await r.tick()
        #expect(t3.drift == 1, "the drift stays visible")
        #expect(b.eventCount == events, "the same drift is not reported again")

        try b.setSync("{ mode: automatic, prune: true, self_heal: true }")
        try b.commit("self_heal on")
        let (t4, _) = try await r.tick()
        #expect(t4.result == "applied", "\(t4.message)")
        #expect(t4.actions == "{\"replace\":1}", "\(t4.message)")
        #expect(t4.message.contains("self-heal recreates") && t4.message.contains("time limit 5 min → 20 min"), "\(t4.message)")
        let healed = try #require(try await b.record("long")?.jobID)
        #expect(healed != jobID, "replaced by a new job")
        #expect(b.bed.eventually(timeout: 60) { b.slurmState(jobID) == "CANCELLED" }, "the changed job is cancelled")
        #expect(b.bed.eventually(timeout: 60) { timeLimit(healed) == "5:00" }, "the new job has the time limit asked for: \(timeLimit(healed))")
        var clean = false
        for _ in 0..<10 where !clean {
            clean = try await r.tick().0.drift == 0
            if !clean { try await Task.sleep(nanoseconds: 1_000_000_000) }
        }
        #expect(clean, "the new job is not drift")
        _ = try runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["scancel", healed], in: b.bed.folder)
    }

    @Test("a broken commit marks the repository Stalled with the diagnostic and tears nothing down; failed ticks back off")
    func brokenCommitStalls() async throws {
        let b = try ReconcileBed(sync: "{ mode: automatic, prune: true }")
        defer { b.tearDown() }
        let r = try b.reconciler()
        try b.bed.writeTwin(components: job(b, "steady", ["sleep", "60"]))
        try b.commit("good")
        let (t1, _) = try await r.tick()
        #expect(t1.result == "applied", "\(t1.message)")
        let jobID = try #require(try await b.record("steady")?.jobID)
        try "tosca_definitions_version: tosca_simple_yaml_1_3\ntopology_template:\n  node_templates:\n    broken: { type: dte.nodes.NoSuchType }\n"
            .write(toFile: b.bed.repository + "/templates/broken.yaml", atomically: true, encoding: .utf8)
        let bad = try b.commit("broken")
        let (t2, s2) = try await r.tick()
        #expect(t2.result == "stalled", "\(t2.message)")
        #expect(t2.revision == bad)
        #expect(t2.message.contains("templates/broken.yaml:4:"), "the diagnostic with its place: \(t2.message)")
        #expect(s2.condition(.stalled)?.status == .yes)
        #expect(s2.condition(.stalled)?.reason == "InvalidRevision")
        #expect(s2.condition(.ready)?.status == .no)
        #expect(try await b.record("steady")?.jobID == jobID, "what runs is untouched")
        #expect(["RUNNING", "PENDING"].contains(b.slurmState(jobID)), "the job still runs")
        #expect(s2.consecutiveFailures == 1)
        let (_, s3) = try await r.tick()
        #expect(s3.consecutiveFailures == 2)
        let backoff = Backoff(interval: 30)
        #expect(backoff.delay(failures: 0) == 30)
        #expect(backoff.delay(failures: s3.consecutiveFailures) == 120, "doubled per failed tick")
        #expect(backoff.delay(failures: 50) == 900, "capped")
        _ = try runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["scancel", jobID], in: b.bed.folder)
    }

    @Test("a revision whose apply failed is reported once and not retried on the next tick; --retry applies it")
    func failedRevisionHeldUntilRetry() async throws {
        let b = try ReconcileBed(sync: "{ mode: automatic }")
        defer { b.tearDown() }
        b.endpoint.value = "http://127.0.0.1:1"
        let r = try b.reconciler(retry: RetryPolicy(attempts: 1))
        try b.bed.writeTwin(components: job(b, "once", ["true"]))
        let c = try b.commit("a component")
        let (t1, s1) = try await r.tick()
        #expect(t1.result == "failed", "\(t1.message)")
        #expect(t1.message.contains("failed"), "\(t1.message)")
        #expect(s1.failedRevision == c)
        #expect(s1.condition(.stalled)?.reason == "ApplyFailed")
        let events = b.eventCount
        b.endpoint.value = b.bed.agentURL
        let (t2, _) = try await r.tick()
        #expect(t2.result == "held", "\(t2.message)")
        #expect(t2.message.contains("--retry"), "\(t2.message)")
        #expect(b.eventCount == events, "a held revision is not reported again")
        #expect(b.jobs().isEmpty, "not applied again")
        let (t3, s3) = try await r.tick(retry: true)
        #expect(t3.result == "applied", "\(t3.message)")
        #expect(s3.failedRevision == nil)
        #expect(b.jobs().map(\.component) == ["once"])
    }

    @Test("a pinned revision holds the loop until unpinned")
    func pinHolds() async throws {
        let b = try ReconcileBed(sync: "{ mode: automatic }")
        defer { b.tearDown() }
        let r = try b.reconciler()
        try b.bed.writeTwin(components: job(b, "v", ["true"]))
        let old = try b.commit("v1")
        try b.bed.writeTwin(components: job(b, "v", ["sleep", "1"]))
        let new = try b.commit("v2")
        let store = try b.store()
        try await store.setReconcilePin(ReconcilePin(revision: old, who: "test", at: Date()))
        let (t1, s1) = try await r.tick()
        #expect(t1.revision == old, "the pin, not the branch tip")
        #expect(t1.result == "applied", "\(t1.message)")
        #expect(s1.pinnedRevision == old)
        let spec1 = try #require(try await b.record("v")?.spec)
        #expect(spec1.contains("\"true\""))
        let (t2, _) = try await r.tick()
        #expect(t2.revision == old, "still held at the pin")
        try await store.setReconcilePin(nil)
        let (t3, s3) = try await r.tick()
        #expect(t3.revision == new)
        #expect(t3.actions == "{\"replace\":1}")
        #expect(s3.pinnedRevision == nil)
        #expect(s3.appliedRevision == new)
    }
}

enum ReconcileStatusProbe {
    /// The status the loop left in the state.
    static func status(_ store: SQLiteStateStore) async -> ReconcileStatus? {
        try? await ReconcileView.load(from: store).status
    }
}
