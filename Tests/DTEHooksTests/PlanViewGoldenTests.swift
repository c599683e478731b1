import DTEApply
import DTEHooks
import DTEModel
import DTEPlanner
import DTEViews
import Foundation
import XCTest

/// The plan formats as users and machines read them, against committed golden files
/// (Tests/DTEHooksTests/Golden). `DTE_UPDATE_GOLDEN=1 swift test --filter PlanViewGoldenTests`
/// rewrites them; review the diff before committing.
final class PlanViewGoldenTests: XCTestCase {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    func check(_ text: String, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = Self.golden.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["DTE_UPDATE_GOLDEN"] == "1" {
            try text.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        if text != expected {
            let a = text.split(separator: "\n", omittingEmptySubsequences: false), b = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let first = Array(zip(a, b)).firstIndex { $0.0 != $0.1 } ?? min(a.count, b.count)
            XCTFail("\(name) differs from the golden file at line \(first + 1):\n  got:      \(first < a.count ? String(a[first]) : "<end>")\n  expected: \(first < b.count ? String(b[first]) : "<end>")",
                    file: file, line: line)
        }
    }

    /// A plan with a create, a delete, hook results of every verdict and a not-enforced warning.
    func samplePlan() async throws -> Plan {
        let policies = """
            - flood-budget:
                type: dte.policies.Allocation
                properties: { core_hours: 20000, gpu_hours: 800 }
                targets: [ flood ]

        """
        let repo = try Repo(["sites/vega.yaml": siteFile(core: 12_400, gpu: 310), "templates/flood.yaml": twinFile(policies: policies)])
        defer { repo.remove() }
        try repo.write("templates/prep.yaml", """
            tosca_definitions_version: tosca_simple_yaml_1_3
            imports: [ dte/types.yaml ]
            topology_template:
              node_templates:
                flood-prep:
                  type: dte.nodes.BatchJob
                  properties: { image: docker://x:1, cpus: 4, walltime: 30 m, runtime: apptainer }
                  requirements: [ { twin: flood } ]

            """)
        let old = try repo.record("twin.flood.flood-prep")
        try FileManager.default.removeItem(atPath: repo.root + "/templates/prep.yaml")
        var (plan, c) = try repo.plan(state: [old])
        let (pipeline, _) = HookConfiguration.pipeline(model: c.model, config: c.config, root: repo.root)
        plan.hooks = await pipeline.run(HookInput(phase: .preApply, plan: plan, repositoryRoot: repo.root))
        plan.hooks.insert(HookResult(name: "quality", phase: .prePlan, verdict: .warn, blocking: false,
                                     summary: "flood reaches bronze, the policy asks silver (not enforced: enforce is false)",
                                     evidence: [HookEvidence(check: "QC.Lic", passed: true, detail: "LICENSE: Apache-2.0"),
                                                HookEvidence(check: "QC.Ver", passed: false, detail: "no SemVer release tag")],
                                     remedy: "tag a release such as v1.0.0", subject: "twin.flood"), at: 0)
        plan.hooks.append(HookResult(name: "site-policy", phase: .preApply, verdict: .fail, blocking: true,
                                     summary: "flood-model asks 2 GPUs | on a weekend <b>",
                                     evidence: [HookEvidence(check: "gpu-weekend", passed: false, detail: "Saturday")],
                                     remedy: "wait until Monday"))
        plan.diagnostics.append(Diagnostic(.warning, code: "not-enforced",
                                           "policy \"flood-weekly\" (dte.policies.Schedule) is declared but nothing runs schedules yet",
                                           hint: "know that the schedule has no effect until the loop runs it", file: "templates/flood.yaml",
                                           mark: Mark(line: 20, column: 7)))
        return plan
    }

    func testHumanPlanShowsEveryHookResultAndWhatBlocks() async throws {
        let text = PlanView(plan: try await samplePlan()).text()
        try check(text, "plan.txt")
        XCTAssertTrue(text.contains("  ✗ fail site-policy (pre-apply, blocking): flood-model asks 2 GPUs | on a weekend <b>\n"), text)
        XCTAssertTrue(text.contains("Apply is refused: blocking hook site-policy failed."), text)
        XCTAssertTrue(text.contains("predicted 16 core-h, 4 GPU-h; left on vega for flood-dt 12,398 / 310"), text)
        XCTAssertTrue(text.contains("templates/flood.yaml:20:7: warning: policy \"flood-weekly\""), text)
    }

    func testMarkdownPlanIsTheGoldenFile() async throws {
        let md = PlanView(plan: try await samplePlan()).markdown()
        try check(md, "plan.md")
        XCTAssertTrue(md.contains("> :no_entry: **Apply is refused:** blocking hook `site-policy` failed."), md)
        XCTAssertTrue(md.contains("flood-model asks 2 GPUs \\| on a weekend &lt;b&gt;"), "hook text cannot break the table or inject HTML:\n\(md)")
    }

    func testJSONPlanIsTheGoldenFileAndTheDocumentedSchema() async throws {
        let json = PlanView(plan: try await samplePlan()).json()
        try check(json, "plan.json")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual(object["format_version"] as? String, "1.0")
        XCTAssertEqual(Set(object.keys), ["format_version", "created_at", "state", "source", "sites_in_scope", "refreshed", "summary",
                                          "predicted_use", "changes", "drift", "outputs", "hooks", "diagnostics"])
        let summary = try XCTUnwrap(object["summary"] as? [String: Any])
        XCTAssertEqual(summary["blocked"] as? Bool, true)
        let hooks = try XCTUnwrap(object["hooks"] as? [[String: Any]])
        XCTAssertEqual(hooks.map { $0["name"] as? String }, ["quality", "allocation", "allocation", "site-policy"])
        XCTAssertEqual(hooks.map { $0["verdict"] as? String }, ["warn", "pass", "pass", "fail"])
        // what the JSON says is what the plan holds: it decodes back to the same document
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let again = PlanDocument(try await samplePlan())
        XCTAssertEqual(try decoder.decode(PlanDocument.self, from: Data(json.utf8)), again)
    }

    func testANoChangePlanStillShowsItsHooksAndWarnings() async throws {
        var plan = try await samplePlan()
        plan.changes = plan.changes.map { var c = $0; c.action = .noop; return c }
        let text = PlanView(plan: plan).text()
        XCTAssertTrue(text.hasPrefix("No changes."), text)
        XCTAssertTrue(text.contains("Hooks:\n"), text)
        XCTAssertTrue(text.contains("warning: policy \"flood-weekly\""), text)
        let md = PlanView(plan: plan).markdown()
        XCTAssertTrue(md.contains("#### Hooks"), md)
        XCTAssertTrue(md.contains(":warning: **warning:**"), md)
    }

    func testMarkdownStaysWithinItsLimitWithThousandsOfHookResults() async throws {
        var plan = try await samplePlan()
        plan.hooks = (0..<5000).map { HookResult(name: "h\($0)", phase: .preApply, verdict: .warn, blocking: false, summary: String(repeating: "x", count: 300)) }
        let md = PlanView(plan: plan).markdown(limit: 60_000)
        XCTAssertLessThanOrEqual(md.utf8.count, 60_000)
        XCTAssertTrue(md.contains("more hook results (see `dte plan`)"), String(md.suffix(500)))
    }
}
