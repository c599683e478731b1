import DTEApply
import DTECompiler
import DTEHooks
import DTEPlanner
import DTEState
import Foundation
import XCTest

/// The allocation gate on real plans (compiled repository, real planner): pass, warn and fail with
/// the numbers a user reads in the plan.
final class AllocationHookTests: XCTestCase {
    func gate(_ repo: Repo, state: [ResourceRecord] = [], held: [String: AllocationUse]? = nil) async throws -> [HookResult] {
        let (plan, c) = try repo.plan(state: state)
        let (pipeline, diags) = HookConfiguration.pipeline(model: c.model, config: c.config, root: repo.root, held: held)
        XCTAssertEqual(diags, [])
        return await pipeline.run(HookInput(phase: .preApply, plan: plan, repositoryRoot: repo.root))
    }

    /// No policy: dte.yaml turns the hook on.
    static let enabled = "version: 1\nhooks:\n  allocation: {}\n"

    let budget = """
        - flood-budget:
            type: dte.policies.Allocation
            properties: { core_hours: 20000, gpu_hours: 800 }
            targets: [ flood ]

    """

    func testWithRoomLeftThePlanPassesAndShowsBothNumbers() async throws {
        let repo = try Repo(["sites/vega.yaml": siteFile(core: 12_400, gpu: 310), "templates/flood.yaml": twinFile(policies: budget)])
        defer { repo.remove() }
        let results = try await gate(repo)
        XCTAssertEqual(results.map(\.verdict), [.pass, .pass])
        XCTAssertEqual(results[0].subject, "vega/flood-dt")
        XCTAssertEqual(results[0].summary, "predicted 16 core-h, 4 GPU-h; left on vega for flood-dt 12,400 / 310")
        XCTAssertEqual(results[0].evidence.map(\.detail), [
            "predicted 16; left 12,400 of 12,400 (the state holds 0)", "predicted 4; left 310 of 310 (the state holds 0)",
        ])
        XCTAssertEqual(results[1].subject, "policy flood-budget")
        XCTAssertEqual(results[1].summary, "predicted 16 core-h, 4 GPU-h for flood; with what the state holds 16 of 20,000 core-h, 4 of 800 GPU-h")
        XCTAssertEqual(HookPipeline.blocking(results), [])
    }

    func testNearlyUsedUpIsAWarningWithWhatToDo() async throws {
        // 16 core-h of 18 left is 89 %, over the default 80 %
        let repo = try Repo(["sites/vega.yaml": siteFile(core: 18, gpu: 310), "templates/flood.yaml": twinFile(policies: budget)])
        defer { repo.remove() }
        let results = try await gate(repo)
        XCTAssertEqual(results.first?.verdict, .warn)
        XCTAssertEqual(results.first?.summary, "predicted 16 core-h, 4 GPU-h; left on vega for flood-dt 18 / 310 — at least 80 % of what is left")
        XCTAssertEqual(results.first?.remedy?.hasPrefix("the allocation of flood-dt on vega is nearly used up"), true)
        XCTAssertEqual(HookPipeline.blocking(results), [], "a warning never stops apply")
    }

    func testWhatTheStateHoldsIsSubtractedFromTheGrant() async throws {
        // granted 40 core-h; the state already holds 24 of them: 16 are left, all of which the plan wants
        let repo = try Repo(["sites/vega.yaml": siteFile(core: 40, gpu: 310), "templates/flood.yaml": twinFile()], config: Self.enabled)
        defer { repo.remove() }
        let results = try await gate(repo, held: ["vega/flood-dt": AllocationUse(core: 24, gpu: 0)])
        XCTAssertEqual(results.count, 1)
        let r = try XCTUnwrap(results.first)
        XCTAssertEqual(r.verdict, .warn)
        XCTAssertEqual(r.summary, "predicted 16 core-h, 4 GPU-h; left on vega for flood-dt 16 / 310 — at least 80 % of what is left")
        XCTAssertEqual(r.evidence[0].detail, "predicted 16; left 16 of 40 (the state holds 24)")
    }

    func testOverTheRemainingAllocationIsABlockingFailNamingTheFix() async throws {
        let repo = try Repo(["sites/vega.yaml": siteFile(core: 40, gpu: 310), "templates/flood.yaml": twinFile()], config: Self.enabled)
        defer { repo.remove() }
        let results = try await gate(repo, held: ["vega/flood-dt": AllocationUse(core: 30, gpu: 300)])
        let r = try XCTUnwrap(results.first)
        XCTAssertEqual(r.verdict, .fail)
        XCTAssertTrue(r.blocks)
        XCTAssertEqual(r.summary, "predicted 16 core-h, 4 GPU-h; left on vega for flood-dt 10 / 10 — more than is left")
        XCTAssertEqual(r.evidence.map(\.passed), [false, true])
        XCTAssertEqual(r.evidence[0].detail, "predicted 16; left 10 of 40 (the state holds 30)")
        XCTAssertEqual(r.remedy?.contains("ask vega for more hours for flood-dt"), true, r.remedy ?? "")
    }

