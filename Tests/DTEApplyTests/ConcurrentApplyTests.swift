import DTETestSupport
import Foundation
import XCTest

/// Two `dte apply` processes at once against one state and one real agent: one applies, the
/// other is refused with the holder's details, and Slurm runs each component once.
final class ConcurrentApplyTests: XCTestCase {
    var bed: AgentTestbed!

    override func setUpWithError() throws {
        bed = try AgentTestbed()
    }

    override func tearDown() {
        bed.tearDown()
    }

    func testASecondConcurrentApplyIsRefusedWithTheHoldersDetailsAndNothingRunsTwice() throws {
        let components = ["fetch", "crunch", "report"]
        var yaml = ""
        for (i, c) in components.enumerated() {
            yaml += bed.batchJob(c, command: ["sleep", "2"], after: i > 0 ? [components[i - 1]] : [])
        }
        try bed.writeTwin(components: yaml)

        // The agent is frozen, so the first apply holds the lock while its first create waits for
        // an answer; the second starts only once the lease is visible: no race decides the outcome.
        bed.pauseAgent()
        let first = try bed.start(["apply", "--auto-approve", "--site", "local", "--holder", "ci-pipeline-1"])
        // Before its lock, apply compiles and plans without the agent (the state is empty: nothing
        // to refresh); on a loaded machine that can take a while, so the wait is generous, and a
        // first apply that never locks ends the test with what it printed (no cascade of failures).
        var leases = ""
        let waitStarted = Date()
        let locked = try bed.eventually(timeout: 120) {
            leases = try bed.dte(["state", "lock", "list"]).out
            return leases.contains("ci-pipeline-1\tapply")
        }
        guard locked else {
            bed.resumeAgent()
            first.process.terminate()
            let end = first.wait()
            XCTFail("the first apply did not take the lock within \(Int(Date().timeIntervalSince(waitStarted))) s: \(leases)\n"
                    + "its output:\n\(end.out)\n\(end.err)")
            return
        }
        let leaseID = String(leases.split(separator: "\t").first ?? "")

        let second = try bed.dte(["apply", "--auto-approve", "--site", "local", "--holder", "ci-pipeline-2"])
        XCTAssertTrue(first.process.isRunning, "the first apply still holds the lock while the second runs")
        bed.resumeAgent()
        let firstEnd = first.wait()

        XCTAssertEqual(firstEnd.status, 0, firstEnd.out + firstEnd.err)
        XCTAssertTrue(firstEnd.out.contains("Apply complete: 3 succeeded, 0 failed, 0 skipped."), firstEnd.out)
        XCTAssertEqual(second.status, 1, second.out + second.err)
        XCTAssertTrue(second.err.contains("the state is locked by ci-pipeline-1 for apply since "), second.err)
        XCTAssertTrue(second.err.contains(" by process \(first.process.processIdentifier) on \(ProcessInfo.processInfo.hostName) (lock \(leaseID), expires "),
                      second.err)
        XCTAssertTrue(second.err.contains("run `dte state lock break \(leaseID)` if that run is dead"), second.err)
        XCTAssertFalse(second.out.contains(": created"), "the refused apply created nothing: \(second.out)")

        // one job per component, and the state agrees with the site: nothing left to do
        let jobs = bed.slurmJobs()
        XCTAssertEqual(jobs.map { String($0.split(separator: " ")[1]) }.sorted(), components.map { "\(bed.twin).\($0)" }.sorted(),
                       "exactly one Slurm job per component: \(jobs)")
        XCTAssertEqual(try bed.dte(["state", "lock", "list"]).out, "no lock\n")
        // the refused run left no trace in the history: only the first apply is there
        let history = try bed.dte(["state", "history"]).out.split(separator: "\n")
        XCTAssertEqual(history.count, 1, history.joined(separator: "\n"))
        XCTAssertTrue(history.last?.contains("\tapply\tsucceeded\tci-pipeline-1\t") == true, history.joined(separator: "\n"))
        // retried, the refused apply finds nothing to create (it may record the jobs' statuses)
        let again = try bed.dte(["apply", "--auto-approve", "--site", "local", "--holder", "ci-pipeline-2"])
        XCTAssertEqual(again.status, 0, again.out + again.err)
        XCTAssertFalse(again.out.contains(": created") || again.out.contains(": replaced"), again.out)
        XCTAssertEqual(bed.slurmJobs().count, components.count, "the retried apply submitted nothing")
    }
}
