import DTETestSupport
import Foundation
import XCTest

/// `dte logs`: the output of a component's job, through its site's real agent on real Slurm.
final class LogsEndToEndTests: XCTestCase {
    var bed: AgentTestbed!

    override func setUpWithError() throws {
        bed = try AgentTestbed()
    }

    override func tearDown() {
        bed.tearDown()
    }

    /// Applies one job and waits until its whole log is there.
    func applyAndWait(_ component: String, command: [String], lastLine: String) throws -> String {
        try bed.writeTwin(components: bed.batchJob(component, command: command))
        let applied = try bed.dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(applied.status, 0, applied.out + applied.err)
        let address = "twin.\(bed.twin).\(component)"
        let done = try bed.eventually(timeout: 90) { try bed.dte(["logs", address]).out.contains(lastLine) }
        XCTAssertTrue(done, "the job's log never showed \(lastLine)")
        return address
    }

    func testLogsPrintsWhatTheJobWroteAndTailKeepsTheLastLines() throws {
        let address = try applyAndWait("say", command: ["sh", "-c", "echo first line; echo second line; echo third line"],
                                       lastLine: "third line")
        let all = try bed.dte(["logs", address])
        XCTAssertEqual(all.status, 0, all.err)
        XCTAssertEqual(all.out, "first line\nsecond line\nthird line\n")

        let last = try bed.dte(["logs", address, "--tail", "1"])
        XCTAssertEqual(last.status, 0, last.err)
        XCTAssertEqual(last.out, "third line\n")

        let stamped = try bed.dte(["logs", address, "--timestamps", "--since", "1h"])
        XCTAssertEqual(stamped.status, 0, stamped.err)
        let lines = stamped.out.split(separator: "\n")
        XCTAssertEqual(lines.count, 3, stamped.out)
        for (line, text) in zip(lines, ["first line", "second line", "third line"]) {
            XCTAssertNotNil(line.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z "#, options: .regularExpression), String(line))
            XCTAssertTrue(line.hasSuffix(" " + text), String(line))
        }

        // the graph shows the job the state records
        let job = try XCTUnwrap(try bed.dte(["state", "list"]).out.split(separator: "\n").first { $0.hasPrefix(address + "\t") }?
            .components(separatedBy: "\tjob ").last)
        let graph = try bed.dte(["graph", "--format", "text", "--twin", bed.twin])
        XCTAssertEqual(graph.status, 0, graph.err)
        XCTAssertTrue(graph.out.contains("└── say: dte.nodes.BatchJob; on local/batch; job \(job), "), graph.out)

        let container = try bed.dte(["logs", address, "--container", "sidecar"])
        XCTAssertEqual(container.status, 1)
        XCTAssertTrue(container.err.contains("\(address) has no container \"sidecar\"; its containers: say"), container.err)
    }

    func testUnknownAddressNamesTheCloseOnes() throws {
        _ = try applyAndWait("say", command: ["echo", "hi"], lastLine: "hi")
        let typo = try bed.dte(["logs", "twin.\(bed.twin).sai"])
        XCTAssertEqual(typo.status, 1)
        XCTAssertEqual(typo.out, "")
        XCTAssertTrue(typo.err.contains("no resource twin.\(bed.twin).sai in the state; did you mean twin.\(bed.twin).say?"), typo.err)
        XCTAssertEqual(try bed.dte(["logs", "twin.demo.hello", "--tail", "-1"]).status, 64)
    }

    func testFollowStreamsUntilTheJobEnds() throws {
        try bed.writeTwin(components: bed.batchJob("slow", command: ["sh", "-c", "echo started; sleep 4; echo finished"]))
        XCTAssertEqual(try bed.dte(["apply", "--auto-approve", "--site", "local"]).status, 0)
        let follow = try bed.start(["logs", "-f", "twin.\(bed.twin).slow"])
        let early = follow.read(until: "started\n")
        XCTAssertTrue(early.hasPrefix("started\n"), early)
        XCTAssertTrue(follow.process.isRunning, "follow keeps the log open while the job runs")
        let end = follow.wait()
        XCTAssertEqual(end.status, 0, end.err)
        XCTAssertEqual(end.out, "started\nfinished\n")
    }

    func testAnAgentThatForgotThePodOrCannotBeReachedIsAnErrorNamingTheSiteAndURL() throws {
        let address = try applyAndWait("say", command: ["echo", "hi"], lastLine: "hi")
        // a new agent with an empty data folder knows no pods
        bed.stopAgent()
        try FileManager.default.removeItem(atPath: bed.folder + "/agent")
        try bed.startAgent()
        let forgot = try bed.dte(["logs", address])
        XCTAssertEqual(forgot.status, 1)
        XCTAssertTrue(forgot.err.contains("site local has no log of \(address) (job "), forgot.err)
        XCTAssertTrue(forgot.err.contains("the agent at \(bed.agentURL) answered HTTP 404"), forgot.err)
        XCTAssertTrue(forgot.err.contains("is not known to this agent"), forgot.err)

        let url = bed.agentURL
        bed.stopAgent()
        let started = Date()
        let down = try bed.dte(["logs", address, "--agent", "local=" + url])
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "a refused connection is reported at once, not retried")
        XCTAssertEqual(down.status, 1)
        XCTAssertTrue(down.err.contains("cannot get the log of \(address) from site local: cannot reach the agent at \(url)"), down.err)
    }
}
