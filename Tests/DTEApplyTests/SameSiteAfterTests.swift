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
        // An apply after both finished records their final state.
        let recorded = try bed.dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(recorded.status, 0, recorded.out + recorded.err)
        XCTAssertTrue(recorded.out.contains("Recorded what the sites report for 2 resources."), recorded.out)
        let shown = try bed.dte(["state", "show", "twin.\(bed.twin).first"])
        XCTAssertTrue(shown.out.contains("succeeded"))

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
