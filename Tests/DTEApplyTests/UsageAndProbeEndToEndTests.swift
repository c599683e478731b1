import DTETestSupport
import Foundation
import XCTest

/// `dte usage`, `dte check site`, the allocation gate fed by use and the post-apply monitoring,
/// against a real `dte-agent` on the development cluster's Slurm and slurmdbd.
final class UsageAndProbeEndToEndTests: XCTestCase {
    var bed: AgentTestbed!

    override func setUpWithError() throws {
        bed = try AgentTestbed()
        // the allocation gate on, without a policy
        try "version: 1\nhooks:\n  allocation: {}\n".write(toFile: bed.repository + "/dte.yaml", atomically: true, encoding: .utf8)
    }

    override func tearDown() {
        bed.tearDown()
    }

    /// `dte` with the testbed's state and agent for the commands the testbed does not know.
    func dte(_ args: [String]) throws -> CommandOutput {
        try bed.dte(args + (["usage", "check"].contains(args.first ?? "") ? ["--agent", "local=" + bed.agentURL] : [])
                    + (args.first == "check" ? ["--state", bed.statePath] : []))
    }

    func check(_ extra: [String] = []) throws -> CommandOutput { try dte(["check", "site", "local"] + extra) }

    func testProbeExitCodesForARunningAPausedAStoppedAgentAndAnUnknownSite() throws {
        // a running agent, once its first poll ran: OK with perfdata
        XCTAssertTrue(try bed.eventually(timeout: 15) { try check().status == 0 })
        let ok = try check()
        XCTAssertEqual(ok.status, 0, ok.out + ok.err)
        let line = ok.out.trimmingCharacters(in: .newlines)
        XCTAssertFalse(line.contains("\n"), "one status line: \(ok.out)")
        XCTAssertTrue(line.hasPrefix("DTE SITE local OK - agent reachable, backend up, "), line)
        XCTAssertTrue(line.contains(" cpus / "), line)
        XCTAssertTrue(line.contains("gpus free, 0 pods failing | cpus_free="), line)
        let perf = try XCTUnwrap(line.components(separatedBy: " | ").last)
        let cpus = try XCTUnwrap(Int(perf.components(separatedBy: "cpus_free=").last?.prefix { $0.isNumber } ?? ""))
        // the dev cluster: batch (8 CPUs) and mpi (two nodes of 2), scripts/dev-cluster.sh
        XCTAssertTrue((0...12).contains(cpus), "the dev cluster has 12 cpus: \(perf)")
        XCTAssertTrue(perf.contains(" gpus_free="), perf)
        XCTAssertTrue(perf.contains(" pods_failing=0;; response_time="), perf)
        XCTAssertTrue(perf.hasSuffix("s;;"), perf)

        // an unknown site
        let unknown = try bed.dte(["check", "site", "nowhere", "--state", bed.statePath])
        XCTAssertEqual(unknown.status, 3, unknown.out + unknown.err)
        XCTAssertTrue(unknown.out.hasPrefix("DTE SITE nowhere UNKNOWN - no site nowhere in the repository (sites: local)"), unknown.out)

        // a frozen agent (connections accepted, nothing answers): CRITICAL within --timeout
        bed.pauseAgent()
        let started = Date()
        let paused = try check(["--timeout", "1.5"])
        bed.resumeAgent()
        XCTAssertEqual(paused.status, 2, paused.out + paused.err)
        XCTAssertTrue(paused.out.hasPrefix("DTE SITE local CRITICAL - agent unreachable: "), paused.out)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "--timeout bounds the probe")

        // a stopped agent
        bed.stopAgent()
        let stopped = try check(["--timeout", "3"])
        XCTAssertEqual(stopped.status, 2, stopped.out + stopped.err)
        XCTAssertTrue(stopped.out.hasPrefix("DTE SITE local CRITICAL - agent unreachable: "), stopped.out)
        XCTAssertTrue(stopped.out.contains("response_time="), stopped.out)

