import DTEQuality
import DTETestSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

/// A stand-in SQAaaS API on loopback serving the responses the API specification documents
/// (`POST /v1/pipeline/assessment` → 201 {id}, `POST /v1/pipeline/{id}/run` → 204,
/// `GET /v1/pipeline/{id}/status` → {build_status}, `GET /v1/pipeline/assessment/{id}/output`
/// → AssessmentOutput).
final class StandInSQAaaS: @unchecked Sendable {
    // Mutable state is guarded by `lock`.
    private let lock = NSLock()
    private var calls: [String] = []
    private var bodies: [String] = []
    var statuses: [String] = ["waiting_scan_org", "success"]
    var pipelineID = "dd7d8481-81a3-407f-95f0-a2f1cb382a4b"
    var outputBytes = 0
    private(set) var url = ""
    private var task: Task<Void, any Error>?

    static let output = """
        {
          "version": "2.9.3",
          "repository": [{"name": "flood-twin", "url": "https://github.com/example/flood-twin", "tag": "1.0.0"}],
          "report": {
            "QC.Acc": {"valid": true, "filtered_reason": [], "subcriteria": {"QC.Acc01": {"description": "VCS?", "valid": true,
              "evidence": [{"valid": true, "message": "Source code uses Git for version control", "plugin": {"name": "report2sqaaas-plugin-boolean"}}],
              "hint": "", "required_for_next_level_badge": false}}},
            "QC.Lic": {"valid": true, "subcriteria": {"QC.Lic01": {"valid": true, "evidence": [{"valid": true, "message": "An Open Source license found in the code repository: Apache-2.0", "tool": {"name": "licensee", "lang": "Ruby"}}]}}},
            "QC.Met": {"valid": true, "subcriteria": {}},
            "QC.Doc": {"valid": true, "subcriteria": {}},
            "QC.Sty": {"valid": true, "subcriteria": {}},
            "QC.Ver": {"valid": true, "subcriteria": {}},
            "QC.Sec": {"valid": false, "subcriteria": {"QC.Sec02": {"valid": false, "evidence": [{"valid": false, "message": "bandit found 3 high-severity issues"}]}}}
          },
          "badge": {"software": {
            "criteria": {
              "bronze": {"to_fulfill": ["QC.Acc", "QC.Doc", "QC.Lic", "QC.Met"], "missing": [], "fulfilled": ["QC.Acc", "QC.Doc", "QC.Lic", "QC.Met"]},
              "silver": {"to_fulfill": ["QC.Sec", "QC.Sty", "QC.Ver"], "missing": ["QC.Sec"], "fulfilled": ["QC.Sty", "QC.Ver"]},
              "gold": {"to_fulfill": ["QC.Uni", "QC.Wor", "QC.Man", "QC.Del"], "missing": ["QC.Uni", "QC.Wor", "QC.Man", "QC.Del"], "fulfilled": []}
            },
            "data": {"openBadgeID": "https://api.eu.badgr.io/public/assertions/KSwijifTQ_-I1lb9FtX1bw", "issuedOn": "2021-04-07T10:07:00Z"},
            "share": "<html>..</html>"
          }}
        }
        """

    func record(_ call: String, body: String = "") {
        lock.lock(); defer { lock.unlock() }
        calls.append(call)
        if !body.isEmpty { bodies.append(body) }
    }

    var seen: (calls: [String], bodies: [String]) {
        lock.lock(); defer { lock.unlock() }
        return (calls, bodies)
    }

    func nextStatus() -> String {
        lock.lock(); defer { lock.unlock() }
        return statuses.count > 1 ? statuses.removeFirst() : (statuses.first ?? "success")
    }

