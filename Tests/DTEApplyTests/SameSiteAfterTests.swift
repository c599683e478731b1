import DTETestSupport
import Foundation
import XCTest

/// `after` between components on one site, when the earlier one finished long ago.
final class SameSiteAfterTests: XCTestCase {
    var bed: AgentTestbed!

    override func setUpWithError() throws {
        bed = try AgentTestbed()
    }

    override func tearDown() {
        bed.tearDown()
    }

    /// The agent forgets finished pods after its retention; a dependent changed later must
    /// still be created (the finished dependency is not named to the agent) and the
    /// dependency must not run again.
    func testDependentOfAFinishedJobTheAgentForgotIsReplacedWithoutRerunningIt() throws {
        let first = bed.batchJob("first", command: ["echo", "one"])
        try bed.writeTwin(components: first + bed.batchJob("second", command: ["echo", "two"], after: ["first"]))
        let applied = try bed.dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(applied.status, 0, applied.out + applied.err)
        let second = "twin.\(bed.twin).second"
        XCTAssertTrue(try bed.eventually(timeout: 90) { try bed.dte(["logs", second]).out == "two\n" })
        // An apply with nothing to change records what the agent reports. The agent learns that
        // a job ended at its next poll of Slurm (a while after the job's output on a busy node),
        // so apply again until it has reported both as succeeded.
        var recordedLines: [String] = []
        let bothSucceeded = try bed.eventually(timeout: 60) {
            let recorded = try bed.dte(["apply", "--auto-approve", "--site", "local"])
            XCTAssertEqual(recorded.status, 0, recorded.out + recorded.err)
            recordedLines += recorded.out.split(separator: "\n").map(String.init).filter { $0.hasPrefix("Recorded what the sites report") }
            return try ["first", "second"].allSatisfy { try bed.dte(["state", "show", "twin.\(bed.twin).\($0)"]).out.contains("succeeded") }
        }
        let listed = try bed.dte(["state", "list"]).out
        XCTAssertTrue(bothSucceeded, "the state never recorded both jobs as succeeded: \(listed)")
        XCTAssertFalse(recordedLines.isEmpty, "no apply said it recorded what the sites report")

        // A new agent database: every earlier pod is gone from the agent, as after its retention.
        bed.stopAgent()
        try FileManager.default.removeItem(atPath: bed.folder + "/agent")
        try bed.startAgent()

        try bed.writeTwin(components: first + bed.batchJob("second", command: ["echo", "two again"], after: ["first"]))
        let changed = try bed.dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(changed.status, 0, changed.out + changed.err)
        XCTAssertTrue(try bed.eventually(timeout: 90) { try bed.dte(["logs", second]).out == "two again\n" })
        XCTAssertEqual(bed.slurmJobs().filter { $0.hasSuffix(".first") }.count, 1, "the finished dependency ran again: \(bed.slurmJobs())")
    }
}
