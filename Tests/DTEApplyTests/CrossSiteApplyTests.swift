import DTETestSupport
import Foundation
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A component `after` one on another site: apply waits for the earlier job to finish before
/// submitting, skips it when that job failed, and fills in `get_attribute` values and outputs
/// from what the agents report. Two sites ("east" and "west"), each with its own real `dte-agent`
/// on a free loopback port, both submitting to the real Slurm cluster.
final class CrossSiteApplyTests: XCTestCase {
    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    var tmp = ""
    var twin = ""
    var agents: [String: (process: Process, url: String)] = [:]

    override func setUp() async throws {
        tmp = NSTemporaryDirectory() + "dte-xsite-" + UUID().uuidString.prefix(8).lowercased()
        twin = "e2e-" + UUID().uuidString.prefix(6).lowercased()
        try FileManager.default.createDirectory(atPath: tmp + "/repo/templates/dte", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: tmp + "/repo/sites", withIntermediateDirectories: true)
        try "version: 1\n".write(toFile: tmp + "/repo/dte.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: Self.repositoryRoot + "/templates/dte/types.yaml", toPath: tmp + "/repo/templates/dte/types.yaml")
        let local = try String(contentsOfFile: Self.repositoryRoot + "/sites/local.yaml", encoding: .utf8)
        for site in ["east", "west"] {
            let url = try startAgent(site)
            // the same cluster described twice, each copy with its own agent
            let descriptor = local.replacingOccurrences(of: "\n    local:\n", with: "\n    \(site):\n")
                .replacingOccurrences(of: "endpoint: http://127.0.0.1:4555", with: "endpoint: \(url)")
            XCTAssertNotEqual(descriptor, local)
            try descriptor.write(toFile: tmp + "/repo/sites/\(site).yaml", atomically: true, encoding: .utf8)
        }
    }

    override func tearDown() async throws {
        _ = try? dte(["apply", "--auto-approve", "--destroy", "--refresh=false"])
        for job in (try? slurmJobs()) ?? [] { run(["scancel", job.id]) }
        for (_, a) in agents {
            a.process.terminate()
            a.process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: tmp)
    }

    func startAgent(_ site: String) throws -> String {
        let started = try startTestAgent(dataDir: tmp + "/agent-\(site)")
        agents[site] = (started.process, started.url)
        return started.url
    }

    /// The twin: `first` on east, `second` on west after it (given `first`'s job id), `third` on west after `second`.
    func writeTwin(firstCommand: String) throws {
        try """
        tosca_definitions_version: tosca_simple_yaml_1_3
        imports: [dte/types.yaml]
        topology_template:
          node_templates:
            \(twin): { type: dte.nodes.DigitalTwin, properties: { project: demo, source: https://example.org/e2e } }
            first:
              type: dte.nodes.BatchJob
              properties: { image: docker://debian:12, command: \(firstCommand), cpus: 1, memory: 32 MB, walltime: 5 m, runtime: bwrap }
              requirements: [ { twin: \(twin) } ]
            second:
              type: dte.nodes.BatchJob
              properties:
                image: docker://debian:12
                command: [echo, { concat: [ "first was job ", { get_attribute: [first, job_id] } ] }]
                env: { FIRST_JOB: { get_attribute: [first, job_id] } }
                cpus: 1
                memory: 32 MB
                walltime: 5 m
                runtime: bwrap
              requirements: [ { twin: \(twin) }, { after: first } ]
            third:
              type: dte.nodes.BatchJob
              properties: { image: docker://debian:12, command: ["true"], cpus: 1, memory: 32 MB, walltime: 5 m, runtime: bwrap }
              requirements: [ { twin: \(twin) }, { after: second } ]
          policies:
            - on-east: { type: dte.policies.Placement, properties: { sites: [east], partition: batch }, targets: [first] }
            - on-west: { type: dte.policies.Placement, properties: { sites: [west], partition: batch }, targets: [second, third] }
          outputs:
            first_job: { value: { get_attribute: [first, job_id] } }
            first_state: { value: { get_attribute: [first, state] } }
            second_job: { value: { get_attribute: [second, job_id] } }

        """.write(toFile: tmp + "/repo/templates/\(twin).yaml", atomically: true, encoding: .utf8)
    }

    @discardableResult
    func run(_ args: [String]) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return "" }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    func dte(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = Bundle.main.bundleURL.appendingPathComponent("dte")
        p.arguments = args + ["--state", tmp + "/state.db"]
        p.currentDirectoryURL = URL(fileURLWithPath: tmp + "/repo")
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = "1"
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// This test's Slurm jobs: id and name (`<twin>.<component>`).
    func slurmJobs() throws -> [(id: String, name: String)] {
        run(["squeue", "-h", "-t", "all", "-o", "%i %j"]).split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ").map(String.init)
            return parts.count == 2 && parts[1].hasPrefix(twin + ".") ? (parts[0], parts[1]) : nil
        }
    }

    /// A time field (`SubmitTime`, `EndTime`, …) of a job as slurmctld reports it.
    func jobTime(_ id: String, _ field: String) throws -> Date {
        let line = run(["scontrol", "show", "job", "-o", id])
        let value = try XCTUnwrap(line.split(separator: " ").first { $0.hasPrefix(field + "=") }?.dropFirst(field.count + 1), line)
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        f.timeZone = .current
        return try XCTUnwrap(f.date(from: String(value)), "\(field)=\(value)")
    }

