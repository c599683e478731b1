import DTECompiler
import DTETestSupport
import Foundation
import XCTest

/// dte.yaml's `notifications:` list, as `dte validate` reports it and `dte notify test` uses it.
final class NotificationConfigTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dte-notify-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        XCTAssertEqual(try runDTE(["init", dir], in: dir).status, 0)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func addToConfig(_ yaml: String) throws {
        let path = (dir as NSString).appendingPathComponent("dte.yaml")
        let text = try String(contentsOfFile: path, encoding: .utf8) + "\n" + yaml
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    func write(_ name: String, _ text: String, mode: Int = 0o600) throws {
        let path = (dir as NSString).appendingPathComponent(name)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    func testValidSinksLoad() throws {
        try addToConfig("""
            notifications:
              - type: webhook
                url: https://chat.example.org/hooks/dte
                secret_file: .dte/webhook.secret
                max_attempts: 6
              - type: github
                repository: example/flood-twins
                token_file: .dte/github.token
                context: dte/reconcile
              - type: gitlab
                url: https://gitlab.example.org/api/v4
                project: hpc/flood-twins
                token_file: ~/.config/dte/gitlab.token
                target_url: https://dashboard.example.org/flood
            """)
        let (config, diagnostics) = RepositoryConfig.load(root: dir, display: "dte.yaml")
        XCTAssertEqual(diagnostics.map(\.message), [])
        XCTAssertEqual(config.notifications.map(\.kind), [.webhook, .github, .gitlab])
        XCTAssertEqual(config.notifications[0].attempts, 6)
        XCTAssertEqual(config.notifications[1].url, "https://api.github.com")
        XCTAssertEqual(config.notifications[1].context, "dte/reconcile")
        XCTAssertEqual(config.notifications[2].project, "hpc/flood-twins")
        XCTAssertEqual(config.notifications[2].targetURL, "https://dashboard.example.org/flood")
        let v = try runDTE(["validate"], in: dir)
        XCTAssertEqual(v.status, 0, v.out)
    }

    func testMistakesAreLocatedErrorsInValidate() throws {
        try addToConfig("""
            notifications:
              - type: webhok
                url: https://x.example.org
              - type: webhook
                url: https://user:pw@x.example.org/hook
                secret_file: s
              - type: github
                repository: not a repo
                token_file: t
                secret_file: s
              - type: gitlab
                url: https://gitlab.example.org/api/v4
                project: "1"
              - type: webhook
                url: https://x.example.org
                secret_file: s
                max_attempts: 1000
            """)
        let v = try runDTE(["validate"], in: dir)
        XCTAssertEqual(v.status, 1, v.out)
        let base = try String(contentsOfFile: (dir as NSString).appendingPathComponent("dte.yaml"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).firstIndex(of: "notifications:").map { $0 + 1 } ?? 0
        XCTAssertGreaterThan(base, 0)
        for (line, text) in [
            (base + 1, "notifications[0].type: \"webhok\" is not a notification type"),
            (base + 4, "notifications[1].url must be an http or https URL with a host and no credentials"),
            (base + 7, "notifications[2].repository must be owner/name"),
            (base + 9, "notifications[2].secret_file is not used by a github sink"),
            (base + 10, "notifications[3]: a gitlab sink needs token_file"),
            (base + 16, "notifications[4].max_attempts must be a whole number from 1 to 10"),
        ] {
            XCTAssertTrue(v.out.contains("dte.yaml:\(line):") && v.out.contains(text), "expected at line \(line): \(text)\n\(v.out)")
        }
        XCTAssertTrue(v.out.contains("did you mean \"webhook\"?"), v.out)
    }

    func testNotifyTestSendsToEverySinkAndSaysWhichFailed() async throws {
        let hook = try await LoopbackReceiver.start()
        let github = try await LoopbackReceiver.start(answers: [422])
        defer { hook.stop(); github.stop() }
        try write(".dte/webhook.secret", "k3y\n")
        try write(".dte/github.token", "ghp_test\n")
        try addToConfig("""
            notifications:
              - type: webhook
                url: \(hook.url)/dte
                secret_file: .dte/webhook.secret
                max_attempts: 1
            """)
        let sha = String(repeating: "ab", count: 20)
        let ok = try runDTE(["notify", "test", "--revision", sha, "--result", "success"], in: dir)
        XCTAssertEqual(ok.status, 0, ok.out + ok.err)
        XCTAssertTrue(ok.out.contains("ok      webhook http://127.0.0.1") && ok.out.contains("1 of 1 sink got the test event"), ok.out)
        let body = try XCTUnwrap(hook.requests.first?.body)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: body) as? [String: Any])
        XCTAssertEqual(json["revision"] as? String, sha)
        XCTAssertEqual(json["result"] as? String, "success")
        XCTAssertTrue((json["summary"] as? String)?.contains("Test notification") ?? false)
        XCTAssertNotNil(hook.requests.first?.headers["x-dte-signature"])

        try addToConfig("""
              - type: github
                url: \(github.url)
                repository: example/twins
                token_file: .dte/github.token
            """)
        let failed = try runDTE(["notify", "test", "--revision", sha], in: dir)
        XCTAssertEqual(failed.status, 1, failed.out)
        XCTAssertTrue(failed.out.contains("FAILED  github example/twins") && failed.out.contains("422"), failed.out)
        XCTAssertTrue(failed.out.contains("1 of 2 sinks got the test event"), failed.out)
        XCTAssertFalse(failed.out.contains("ghp_test") || failed.err.contains("ghp_test"), "the token is never printed")
        XCTAssertEqual(github.requests.first?.path, "/repos/example/twins/statuses/\(sha)")
    }