    func testWithoutTheEnginesFiguresWhatTheStateHoldsIsReadFromThePlan() async throws {
        // the state records a finished 8-cpu, 1-hour job of flood-dt on vega that the repository no longer has
        let repo = try Repo(["sites/vega.yaml": siteFile(core: 30, gpu: 310), "templates/flood.yaml": twinFile()], config: Self.enabled)
        defer { repo.remove() }
        try repo.write("templates/prep.yaml", """
            tosca_definitions_version: tosca_simple_yaml_1_3
            imports: [ dte/types.yaml ]
            topology_template:
              node_templates:
                flood-prep:
                  type: dte.nodes.BatchJob
                  properties: { image: docker://x:1, cpus: 8, walltime: 1 h, runtime: apptainer }
                  requirements: [ { twin: flood } ]

            """)
        let record = try repo.record("twin.flood.flood-prep")
        try FileManager.default.removeItem(atPath: repo.root + "/templates/prep.yaml")
        let results = try await gate(repo, state: [record])
        let r = try XCTUnwrap(results.first)
        XCTAssertEqual(r.verdict, .pass)
        XCTAssertEqual(r.summary, "predicted 16 core-h, 4 GPU-h; left on vega for flood-dt 22 / 310")
        XCTAssertEqual(r.evidence[0].detail, "predicted 16; left 22 of 30 (the state holds 8)")
    }

    func testAPlanThatStartsNothingPassesAndSaysSo() async throws {
        let repo = try Repo(["sites/vega.yaml": siteFile(core: 30, gpu: 310), "templates/flood.yaml": twinFile(policies: budget)])
        defer { repo.remove() }
        var (plan, c) = try repo.plan()
        plan.changes = []
        let (pipeline, _) = HookConfiguration.pipeline(model: c.model, config: c.config, root: repo.root)
        let results = await pipeline.run(HookInput(phase: .preApply, plan: plan, repositoryRoot: repo.root))
        XCTAssertEqual(results.map(\.verdict), [.pass])
        XCTAssertEqual(results.first?.summary, "the plan starts nothing new: predicted 0 core-h, 0 GPU-h")
    }

    func testACapOfThePolicyBlocksUnlessItOnlyWarns() async throws {
        for (enforce, blocks) in [("true", true), ("false", false)] {
            let cap = """
                - flood-budget:
                    type: dte.policies.Allocation
                    properties: { core_hours: 10, enforce: \(enforce) }
                    targets: [ flood-model ]

            """
            let repo = try Repo(["sites/vega.yaml": siteFile(core: 12_400, gpu: 310), "templates/flood.yaml": twinFile(policies: cap)])
            defer { repo.remove() }
            let results = try await gate(repo)
            let r = try XCTUnwrap(results.first { $0.subject == "policy flood-budget" })
            XCTAssertEqual(r.verdict, .fail)
            XCTAssertEqual(r.blocks, blocks, enforce)
            XCTAssertEqual(r.summary, "predicted 16 core-h, 4 GPU-h for flood-model; with what the state holds 16 of 10 core-h — over the cap")
            XCTAssertEqual(r.evidence.map(\.detail), ["predicted 16 + 0 the state holds = 16 of the cap 10"])
            XCTAssertEqual(r.remedy, "lower the requests or walltime of flood-model, or raise the caps of policy flood-budget")
            XCTAssertEqual(results.first { $0.subject == "vega/flood-dt" }?.verdict, .pass)
        }
    }

    func testHoursReadLikeAPersonWritesThem() {
        XCTAssertEqual(AllocationHook.hours(12_400), "12,400")
        XCTAssertEqual(AllocationHook.hours(1_234_567.25), "1,234,567.3")
        XCTAssertEqual(AllocationHook.hours(0.5), "0.5")
        XCTAssertEqual(AllocationHook.hours(-120), "-120")
        XCTAssertEqual(AllocationHook.hours(0), "0")
        XCTAssertEqual(AllocationHook.hours(.infinity), "∞")
        XCTAssertEqual(AllocationHook.hours(1e300), "1e+300")
    }
}