    func testDependentOnAnotherSiteIsSubmittedOnlyAfterTheEarlierJobFinished() throws {
        try writeTwin(firstCommand: "[sleep, \"2\"]")
        let plan = try dte(["plan"])
        XCTAssertEqual(plan.status, 0, plan.err)
        XCTAssertTrue(plan.out.contains("env.FIRST_JOB = (known after apply)"), plan.out)
        XCTAssertTrue(plan.out.contains("\(twin).first_job   = (known after apply)\n"), plan.out)

        let applied = try dte(["apply", "--auto-approve"])
        XCTAssertEqual(applied.status, 0, applied.out + applied.err)
        XCTAssertTrue(applied.out.contains("twin.\(twin).second: waiting for twin.\(twin).first on site east to finish: job "), applied.out)
        XCTAssertTrue(applied.out.contains("Apply complete: 3 succeeded, 0 failed, 0 skipped."), applied.out)
        // progress only on change: one line per state of first's job, not one per poll
        let waits = applied.out.split(separator: "\n").filter { $0.contains("second: waiting for") }
        XCTAssertLessThanOrEqual(waits.count, 3, waits.joined(separator: "\n"))

        let jobs = Dictionary(try slurmJobs().map { ($0.name, $0.id) }, uniquingKeysWith: { a, _ in a })
        let first = try XCTUnwrap(jobs["\(twin).first"], "\(jobs)"), second = try XCTUnwrap(jobs["\(twin).second"], "\(jobs)")
        XCTAssertGreaterThanOrEqual(try jobTime(second, "SubmitTime"), try jobTime(first, "EndTime"),
                                    "second was submitted to Slurm only after first's job ended")

        // attributes and outputs come from what the agents reported: first's real job id and its state
        let outputs = try dte(["output"])
        XCTAssertEqual(outputs.status, 0, outputs.err)
        XCTAssertTrue(outputs.out.contains("\(twin).first_job   = \"\(first)\""), outputs.out)
        XCTAssertTrue(outputs.out.contains("\(twin).first_state = \"succeeded\""), outputs.out)
        XCTAssertTrue(outputs.out.contains("\(twin).second_job  = \"\(second)\""), outputs.out)
        XCTAssertEqual(try dte(["output", "first_job"]).out, first + "\n")
        XCTAssertTrue(applied.out.contains("Outputs:"), applied.out)
        let shown = try dte(["state", "show", "twin.\(twin).first"])
        XCTAssertTrue(shown.out.contains("\"job_id\" : \"\(first)\""), shown.out)
        XCTAssertTrue(shown.out.contains("\"exit_code\" : \"0\""), shown.out)
        XCTAssertTrue(shown.out.contains("\"finished_at\" : \""), shown.out)

        // second's pod got first's job id, resolved before it was built
        var seen = ""
        for _ in 0..<20 where !seen.contains("first was job \(first)") {
            seen = ((try? FileManager.default.subpathsOfDirectory(atPath: tmp + "/agent-west")) ?? []).filter { $0.hasSuffix(".out") }
                .compactMap { try? String(contentsOfFile: tmp + "/agent-west/" + $0, encoding: .utf8) }.joined(separator: "\n")
            Thread.sleep(forTimeInterval: 0.5)
        }
        XCTAssertTrue(seen.contains("first was job \(first)"), "second's output: \(seen)")

        XCTAssertEqual(try dte(["plan", "--detailed-exitcode"]).status, 0, "converged")
    }

    func testDependentOfAFailedJobOnAnotherSiteIsNeverSubmitted() throws {
        try writeTwin(firstCommand: "[sh, -c, \"exit 3\"]")
        let applied = try dte(["apply", "--auto-approve"])
        XCTAssertEqual(applied.status, 1, applied.out + applied.err)
        let first = try XCTUnwrap(try slurmJobs().first { $0.name == "\(twin).first" }?.id)
        XCTAssertTrue(applied.out.contains("twin.\(twin).second: skipped: twin.\(twin).first on site east failed (job \(first), exit code 3)"),
                      applied.out)
        XCTAssertTrue(applied.out.contains("twin.\(twin).third: skipped: twin.\(twin).second was skipped"), applied.out)
        XCTAssertTrue(applied.out.contains("Apply complete: 1 succeeded, 0 failed, 2 skipped."), applied.out)
        XCTAssertEqual(try slurmJobs().map(\.name), ["\(twin).first"], "neither second nor third reached Slurm")
        let list = try dte(["state", "list"]).out
        XCTAssertFalse(list.contains("twin.\(twin).second"), list)
        XCTAssertTrue(list.contains("twin.\(twin).first\teast\tfailed"), list)
    }

    func testWaitTimeoutLeavesTheDependentUnsubmittedAndUnrecorded() throws {
        try writeTwin(firstCommand: "[sleep, \"60\"]")
        let applied = try dte(["apply", "--auto-approve", "--wait-timeout", "3s"])
        XCTAssertEqual(applied.status, 1, applied.out + applied.err)
        XCTAssertTrue(applied.out.contains("twin.\(twin).second: failed: gave up waiting for twin.\(twin).first on site east to finish after 3 s"),
                      applied.out)
        XCTAssertTrue(applied.out.contains("nothing was submitted for twin.\(twin).second"), applied.out)
        XCTAssertEqual(try slurmJobs().map(\.name), ["\(twin).first"])
        XCTAssertFalse(try dte(["state", "list"]).out.contains("twin.\(twin).second"))
        // nothing half-written: the next plan still creates second (and third), and nothing else
        let again = try dte(["plan", "--refresh=false"])
        XCTAssertTrue(again.out.contains("Plan: 2 to create, 0 to update, 0 to replace, 0 to delete."), again.out)
    }
}
