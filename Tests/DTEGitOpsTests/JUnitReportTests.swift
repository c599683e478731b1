import DTEModel
import DTEPlanner
import DTETestSupport
import DTEViews
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

final class JUnitReportTests: XCTestCase {
    func attribute(_ e: XMLElement?, _ name: String) -> String? { e?.attribute(forName: name)?.stringValue }

    func testHookResultsBecomeSuitesCasesFailuresAndSkips() throws {
        let hostile = "<tag attr=\"x\"> & 'quotes' ]]> \u{1}bell\u{7}\nline two\ttab"
        let hooks = [
            HookResult(name: "quality", phase: .prePlan, verdict: .pass, blocking: true, summary: "all levels met", subject: "twin.flood"),
            HookResult(name: "allocation", phase: .prePlan, verdict: .warn, blocking: false, summary: "84% of vega/flood-dt used",
                       evidence: [HookEvidence(check: "core-hours", passed: true, detail: "16 of 100 left")], remedy: "ask for more"),
            HookResult(name: "site-policy", phase: .preApply, verdict: .fail, blocking: true, summary: hostile,
                       evidence: [HookEvidence(check: "gpu-weekend", passed: false, detail: "Saturday")], remedy: "wait until Monday"),
            HookResult(name: "notify", phase: .preApply, verdict: .fail, blocking: false, summary: "non-blocking"),
        ]
        var bad = Diagnostic(.error, code: "unknown-key", "unknown key \"sitez\"", hint: "did you mean \"sites\"?", file: "templates/a.yaml",
                             mark: Mark(line: 3, column: 5), path: "topology_template.sitez")
        bad.message += " <here>"
        let diagnostics = [bad, Diagnostic(.warning, code: "unused", "a warning is not a test case")]
        let xml = JUnitView(hooks: hooks, diagnostics: diagnostics, timestamp: Date(timeIntervalSince1970: 0)).render()

        let doc = try XMLDocument(xmlString: xml, options: [])
        let root = try XCTUnwrap(doc.rootElement())
        XCTAssertEqual(root.name, "testsuites")
        XCTAssertEqual(attribute(root, "tests"), "5")
        XCTAssertEqual(attribute(root, "failures"), "3")
        XCTAssertEqual(attribute(root, "skipped"), "1")
        let suites = root.elements(forName: "testsuite")
        XCTAssertEqual(suites.map { attribute($0, "name") }, ["dte.hooks.pre-plan", "dte.hooks.pre-apply", "dte.diagnostics"])
        XCTAssertEqual(suites.map { attribute($0, "tests") }, ["2", "2", "1"])
        XCTAssertEqual(suites.map { attribute($0, "failures") }, ["0", "2", "1"])

        let prePlan = suites[0].elements(forName: "testcase")
        XCTAssertEqual(attribute(prePlan[0], "name"), "quality: twin.flood")
        XCTAssertTrue(prePlan[0].elements(forName: "failure").isEmpty && prePlan[0].elements(forName: "skipped").isEmpty, "pass is a plain case")
        let warn = prePlan[1]
        XCTAssertEqual(attribute(warn.elements(forName: "skipped").first, "message"), "warn: 84% of vega/flood-dt used")
        let props = warn.elements(forName: "properties").first?.elements(forName: "property") ?? []
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: props.compactMap { p in attribute(p, "name").map { ($0, attribute(p, "value") ?? "") } })["verdict"], "warn")

        let failing = suites[1].elements(forName: "testcase")
        let failure = try XCTUnwrap(failing[0].elements(forName: "failure").first)
        XCTAssertEqual(attribute(failure, "message"), "<tag attr=\"x\"> & 'quotes' ]]> \u{FFFD}bell\u{FFFD}\nline two\ttab", "escaped, and back exactly")
        XCTAssertEqual(attribute(failure, "type"), "blocking")
        XCTAssertTrue(failure.stringValue?.contains("FAIL gpu-weekend: Saturday") ?? false)
        XCTAssertTrue(failure.stringValue?.contains("remedy: wait until Monday") ?? false)
        XCTAssertEqual(attribute(failing[1].elements(forName: "failure").first, "type"), "non-blocking")

        let diag = try XCTUnwrap(suites[2].elements(forName: "testcase").first)
        XCTAssertEqual(attribute(diag, "name"), "templates/a.yaml:3:5 unknown-key")
        XCTAssertEqual(attribute(diag.elements(forName: "failure").first, "message"), "unknown key \"sitez\" <here>")
    }

    func testNoHooksIsAnEmptyReport() throws {
        let doc = try XMLDocument(xmlString: JUnitView(hooks: [], diagnostics: []).render(), options: [])
        XCTAssertEqual(doc.rootElement()?.attribute(forName: "tests")?.stringValue, "0")
        XCTAssertEqual(doc.rootElement()?.elements(forName: "testsuite").count, 0)
    }

    /// `dte plan --junit` on a repository with external hooks: the report is written next to the plan.
    func testPlanWritesTheHookResultsAsJUnit() throws {
        let dir = NSTemporaryDirectory() + "dte-junit-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        XCTAssertEqual(try runDTE(["init", dir], in: dir).status, 0)
        let yaml = (dir as NSString).appendingPathComponent("dte.yaml")
        var text = try String(contentsOfFile: yaml, encoding: .utf8)
        text += """

            hooks:
              budget-check:
                command: [ /bin/sh, -c, 'echo "{\\"verdict\\": \\"warn\\", \\"summary\\": \\"budget at 85% & rising\\"}"' ]
                phases: [ pre-plan ]
                blocking: false
              weekend-check:
                command: [ /bin/sh, -c, 'echo "{\\"verdict\\": \\"fail\\", \\"summary\\": \\"no GPUs on <Saturday>\\", \\"remedy\\": \\"wait\\"}"' ]
                phases: [ pre-apply ]
                blocking: true

            """
        try Data(text.utf8).write(to: URL(fileURLWithPath: yaml))
        let r = try runDTE(["plan", "--refresh=false", "--junit", "reports/hooks.xml"], in: dir)
        // The report's folder does not exist: a clear error, not a crash.
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("cannot write the JUnit report to reports/hooks.xml"), r.err)

        let p = try runDTE(["plan", "--refresh=false", "--junit", "hooks.xml"], in: dir)
        XCTAssertTrue(p.out.contains("budget-check"), p.out + p.err)
        let doc = try XMLDocument(contentsOf: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("hooks.xml")), options: [])
        let suites = doc.rootElement()?.elements(forName: "testsuite") ?? []
        XCTAssertEqual(suites.compactMap { attribute($0, "name") }, ["dte.hooks.pre-plan", "dte.hooks.pre-apply"])
        let warn = suites.first?.elements(forName: "testcase").first
        XCTAssertEqual(attribute(warn, "name"), "budget-check")
        XCTAssertEqual(attribute(warn?.elements(forName: "skipped").first, "message"), "warn: budget at 85% & rising")
        let fail = suites.last?.elements(forName: "testcase").first?.elements(forName: "failure").first
        XCTAssertEqual(attribute(fail, "message"), "no GPUs on <Saturday>")
        XCTAssertEqual(attribute(fail, "type"), "blocking")
    }
}