        // thresholds are checked
        let bad = try check(["--warning-failing", "3", "--critical-failing", "2"])
        XCTAssertEqual(bad.status, 64, bad.out + bad.err)
    }

    func testProbeIsCriticalWhenTheAgentRefusesTheToken() async throws {
        let issuer = try await TestIssuer.start()
        defer { issuer.stop() }
        bed.stopAgent()
        try bed.startAgent(arguments: ["--oidc-issuer", issuer.url, "--oidc-audience", "dte-test"])
        let good = try await issuer.token(issuer.claims(subject: "prober"))
        bed.environment["DTE_TOKEN"] = good
        XCTAssertTrue(try bed.eventually(timeout: 15) { try check().status == 0 })

        let bogus = TestIssuer.unsignedToken(issuer.claims(subject: "prober"))
        bed.environment["DTE_TOKEN"] = bogus
        let refused = try check()
        XCTAssertEqual(refused.status, 2, refused.out + refused.err)
        XCTAssertTrue(refused.out.hasPrefix("DTE SITE local CRITICAL - agent reachable, token refused: "), refused.out)
        XCTAssertTrue(refused.out.contains("HTTP 401"), refused.out)
        XCTAssertFalse(refused.out.contains(bogus), "the token is not printed")
        bed.environment["DTE_TOKEN"] = good
    }

    /// Waits until the agent has accounted `jobs` finished jobs; `dte usage --json`'s answer.
    func accounted(_ jobs: Int) throws -> [String: Any] {
        var answer: [String: Any] = [:]
        let ok = try bed.eventually(timeout: 90) {
            let r = try dte(["usage", "--json"])
            guard r.status == 0, let o = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any] else { return false }
            answer = o
            let projects = (o["sites"] as? [[String: Any]])?.first?["projects"] as? [[String: Any]] ?? []
            return projects.compactMap { number(($0["usage"] as? [String: Any])?["jobs"]) }.reduce(0, +) >= Double(jobs)
        }
        XCTAssertTrue(ok, "accounting did not collect \(jobs) jobs: \(answer)")
        return answer
    }

    func number(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue }

    /// sacct's cores × elapsed seconds and TotalCPU of one job.
    func sacct(_ job: String) throws -> (coreSeconds: Int, cpuSeconds: Double) {
        let r = try runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["sacct", "-j", job, "-X", "-n", "-P", "-o", "NCPUS,ElapsedRaw,TotalCPU"], in: bed.folder)
        let f = r.out.split(separator: "\n").first?.split(separator: "|", omittingEmptySubsequences: false).map(String.init) ?? []
        guard f.count == 3, let cores = Int(f[0]), let elapsed = Int(f[1]) else { throw TestIssuer.Failure(description: "sacct: \(r.out) \(r.err)") }
        // TotalCPU: [DD-[HH:]]MM:SS.mmm
        var seconds = 0.0
        for part in f[2].split(separator: ":") { seconds = seconds * 60 + (Double(part) ?? 0) }
        return (cores * elapsed, seconds)
    }

    func testUsageMatchesSacctAndThePlanCountsItAgainstTheAllocation() throws {
        let twin = bed.twin
        try bed.writeTwin(components: bed.batchJob("crunch", command: ["sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 1"]))
        let applied = try bed.dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(applied.status, 0, applied.out + applied.err)
        let answer = try accounted(1)

        let site = try XCTUnwrap((answer["sites"] as? [[String: Any]])?.first)
        XCTAssertEqual(site["site"] as? String, "local")
        let project = try XCTUnwrap((site["projects"] as? [[String: Any]])?.first)
        XCTAssertEqual(project["project"] as? String, "demo", "usage counts to the twin's project")
        let usage = try XCTUnwrap(project["usage"] as? [String: Any])
        let job = try XCTUnwrap(bed.dte(["state", "show", "twin.\(twin).crunch"]).out.components(separatedBy: "\"jobID\" : \"").dropFirst().first?.prefix { $0.isNumber })
        let real = try sacct(String(job))
        XCTAssertGreaterThan(real.coreSeconds, 0)
        XCTAssertEqual(number(usage["coreSeconds"]), Double(real.coreSeconds))
        XCTAssertEqual(try XCTUnwrap(number(usage["coreHours"])), Double(real.coreSeconds) / 3600, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(number(usage["cpuSeconds"])), real.cpuSeconds, accuracy: 1)
        XCTAssertEqual(number(usage["jobs"]), 1)
        let allocation = try XCTUnwrap(project["allocation"] as? [String: Any])
        XCTAssertEqual(number(allocation["coreHours"]), 1000)
        XCTAssertEqual(try XCTUnwrap(number(allocation["coreShareUsed"])), Double(real.coreSeconds) / 3600 / 1000, accuracy: 1e-12)
        let twins = try XCTUnwrap(project["twins"] as? [[String: Any]])
        XCTAssertEqual(twins.map { $0["twin"] as? String }, [twin])

        // CSV: a header and one row per site, project and twin
        let csv = try dte(["usage", "--csv", "--twin", twin])
        XCTAssertEqual(csv.status, 0, csv.err)
        let rows = csv.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(rows.first, "site,project,twin,jobs,core_hours,gpu_hours,cpu_hours,allocation_core_hours,allocation_gpu_hours,core_share_used,gpu_share_used")
        XCTAssertEqual(rows.count, 2, csv.out)
        XCTAssertTrue(rows[1].hasPrefix("local,demo,\(twin),1,\(String(format: "%.6f", Double(real.coreSeconds) / 3600)),0.000000,"), rows[1])
        XCTAssertTrue(rows[1].contains(",1000.000000,100.000000,"), rows[1])

        // the table: the project's row with its allocation, then the twin's
        let table = try dte(["usage"])
        XCTAssertEqual(table.status, 0, table.err)
        let cells = table.out.split(separator: "\n").map { $0.components(separatedBy: "  ").filter { !$0.isEmpty }.map { $0.trimmingCharacters(in: .whitespaces) } }
        XCTAssertEqual(cells.first, ["SITE", "PROJECT", "TWIN", "JOBS", "CORE-H", "GPU-H", "CPU-H", "ALLOCATION", "USED"], table.out)
        XCTAssertEqual(cells.dropFirst().first, ["local", "demo", "*", "1", "0", "0", "0", "1,000 core-h / 100 GPU-h", "0.0 % / 0.0 %"], table.out)
        XCTAssertEqual(cells.dropFirst(2).first, ["local", "demo", twin, "1", "0", "0", "0"], table.out)

        // another month has nothing; the table says so
        let empty = try dte(["usage", "--month", "1999-01"])
        XCTAssertEqual(empty.status, 0, empty.err)
        XCTAssertEqual(empty.out, "no finished jobs accounted (month 1999-01)\n")
        XCTAssertEqual(try dte(["usage", "--month", "2026-13"]).status, 64)

        // the plan: what was used, of the grant, and what it adds (the finished job is counted once)
        try bed.writeTwin(components: bed.batchJob("crunch", command: ["sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 1"])
                          + bed.batchJob("more", command: ["true"]))
        let plan = try bed.dte(["plan", "--site", "local"])
        XCTAssertEqual(plan.status, 0, plan.out + plan.err)
        XCTAssertTrue(plan.out.contains("local/demo: used 0 of 1,000 core-h on local for demo, this plan adds 0.1; used 0 of 100 GPU-h, adds 0"), plan.out)
        XCTAssertTrue(plan.out.contains("1 finished job accounted"), plan.out)
        // the finished job is counted once, by its real use, not again by its prediction (0.1)
        XCTAssertTrue(plan.out.contains("allocation local/demo core-hours: predicted 0.1; used 0, the state holds 0 not yet accounted; left 1,000 of 1,000"),
                      plan.out)
        XCTAssertFalse(plan.out.contains("; the state holds"), "nothing pending in the summary: \(plan.out)")
        let json = try bed.dte(["plan", "--site", "local", "--json"])
        XCTAssertTrue(json.out.contains("used 0 of 1,000 core-h on local for demo, this plan adds 0.1"), json.out)
        let markdown = try bed.dte(["plan", "--site", "local", "--markdown"])
        XCTAssertTrue(markdown.out.contains("used 0 of 1,000 core-h on local for demo, this plan adds 0.1"), markdown.out)

        // an agent that cannot be reached: exit 1 naming the site
        bed.stopAgent()
        let down = try dte(["usage"])
        XCTAssertEqual(down.status, 1)
        XCTAssertTrue(down.err.contains("site local: cannot reach the agent at"), down.err)
    }

    func testStatusShowsASiteWhosePostApplyProbeFailed() throws {
        let twin = bed.twin
        try bed.writeTwin(components: bed.batchJob("broken", command: ["false"]))
        XCTAssertEqual(try bed.dte(["apply", "--auto-approve", "--site", "local"]).status, 0)
        XCTAssertTrue(try bed.eventually(timeout: 60) { try bed.dte(["status"]).out.contains("failed (exit 1)") })

        // the next apply adds a job; its probe finds the failed pod
        try bed.writeTwin(components: bed.batchJob("broken", command: ["false"]) + bed.batchJob("fine", command: ["true"]))
        let applied = try bed.dte(["apply", "--auto-approve", "--target", "twin.\(twin).fine"])
        XCTAssertEqual(applied.status, 0, applied.out + applied.err)
        let history = try bed.dte(["state", "history", "--limit", "1"])
        XCTAssertTrue(history.out.contains("monitoring(post-apply)=warn"), history.out)

        let status = try bed.dte(["status"])
        XCTAssertEqual(status.status, 0, status.err)
        let line = try XCTUnwrap(status.out.split(separator: "\n").first { $0.hasPrefix("site local: ") }, status.out)
        XCTAssertTrue(line.hasPrefix("site local: WARNING - agent reachable, backend up, "), String(line))
        XCTAssertTrue(line.contains("1 pod failing of 2 (warning at 1) (probed after apply at 20"), String(line))

        // with the agent gone, status cannot ask it but still shows what the last probe found
        bed.stopAgent()
        let down = try bed.dte(["status"])
        XCTAssertEqual(down.status, 1)
        XCTAssertTrue(down.out.hasPrefix(String(line)), down.out)
        XCTAssertTrue(down.err.contains("cannot refresh site local"), down.err)
    }
}
