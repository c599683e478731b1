import DTETestSupport
import Foundation
import XCTest

/// Hooks as a reviewer and CI meet them through `dte plan` and `dte apply`.
final class HookCLITests: XCTestCase {
    /// The demo twin and the local site, with an external pre-apply hook that answers `verdict`.
    func repository(verdict: String) throws -> ScratchRepository {
        let hook = """
            #!/bin/sh
            cat > /dev/null
            echo '{"verdict": "\(verdict)", "summary": "site policy says \(verdict)", "remedy": "ask the site admins"}'
            """
        let repo = try ScratchRepository([
            "templates/demo.yaml": try String(contentsOfFile: repositoryRoot + "/templates/demo.yaml", encoding: .utf8),
            "sites/local.yaml": try String(contentsOfFile: repositoryRoot + "/sites/local.yaml", encoding: .utf8),
            "hooks/site-policy": hook,
        ], config: """
            version: 1
            hooks:
              site-policy:
                command: [hooks/site-policy]
                phases: [pre-apply]
                blocking: true
            """)
        chmod(repo.root + "/hooks/site-policy", 0o755)
        return repo
    }

    func testAFailingBlockingHookShowsInThePlanAndRefusesApplyBeforeAnySiteIsTouched() throws {
        let repo = try repository(verdict: "fail")
        defer { repo.remove() }
        let state = repo.root + "/state.db"
        let text = try runDTE(["plan", "--refresh=false", "--state", state], in: repo.root)
        XCTAssertEqual(text.status, 0, text.out + text.err)
        XCTAssertTrue(text.out.contains("site-policy"), text.out)
        XCTAssertTrue(text.out.contains("site policy says fail"), text.out)
        XCTAssertTrue(text.out.contains("Apply is refused"), text.out)

        let json = try runDTE(["plan", "--refresh=false", "--state", state, "--json"], in: repo.root)
        let plan = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any], json.out + json.err)
        XCTAssertEqual((plan["summary"] as? [String: Any])?["blocked"] as? Bool, true, json.out)

        // The agent's endpoint is never reached: apply stops at the hook and records nothing.
        let apply = try runDTE(["apply", "--auto-approve", "--refresh=false", "--state", state, "--agent", "local=http://127.0.0.1:9"],
                               in: repo.root)
        XCTAssertNotEqual(apply.status, 0, apply.out + apply.err)
        XCTAssertTrue((apply.out + apply.err).contains("site-policy"), apply.out + apply.err)
        let list = try runDTE(["state", "list", "--state", state], in: repo.root)
        XCTAssertTrue(list.out.contains("0 resources"), list.out + list.err)
    }

    func testAPassingHookShowsAsPassedAndDoesNotBlock() throws {
        let repo = try repository(verdict: "pass")
        defer { repo.remove() }
        let json = try runDTE(["plan", "--refresh=false", "--state", repo.root + "/state.db", "--json"], in: repo.root)
        let plan = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any], json.out + json.err)
        XCTAssertEqual((plan["summary"] as? [String: Any])?["blocked"] as? Bool, false, json.out)
        let hooks = plan["hooks"] as? [[String: Any]] ?? []
        XCTAssertTrue(hooks.contains { $0["name"] as? String == "site-policy" && $0["verdict"] as? String == "pass" }, json.out)
    }
}
