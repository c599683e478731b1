import DTECompiler
import DTENotify
import DTETestSupport
import Foundation
import XCTest

final class NotifierTests: XCTestCase {
    var dir = ""
    let sha = "3f786850e387550fdab836ed7e6dc881de23001b"
    /// Fast retries for the tests: 3 attempts, 50 ms then 100 ms apart.
    let quick = RetryPolicy(attempts: 3, initialDelay: .milliseconds(50), maxDelay: .milliseconds(200), requestTimeout: .seconds(5))

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dte-notify-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Writes a secret file with the given mode; returns its name relative to `dir`.
    func secret(_ name: String, _ text: String, mode: Int = 0o600) throws -> SecretFile {
        let path = (dir as NSString).appendingPathComponent(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return SecretFile(name, root: dir)
    }

    func event(_ result: NotificationEvent.Result = .success, summary: String = "2 created, 1 unchanged") -> NotificationEvent {
        NotificationEvent(repository: "flood-twins", revision: sha, result: result, summary: summary,
                          conditions: [.init(subject: "repository", type: "Ready", from: "False", to: "True", reason: "Applied", message: "all twins match \(sha.prefix(7))")],
                          twins: [.init(twin: "twin.flood", result: result, message: "2 created")],
                          occurredAt: Date(timeIntervalSince1970: 1_800_000_000))
    }

    /// The HMAC-SHA256 of `body` under `key` as openssl computes it (an implementation other than the sink's).
    func opensslHMAC(_ body: Data, key: String) throws -> String {
        let file = (dir as NSString).appendingPathComponent("body-\(UUID().uuidString)")
        try body.write(to: URL(fileURLWithPath: file))
        let r = try runCommand(URL(fileURLWithPath: "/usr/bin/openssl"), ["dgst", "-sha256", "-hmac", key, "-r", file], in: dir)
        XCTAssertEqual(r.status, 0, r.err)
        return String(r.out.split(separator: " ").first ?? "")
    }

    func testWebhookSendsTheEventSignedWithHMACSHA256() async throws {
        let receiver = try await LoopbackReceiver.start()
        defer { receiver.stop() }
        let sink = WebhookSink(url: receiver.url + "/hooks/dte", secret: try secret("hook.secret", "s3cret-key\n"), policy: quick)
        let deliveries = await Notifier(sinks: [sink]).notify(event())
        XCTAssertEqual(deliveries.map(\.failure), [nil])
        let got = try XCTUnwrap(receiver.requests.first)
        XCTAssertEqual(receiver.requests.count, 1)
        XCTAssertEqual(got.path, "/hooks/dte")
        XCTAssertEqual(got.headers["content-type"], "application/json")
        // The trailing newline of the file is not part of the key.
        XCTAssertEqual(got.headers["x-dte-signature"], "sha256=" + (try opensslHMAC(got.body, key: "s3cret-key")))
        XCTAssertNotEqual(got.headers["x-dte-signature"], "sha256=" + (try opensslHMAC(got.body, key: "other-key")))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: got.body) as? [String: Any])
        XCTAssertEqual(json["revision"] as? String, sha)
        XCTAssertEqual(json["result"] as? String, "success")
        XCTAssertEqual(json["repository"] as? String, "flood-twins")
        XCTAssertEqual(json["occurred_at"] as? String, "2027-01-15T08:00:00Z")
        let twins = try XCTUnwrap(json["twins"] as? [[String: Any]])
        XCTAssertEqual(twins.first?["twin"] as? String, "twin.flood")
        let conditions = try XCTUnwrap(json["conditions"] as? [[String: Any]])
        XCTAssertEqual(conditions.first?["type"] as? String, "Ready")
        XCTAssertEqual(conditions.first?["to"] as? String, "True")
        // The receiver can decode it back into the same event.
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        XCTAssertEqual(try d.decode(NotificationEvent.self, from: got.body), event())
        XCTAssertFalse(String(decoding: got.body, as: UTF8.self).contains("s3cret"))
    }

    func testWebhookIsRetriedAfterA503AndArrives() async throws {
        let receiver = try await LoopbackReceiver.start(answers: [503])
        defer { receiver.stop() }
        let sink = WebhookSink(url: receiver.url + "/hook", secret: try secret("s", "k"), policy: quick)
        let started = ContinuousClock.now
        let deliveries = await Notifier(sinks: [sink]).notify(event())
        XCTAssertEqual(deliveries.map(\.failure), [nil])
        let got = receiver.requests
        XCTAssertEqual(got.count, 2, "one 503, then delivered")
        XCTAssertEqual(got.first?.body, got.last?.body)
        XCTAssertEqual(got.first?.headers["x-dte-signature"], got.last?.headers["x-dte-signature"])
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(50), "the retry waited for the backoff")
    }

    func testWebhookIsNotRetriedAfterA400() async throws {
        let receiver = try await LoopbackReceiver.start(answers: [400, 201])
        defer { receiver.stop() }
        let sink = WebhookSink(url: receiver.url + "/hook", secret: try secret("s", "k"), policy: quick)
        let deliveries = await Notifier(sinks: [sink]).notify(event())
        XCTAssertEqual(receiver.requests.count, 1)
        let failure = try XCTUnwrap(deliveries.first?.failure)
        XCTAssertTrue(failure.contains("400"), failure)
        XCTAssertTrue(failure.contains("not retried"), failure)
    }

    func testWebhookGivesUpAfterItsAttemptsWithBackoff() async throws {
        let receiver = try await LoopbackReceiver.start(answers: [500, 502, 503, 201])
        defer { receiver.stop() }
        let sink = WebhookSink(url: receiver.url + "/hook", secret: try secret("s", "k"), policy: quick)
        let started = ContinuousClock.now
        let deliveries = await Notifier(sinks: [sink]).notify(event())
        XCTAssertEqual(receiver.requests.count, 3, "3 attempts, no more")
        let failure = try XCTUnwrap(deliveries.first?.failure)
        XCTAssertTrue(failure.contains("503") && failure.contains("gave up after 3 attempts"), failure)
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(150), "waited 50 ms, then 100 ms")
        XCTAssertEqual(quick.delay(afterAttempt: 1), .milliseconds(50))
        XCTAssertEqual(quick.delay(afterAttempt: 2), .milliseconds(100))
        XCTAssertEqual(quick.delay(afterAttempt: 5), .milliseconds(200), "capped at maxDelay")
    }

    func testAnUnreachableWebhookIsRetriedAndReported() async throws {
        // A port that was just free: nothing listens on it.
        let receiver = try await LoopbackReceiver.start()
        let url = receiver.url
        receiver.stop()
        try await Task.sleep(for: .milliseconds(200))
        var policy = quick
        policy.requestTimeout = .seconds(1)
        let sink = WebhookSink(url: url + "/hook", secret: try secret("s", "k"), policy: policy)
        let deliveries = await Notifier(sinks: [sink]).notify(event())
        let failure = try XCTUnwrap(deliveries.first?.failure)
        XCTAssertTrue(failure.contains("cannot reach") && failure.contains("gave up after 3 attempts"), failure)
    }

    func testASecretFileOthersCanReadIsRefusedAndNothingIsSent() async throws {
        let receiver = try await LoopbackReceiver.start()
        defer { receiver.stop() }
        let sink = WebhookSink(url: receiver.url + "/hook", secret: try secret("open.secret", "top-secret-value", mode: 0o644), policy: quick)
        let deliveries = await Notifier(sinks: [sink]).notify(event())
        let failure = try XCTUnwrap(deliveries.first?.failure)
        XCTAssertTrue(failure.contains("open.secret") && failure.contains("mode 644") && failure.contains("chmod 600"), failure)
        XCTAssertFalse(failure.contains("top-secret-value"))
        XCTAssertEqual(receiver.requests.count, 0)

        let missing = WebhookSink(url: receiver.url + "/hook", secret: SecretFile("nope.secret", root: dir), policy: quick)
        let m = await Notifier(sinks: [missing]).notify(event())
        XCTAssertTrue(m.first?.failure?.contains("cannot read the webhook secret file nope.secret") ?? false, "\(m)")
    }

    func testGitHubCommitStatusPayload() async throws {
        let receiver = try await LoopbackReceiver.start()
        defer { receiver.stop() }
        let sink = GitHubStatusSink(api: receiver.url + "/", repository: "example/flood-twins", token: try secret("gh.token", "ghp_abc123\n"),
                                    context: "dte/reconcile", targetURL: "https://ci.example.org/run/7", policy: quick)
        let long = String(repeating: "twin.flood failed; ", count: 20)
        let deliveries = await Notifier(sinks: [sink]).notify(event(.error, summary: long))
        XCTAssertEqual(deliveries.map(\.failure), [nil])
        let got = try XCTUnwrap(receiver.requests.first)
        XCTAssertEqual(got.path, "/repos/example/flood-twins/statuses/\(sha)")
        XCTAssertEqual(got.headers["authorization"], "Bearer ghp_abc123")
        XCTAssertEqual(got.headers["accept"], "application/vnd.github+json")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: got.body) as? [String: String])
        XCTAssertEqual(Set(json.keys), ["state", "target_url", "description", "context"])
        XCTAssertEqual(json["state"], "error")
        XCTAssertEqual(json["context"], "dte/reconcile")
        XCTAssertEqual(json["target_url"], "https://ci.example.org/run/7")
        let description = try XCTUnwrap(json["description"])
        XCTAssertEqual(description.count, 140)
        XCTAssertTrue(description.hasPrefix("twin.flood failed; ") && description.hasSuffix("…"), description)
        XCTAssertEqual(NotificationEvent.Result.allCases.map(GitHubStatusSink.state), ["pending", "pending", "success", "failure", "error"])
    }

    func testGitLabCommitStatusPayload() async throws {
        let receiver = try await LoopbackReceiver.start()
        defer { receiver.stop() }
        let sink = GitLabStatusSink(api: receiver.url + "/api/v4", project: "hpc/flood-twins", token: try secret("gl.token", "glpat-xyz"),
                                    policy: quick)
        let deliveries = await Notifier(sinks: [sink]).notify(event(.failure, summary: "twin.flood: 1 job failed"))
        XCTAssertEqual(deliveries.map(\.failure), [nil])
        let got = try XCTUnwrap(receiver.requests.first)
        XCTAssertEqual(got.path, "/api/v4/projects/hpc%2Fflood-twins/statuses/\(sha)")
        XCTAssertEqual(got.headers["private-token"], "glpat-xyz")
        XCTAssertNil(got.headers["authorization"])
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: got.body) as? [String: String])
        XCTAssertEqual(json, ["state": "failed", "name": "dte", "description": "twin.flood: 1 job failed"])
        XCTAssertEqual(NotificationEvent.Result.allCases.map(GitLabStatusSink.state), ["pending", "running", "success", "failed", "failed"])
    }

    func testCommitStatusesNeedACommitSHAAndATokenWithoutControlCharacters() async throws {
        let receiver = try await LoopbackReceiver.start()
        defer { receiver.stop() }
        let gh = GitHubStatusSink(api: receiver.url, repository: "o/r", token: try secret("t", "abc"), policy: quick)
        var e = event()
        e.revision = "../../admin"
        let r = await Notifier(sinks: [gh]).notify(e)
        XCTAssertTrue(r.first?.failure?.contains("is not a commit SHA") ?? false, "\(r)")
        let split = GitLabStatusSink(api: receiver.url, project: "1", token: try secret("t2", "abc\nX-Injected: 1"), policy: quick)
        let r2 = await Notifier(sinks: [split]).notify(event())
        XCTAssertTrue(r2.first?.failure?.contains("characters a token cannot have") ?? false, "\(r2)")
        XCTAssertEqual(receiver.requests.count, 0)
    }

    func testNotifierReportsEverySinkAndNeverThrows() async throws {
        let good = try await LoopbackReceiver.start()
        let bad = try await LoopbackReceiver.start(answers: [401])
        defer { good.stop(); bad.stop() }
        let settings = [
            RepositoryConfig.NotificationSetting(kind: .webhook, url: good.url + "/hook", secretFile: "s"),
            RepositoryConfig.NotificationSetting(kind: .github, url: bad.url, tokenFile: "t", repository: "o/r"),
        ]
        _ = try secret("s", "k")
        _ = try secret("t", "tok")
        let deliveries = await Notifier(settings: settings, root: dir, policy: { _ in self.quick }).notify(event())
        XCTAssertEqual(deliveries.count, 2)
        XCTAssertNil(deliveries[0].failure)
        XCTAssertTrue(deliveries[1].sink == "github o/r" && (deliveries[1].failure?.contains("401") ?? false), "\(deliveries)")
        XCTAssertEqual(good.requests.count, 1)
        XCTAssertEqual(bad.requests.count, 1, "a 401 is not retried")
    }

    func testOnlyResultsAndChangesAreWorthSending() {
        let first = event()
        XCTAssertTrue(first.isWorthSending(after: nil))
        var same = first
        same.conditions = []
        same.occurredAt = Date()
        XCTAssertFalse(same.isWorthSending(after: first), "the same result on the next tick is not sent again")
        var failed = same
        failed.result = .failure
        XCTAssertTrue(failed.isWorthSending(after: same))
        var moved = same
        moved.revision = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        XCTAssertTrue(moved.isWorthSending(after: same))
        var twin = same
        twin.twins[0].result = .failure
        XCTAssertTrue(twin.isWorthSending(after: same))
        XCTAssertTrue(first.isWorthSending(after: same), "condition changes are sent")
    }
}
