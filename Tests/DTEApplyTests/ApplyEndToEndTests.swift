import DTEState
import DTETestSupport
import Foundation
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `dte plan` / `dte apply` end to end: the real `dte` against a real `dte-agent` (on a free
/// loopback port of its own) submitting to the real Slurm cluster the project's scripts start.
final class ApplyEndToEndTests: XCTestCase {
    var bed: AgentTestbed!
    var tmp: String { bed.folder }
    var twin: String { bed.twin }
    var agentURL: String { bed.agentURL }

    override func setUpWithError() throws {
        bed = try AgentTestbed()
    }

    override func tearDown() {
        bed.tearDown()
    }

    func startAgent() throws { try bed.startAgent() }

    /// Writes the twin: `jobs` tiny batch jobs, each after the previous one.
    func writeTwin(_ jobs: [String], env: String = "one", sleep: Int = 1, slow: Set<String> = [], protect: [String] = []) throws {
        var text = """
        tosca_definitions_version: tosca_simple_yaml_1_3
        imports: [dte/types.yaml]
        topology_template:
          node_templates:
            \(twin): { type: dte.nodes.DigitalTwin, properties: { project: demo, source: https://example.org/e2e } }

        """
        for (i, j) in jobs.enumerated() {
            text += """
                \(j):
                  type: dte.nodes.BatchJob
                  properties: { image: docker://debian:12, command: [sleep, "\(slow.contains(j) ? 30 : sleep)"], cpus: 1, memory: 32 MB, walltime: 5 m, runtime: bwrap, env: { STEP: \(env) } }
                  requirements: [ { twin: \(twin) }\(i > 0 ? ", { after: \(jobs[i - 1]) }" : "") ]

            """
        }
        text += """
          policies:
            - here: { type: dte.policies.Placement, properties: { sites: [local], partition: batch }, targets: [\(twin)] }
        \(protect.isEmpty ? "" : "    - keep: { type: dte.policies.Protection, targets: [\(protect.joined(separator: ", "))] }")

        """
        try text.write(toFile: tmp + "/repo/templates/\(twin).yaml", atomically: true, encoding: .utf8)
    }

    @discardableResult
    func dte(_ args: [String]) throws -> CommandOutput { try bed.dte(args) }

    /// Slurm jobs of this test's twin (any state still in slurmctld's memory).
    func slurmJobs() throws -> [String] { bed.slurmJobs() }

    func testPlanApplyPlanConvergesAndChangesBecomeReplaceAndDelete() throws {
        try writeTwin(["prep", "model"])
        XCTAssertEqual(try dte(["plan", "--site", "local", "--detailed-exitcode"]).status, 2)
        let saved = try dte(["plan", "--site", "local", "--out", tmp + "/plan.json"])
        XCTAssertEqual(saved.status, 0, saved.err)
        let applied = try dte(["apply", tmp + "/plan.json"])
        XCTAssertEqual(applied.status, 0, applied.out + applied.err)
        XCTAssertTrue(applied.out.contains("twin.\(twin).prep: created (job "), applied.out)
        XCTAssertTrue(applied.out.contains("Apply complete: 2 succeeded, 0 failed, 0 skipped."), applied.out)
        XCTAssertEqual(try slurmJobs().count, 2, "one Slurm job per component")
        let again = try dte(["plan", "--site", "local", "--detailed-exitcode"])
        XCTAssertEqual(again.status, 0, again.out)
        XCTAssertTrue(again.out.contains("No changes."), again.out)

        // a changed property replaces the job; a plan saved before that is then stale
        try writeTwin(["prep", "model"], env: "two")
        XCTAssertEqual(try dte(["plan", "--site", "local", "--out", tmp + "/stale.json"]).status, 0)
        let replaced = try dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(replaced.status, 0, replaced.out + replaced.err)
        XCTAssertTrue(replaced.out.contains("spec-changed: env.STEP: \"one\" → \"two\""), replaced.out)
        XCTAssertTrue(replaced.out.contains("twin.\(twin).prep: replaced (job "), replaced.out)
        let stale = try dte(["apply", tmp + "/stale.json"])
        XCTAssertEqual(stale.status, 1)
        XCTAssertTrue(stale.err.contains("the plan is stale: it was made against state serial 2, and the state is now at serial 4"), stale.err)

        // a component removed from the repository is deleted
        try writeTwin(["prep"], env: "two")
        let pruned = try dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(pruned.status, 0, pruned.out + pruned.err)
        XCTAssertTrue(pruned.out.contains("twin.\(twin).model: deleted"), pruned.out)
        let list = try dte(["state", "list"])
        XCTAssertFalse(list.out.contains("twin.\(twin).model"), list.out)
        XCTAssertTrue(list.out.contains("twin.\(twin).prep"), list.out)
        let history = try dte(["state", "history"])
        XCTAssertEqual(history.out.split(separator: "\n").count, 3, history.out)
    }

    func testASecondApplyIsToldWhoHoldsTheLock() async throws {
        try writeTwin(["prep"])
        let store = try SQLiteStateStore(path: tmp + "/state.db")
        let lease = try await store.acquireLock(holder: "ci-job-41", operation: "apply", ttl: 600)
        let blocked = try dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(blocked.status, 1)
        XCTAssertTrue(blocked.err.contains("the state is locked by ci-job-41 for apply"), blocked.err)
        XCTAssertTrue(blocked.err.contains("dte state lock break \(lease.id)"), blocked.err)
        XCTAssertTrue(try slurmJobs().isEmpty, "nothing was submitted while locked")
        try await store.releaseLock(lease)
        XCTAssertEqual(try dte(["apply", "--auto-approve", "--site", "local"]).status, 0)
    }

    func testKilledApplyIsAdoptedOnRerunWithoutDuplicateJobs() throws {
        let jobs = (1...5).map { "step\($0)" }
        try writeTwin(jobs, sleep: 20)
        let p = Process()
        p.executableURL = builtExecutable("dte")
        p.arguments = ["apply", "--auto-approve", "--site", "local", "--parallelism", "1", "--state", tmp + "/state.db", "--agent", "local=" + agentURL]
        p.currentDirectoryURL = URL(fileURLWithPath: tmp + "/repo")
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        // kill -9 as soon as the first job is recorded
        var seen = ""
        let handle = out.fileHandleForReading
        while !seen.contains("created (job ") {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let rerun = try dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(rerun.status, 0, rerun.out + rerun.err)
        let submitted = try slurmJobs()
        XCTAssertEqual(submitted.count, jobs.count, "exactly one Slurm job per component after the rerun: \(submitted)")
        XCTAssertEqual(try dte(["plan", "--site", "local", "--detailed-exitcode"]).status, 0)
    }

    func testRefreshRecordsStatusesAndReportsDriftAndUnreachableSites() throws {
        try writeTwin(["quick"], sleep: 0)
        let first = try dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(first.status, 0, first.out + first.err)
        // wait until Slurm ran it, then record what the agent reports
        var recorded = ""
        for _ in 0..<60 {
            let ro = try dte(["plan", "--site", "local", "--refresh-only", "--agent", "local=" + agentURL, "--out", tmp + "/ro.json"])
            if ro.out.contains("status → succeeded") {
                XCTAssertEqual(try dte(["apply", tmp + "/ro.json"]).status, 0)
                recorded = try dte(["state", "list"]).out
                break
            }
            Thread.sleep(forTimeInterval: 1)
        }
        XCTAssertTrue(recorded.contains("twin.\(twin).quick\tlocal\tsucceeded"), recorded)

        // a running job whose pod the site no longer knows is drift, and planned again
        try writeTwin(["quick", "slow"], sleep: 0, slow: ["slow"])
        XCTAssertEqual(try dte(["apply", "--auto-approve", "--site", "local"]).status, 0)
        bed.stopAgent()
        try FileManager.default.removeItem(atPath: tmp + "/agent")
        try startAgent()
        let drift = try dte(["plan", "--site", "local", "--agent", "local=" + agentURL])
        XCTAssertEqual(drift.status, 0, drift.err)
        XCTAssertTrue(drift.out.contains("twin.\(twin).slow on local: recorded submitted, the site reports absent (missing-at-site)"), drift.out)
        XCTAssertTrue(drift.out.contains("+   twin.\(twin).slow"), drift.out)
        XCTAssertFalse(drift.out.contains("twin.\(twin).quick on local"), "a finished job the site forgot is not drift: \(drift.out)")

        // a site that cannot be reached is an error naming it
        bed.stopAgent()
        let asked = Date()
        let down = try dte(["plan", "--site", "local", "--agent", "local=" + agentURL])
        XCTAssertLessThan(Date().timeIntervalSince(asked), 10, "a refused connection is reported at once, not retried until the timeout")
        XCTAssertEqual(down.status, 1)
        XCTAssertTrue(down.err.contains("cannot refresh site local"), down.err)
        XCTAssertEqual(try dte(["plan", "--site", "local", "--refresh=false", "--agent", "local=" + agentURL]).status, 0)
    }

    func testProtectedComponentsAreNeitherReplacedNorDeleted() throws {
        try writeTwin(["keeper", "other"], protect: ["keeper"])
        XCTAssertEqual(try dte(["apply", "--auto-approve", "--site", "local"]).status, 0)
        try writeTwin(["keeper", "other"], env: "two", protect: ["keeper"])
        let replace = try dte(["plan", "--site", "local"])
        XCTAssertEqual(replace.status, 1, replace.out)
        XCTAssertTrue(replace.out.contains("twin.\(twin).keeper is protected (dte.policies.Protection) and would be replaced"), replace.out)
        try writeTwin(["other"])
        let delete = try dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(delete.status, 1)
        XCTAssertTrue(delete.out.contains("twin.\(twin).keeper is protected (dte.policies.Protection) and would be deleted"), delete.out)
        XCTAssertTrue(try dte(["state", "list"]).out.contains("twin.\(twin).keeper"), "nothing was applied")
        // dropping the policy is applied first (an update); then the component can go
        try writeTwin(["keeper", "other"])
        let unprotect = try dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(unprotect.status, 0, unprotect.out + unprotect.err)
        XCTAssertTrue(unprotect.out.contains("twin.\(twin).keeper: updated"), unprotect.out)
        try writeTwin(["other"])
        let pruned = try dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(pruned.status, 0, pruned.out + pruned.err)
        XCTAssertTrue(pruned.out.contains("twin.\(twin).keeper: deleted"), pruned.out)
    }
}