    func testNotifyTestRefusesAnOpenSecretFileAndAMissingList() throws {
        let none = try runDTE(["notify", "test"], in: dir)
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.err.contains("no notifications: list"), none.err)

        try write(".dte/webhook.secret", "k3y", mode: 0o640)
        try addToConfig("""
            notifications:
              - type: webhook
                url: http://127.0.0.1:9/dte
                secret_file: .dte/webhook.secret
            """)
        let r = try runDTE(["notify", "test", "--revision", "abc1234"], in: dir)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.out.contains(".dte/webhook.secret") && r.out.contains("chmod 600"), r.out)
        XCTAssertFalse(r.out.contains("k3y"))
    }

    /// The loop and the sinks together: `dte reconcile --once` of the scaffolded repository (manual
    /// sync: a plan with changes, nothing applied) sends the webhook one signed event; a second
    /// tick that changes nothing sends none.
    func testReconcileSendsOneSignedEventPerResultNotOnePerTick() async throws {
        let receiver = try await LoopbackReceiver.start()
        defer { receiver.stop() }
        try write(".dte/webhook.secret", "reconcile-secret\n")
        try addToConfig("notifications:\n  - type: webhook\n    url: \(receiver.url)/hooks/dte\n    secret_file: .dte/webhook.secret\n")
        let state = dir + "/reconcile.db"
        let first = try runDTE(["reconcile", "--once", "--local", "-C", dir, "--state", state], in: dir)
        XCTAssertEqual(first.status, 0, first.out + first.err)
        XCTAssertEqual(receiver.requests.count, 1, first.err)
        let sent = try XCTUnwrap(receiver.requests.first)
        XCTAssertEqual(sent.path, "/hooks/dte")
        let event = try XCTUnwrap(try JSONSerialization.jsonObject(with: sent.body) as? [String: Any])
        XCTAssertEqual(event["result"] as? String, "pending", "manual sync: planned, not applied")
        XCTAssertTrue((event["summary"] as? String)?.hasPrefix("planned") == true, "\(event)")
        XCTAssertFalse((event["revision"] as? String ?? "").isEmpty)
        let file = dir + "/received.json"
        try sent.body.write(to: URL(fileURLWithPath: file))
        let hmac = try runCommand(URL(fileURLWithPath: "/usr/bin/openssl"), ["dgst", "-sha256", "-hmac", "reconcile-secret", "-r", file], in: dir)
        XCTAssertEqual(sent.headers["x-dte-signature"], "sha256=" + String(hmac.out.prefix(64)))
        XCTAssertFalse(first.err.contains("reconcile-secret") || first.out.contains("reconcile-secret"), "the secret is never shown")

        let second = try runDTE(["reconcile", "--once", "--local", "-C", dir, "--state", state], in: dir)
        XCTAssertEqual(second.status, 0, second.out + second.err)
        XCTAssertEqual(receiver.requests.count, 1, "nothing changed: no second notification")
    }

}
