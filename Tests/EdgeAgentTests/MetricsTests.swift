import DTETestSupport
@testable import EdgeAgent
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `/metrics` in Prometheus' text format (swift-prometheus): what it holds, `promtool check
/// metrics`, and a real Prometheus scraping the real agent on loopback.
@Suite(.serialized) struct MetricsTests {
    /// Runs `promtool check metrics` on `text`; its complaints, or nil when it passes.
    static func promtool(_ text: String) async throws -> String? {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString.prefix(8)).txt").path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try await CommandRunner.run("/bin/sh", ["-c", "promtool check metrics < \"$0\"", file])
        return result.status == 0 ? nil : "promtool (exit \(result.status)): \(result.stdout) \(result.stderr)"
    }

    /// The value of one series (`name{labels}`) in the text format.
    static func value(_ series: String, in text: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func metricsShowTheAgentAndPassPromtool() async throws {
        let agent = try TestAgent()
        defer { agent.stop() }
        let pod = Fixtures.pod("metrics", containers: [Fixtures.container("main", ["true"])])
        _ = try await agent.create(pod)
        _ = try await agent.finished(pod.pod.metadata.uid)
        // The containers' status files say it ended before the poller sees the job end: wait for that.
        var text = ""
        let deadline = Date().addingTimeInterval(60)
        repeat {
            text = String(decoding: try await agent.request(.get, "/metrics").body, as: UTF8.self)
            if Self.value("dte_agent_pods{phase=\"finished\"}", in: text) == 1 { break }
            try await Task.sleep(for: .milliseconds(300))
        } while Date() < deadline
        for line in ["# TYPE dte_agent_pods gauge", "# TYPE dte_agent_pods_created_total counter",
                     "# TYPE dte_agent_backend_query_duration_seconds histogram"] {
            #expect(text.contains(line + "\n"), "\(line) in:\n\(text)")
        }
        for (series, value) in [("dte_agent_pods{phase=\"finished\"}", 1.0), ("dte_agent_pods{phase=\"active\"}", 0),
                                ("dte_agent_pods_created_total", 1), ("dte_agent_tracked_pods", 1), ("dte_agent_backend_up", 1)] {
            #expect(Self.value(series, in: text) == value, "\(series) in:\n\(text)")
        }
        #expect(text.contains("dte_agent_backend_query_duration_seconds_bucket{operation=\"jobs\",le=\"0.1\"}")
                    || text.contains("dte_agent_backend_query_duration_seconds_bucket{le=\"0.1\",operation=\"jobs\"}"), "\(text)")
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            #expect((parts[3] == "counter") == parts[2].hasSuffix("_total"), "_total only on counters: \(line)")
        }
        if let complaint = try await Self.promtool(text) { Issue.record("\(complaint)\n\(text)") }
    }

    @Test func metricsOfTenThousandPodsAnswerQuickly() async throws {
        // Registry and rendering alone: the scrape's cost grows with the pods' phases, not per pod series.
        let metrics = AgentMetrics()
        var phases: [PodRecord.Phase: Int] = [.active: 4_000, .finished: 6_000]
        phases[.submitting] = 0
        let snapshot = AgentMetrics.Snapshot(counters: PodController.Counters(), phases: phases, tracked: 10_000,
                                             backendUp: true, orphans: 0, capacity: nil)
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<100 { _ = metrics.render(snapshot) }
        #expect(clock.now - start < .seconds(2), "100 renders")
        #expect(Self.value("dte_agent_tracked_pods", in: metrics.render(snapshot)) == 10_000)
    }

    @Test func prometheusScrapesTheAgent() async throws {
        try SlurmCluster.require()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dte-prom-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let agent = try startTestAgent(dataDir: dir + "/agent")
        defer { agent.process.terminate(); agent.process.waitUntilExit() }
        let target = String(agent.url.dropFirst("http://".count))
        // Prometheus on a port that was free a moment ago; started again on another one when
        // something took it in between (its log says "address already in use").
        var prometheus = Process()
        var port = 0
        for attempt in 1...5 {
            port = try ProcessRestartTests.freePort()
            try """
                global:
                  scrape_interval: 1s
                scrape_configs:
                  - job_name: dte-agent
                    static_configs:
                      - targets: ['\(target)']
                """.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
            prometheus = Process()
            prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
            prometheus.arguments = ["--config.file=\(dir)/prometheus.yml", "--storage.tsdb.path=\(dir)/tsdb",
                                    "--web.listen-address=127.0.0.1:\(port)"]
            prometheus.standardOutput = FileHandle.nullDevice
            FileManager.default.createFile(atPath: dir + "/prometheus.log", contents: nil)
            prometheus.standardError = FileHandle(forWritingAtPath: dir + "/prometheus.log")
            try prometheus.run()
            let ready = URL(string: "http://127.0.0.1:\(port)/-/ready")!
            var up = false
            let until = Date().addingTimeInterval(30)
            while !up, prometheus.isRunning, Date() < until {
                try await Task.sleep(for: .milliseconds(250))
                up = (try? await URLSession.shared.data(from: ready)).map { ($0.1 as? HTTPURLResponse)?.statusCode == 200 } ?? false
            }
            if up || prometheus.isRunning { break }
            let log = (try? String(contentsOfFile: dir + "/prometheus.log", encoding: .utf8)) ?? ""
            try #require(log.contains("address already in use") && attempt < 5, "Prometheus did not start:\n\(log)")
        }
        defer { prometheus.terminate(); prometheus.waitUntilExit() }

        // The series as Prometheus stored it, asked through its HTTP API.
        let query = URL(string: "http://127.0.0.1:\(port)/api/v1/query?query=dte_agent_backend_up%7Bjob%3D%22dte-agent%22%7D")!
        var value: String?
        let deadline = Date().addingTimeInterval(60)
        while value != "1", Date() < deadline {
            try await Task.sleep(for: .seconds(1))
            guard let (data, _) = try? await URLSession.shared.data(from: query),
                  let answer = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let result = (answer["data"] as? [String: Any])?["result"] as? [[String: Any]],
                  let first = result.first, let pair = first["value"] as? [Any] else { continue }
            value = pair.last as? String
        }
        #expect(value == "1", "Prometheus scraped dte_agent_backend_up = 1 (log: \(dir)/prometheus.log)")
        let targets = URL(string: "http://127.0.0.1:\(port)/api/v1/targets")!
        let (data, _) = try await URLSession.shared.data(from: targets)
        #expect(String(decoding: data, as: UTF8.self).contains("\"health\":\"up\""))
    }
}