    static func json(_ text: String, _ status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func start(configure: (StandInSQAaaS) -> Void = { _ in }) async throws -> StandInSQAaaS {
        let s = StandInSQAaaS()
        configure(s)
        for _ in 0..<5 {
            let port = Int.random(in: 41_000...60_000)
            let router = Router()
            router.post("/v1/pipeline/assessment") { request, context in
                let body = try await request.body.collect(upTo: 1 << 20)
                s.record("POST /v1/pipeline/assessment", body: String(buffer: body))
                return Self.json(#"{"id": "\#(s.pipelineID)"}"#, .created)
            }
            router.post("/v1/pipeline/:id/run") { _, context in
                s.record("POST /v1/pipeline/\(context.parameters.get("id") ?? "")/run")
                return Response(status: .noContent)
            }
            router.get("/v1/pipeline/:id/status") { _, context in
                s.record("GET /v1/pipeline/\(context.parameters.get("id") ?? "")/status")
                return Self.json(#"{"build_url": "https://jenkins.example/job/1", "build_status": "\#(s.nextStatus())"}"#)
            }
            router.get("/v1/pipeline/assessment/:id/output") { _, context in
                s.record("GET /v1/pipeline/assessment/\(context.parameters.get("id") ?? "")/output")
                if s.outputBytes > 0 { return Self.json("[" + String(repeating: "1,", count: s.outputBytes / 2) + "1]") }
                return Self.json(Self.output)
            }
            router.get("/v1/ping") { _, _ in Response(status: .ok) }
            var logger = Logger(label: "stand-in-sqaaas")
            logger.logLevel = .critical
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
            s.url = "http://127.0.0.1:\(port)/v1"
            s.task = Task { try await app.runService() }
            for _ in 0..<50 {
                if let u = URL(string: s.url + "/ping"), (try? await URLSession.shared.data(from: u)) != nil { return s }
                try await Task.sleep(for: .milliseconds(100))
            }
            s.task?.cancel()
        }
        throw QualityError(.io, "the stand-in SQAaaS service did not start")
    }

    func stop() { task?.cancel() }
}

final class SQAaaSServiceTests: XCTestCase {
    func testTheAssessmentIsAskedThroughThePublishedAPIAndItsOutputRead() async throws {
        let service = try await StandInSQAaaS.start()
        defer { service.stop() }
        let client = try SQAaaSClient(url: service.url, pollInterval: 0.05, deadline: 30)
        let report = try await client.assess(repo: "https://github.com/example/flood-twin", branch: "main")
        let id = service.pipelineID
        XCTAssertEqual(service.seen.calls, [
            "POST /v1/pipeline/assessment", "POST /v1/pipeline/\(id)/run",
            "GET /v1/pipeline/\(id)/status", "GET /v1/pipeline/\(id)/status",
            "GET /v1/pipeline/assessment/\(id)/output",
        ])
        let body = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((service.seen.bodies.first ?? "").utf8)) as? [String: Any])
        XCTAssertEqual((body["repo_code"] as? [String: String])?["repo"], "https://github.com/example/flood-twin")
        XCTAssertEqual((body["repo_code"] as? [String: String])?["branch"], "main")
        XCTAssertEqual(report.badgeStatus, .bronze, "silver misses QC.Sec in the service's badge criteria")
        XCTAssertFalse(report.isValid(.sec))
        XCTAssertEqual(report.findings(.sec), ["bandit found 3 high-severity issues"])
        XCTAssertEqual(report.report["QC.Lic"]?.subcriteria["QC.Lic01"]?.evidence.first?.tool?.name, "licensee")
    }

    func testTheBaseURLGetsV1WhenItIsMissing() throws {
        XCTAssertEqual(try SQAaaSClient(url: "https://api.sqaaas.eosc-synergy.eu").baseURL, "https://api.sqaaas.eosc-synergy.eu/v1")
        XCTAssertEqual(try SQAaaSClient(url: "https://api.sqaaas.eosc-synergy.eu/v1/").baseURL, "https://api.sqaaas.eosc-synergy.eu/v1")
        XCTAssertThrowsError(try SQAaaSClient(url: "ftp://x"))
    }

    func testAnOutputLargerThanTheLimitIsRefused() async throws {
        let service = try await StandInSQAaaS.start { $0.outputBytes = 9 << 20; $0.statuses = ["success"] }
        defer { service.stop() }
        do {
            _ = try await SQAaaSClient(url: service.url, pollInterval: 0.05).assess(repo: "https://github.com/example/flood-twin")
            XCTFail("a 9 MiB answer was accepted")
        } catch let e {
            XCTAssertTrue(e.message.contains("the answer is larger than 8192 KiB"), e.message)
        }
    }

    func testAPipelineThatNeverFinishesStopsAtTheDeadline() async throws {
        let service = try await StandInSQAaaS.start { $0.statuses = ["waiting_scan_org"] }
        defer { service.stop() }
        let start = Date()
        do {
            _ = try await SQAaaSClient(url: service.url, pollInterval: 0.1, deadline: 1).assess(repo: "https://github.com/example/flood-twin")
            XCTFail("no deadline")
        } catch let e {
            XCTAssertTrue(e.message.contains("did not finish within 1 s (last status: waiting_scan_org)"), e.message)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
    }

    func testAPipelineIdThatIsNotAnIdentifierIsNotPutInAPath() async throws {
        let service = try await StandInSQAaaS.start { $0.pipelineID = "../../admin" }
        defer { service.stop() }
        do {
            _ = try await SQAaaSClient(url: service.url, pollInterval: 0.05).assess(repo: "https://github.com/example/flood-twin")
            XCTFail("accepted")
        } catch let e {
            XCTAssertTrue(e.message.contains("not a plain identifier"), e.message)
        }
        XCTAssertEqual(service.seen.calls, ["POST /v1/pipeline/assessment"])
    }

    func testTheCommandAsksTheServiceWithSqaaas() async throws {
        let service = try await StandInSQAaaS.start { $0.statuses = ["success"] }
        defer { service.stop() }
        let r = try runDTE(["quality", "https://github.com/example/flood-twin", "--sqaaas", service.url, "--json"], in: NSTemporaryDirectory())
        XCTAssertEqual(r.status, 0, r.err)
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        XCTAssertEqual(o["badge_status"] as? String, "bronze")
        let folder = try runDTE(["quality", ".", "--sqaaas", service.url], in: NSTemporaryDirectory())
        XCTAssertEqual(folder.status, 64)
        XCTAssertTrue(folder.err.contains("--sqaaas needs a git URL"), folder.err)
    }
}
