import DTEApply
import DTECompiler
import DTEHooks
import DTEPlanner
import DTEState
import Foundation
import XCTest

/// The allocation gate fed by the sites' accounting: used + predicted (+ what the state holds and
/// accounting has not counted yet) against the grant; a site whose usage cannot be read is said so.
final class AllocationUsageTests: XCTestCase {
    /// Two jobs of twin flood: prep (1 cpu, 1 h: 1 core-h) and model (8 cpus, 2 GPUs, 2 h: 16 core-h, 4 GPU-h).
    static let twin = """
        tosca_definitions_version: tosca_simple_yaml_1_3
        imports: [ dte/types.yaml ]
        topology_template:
          node_templates:
            flood:
              type: dte.nodes.DigitalTwin
              properties: { project: flood-dt, source: https://github.com/example/flood-twin }
            flood-prep:
              type: dte.nodes.BatchJob
              properties: { image: docker://debian:12, cpus: 1, memory: 1 GB, walltime: 1 h, runtime: apptainer }
              requirements: [ { twin: flood } ]
            flood-model:
              type: dte.nodes.BatchJob
              properties: { image: docker://ghcr.io/example/sfincs:2, cpus: 8, memory: 64 GB, gpus: 2, walltime: 2 h, runtime: apptainer }
              requirements: [ { twin: flood } ]

        """

    func gate(_ repo: Repo, state: [ResourceRecord], observedJob: String?, accounting: @escaping AccountingReader) async throws -> [HookResult] {
        var (plan, c) = try repo.plan(state: state)
        if let observedJob { plan.observed["twin.flood.flood-prep"] = ObservedPod(phase: "succeeded", jobID: observedJob, exitCode: 0) }
        let (pipeline, _) = HookConfiguration.pipeline(model: c.model, config: c.config, root: repo.root, accounting: accounting)
        return await pipeline.run(HookInput(phase: .preApply, plan: plan, repositoryRoot: repo.root))
    }

    func repo() throws -> Repo {
        try Repo(["sites/vega.yaml": siteFile(core: 200_000, gpu: 5_000), "templates/flood.yaml": Self.twin], config: AllocationHookTests.enabled)
    }

    func testUsedHoursAreCountedOnceWithWhatThePlanAdds() async throws {
        let repo = try repo()
        defer { repo.remove() }
        let prep = try repo.record("twin.flood.flood-prep")
        // accounting knows prep's job (77): its real use counts, not its prediction
        let results = try await gate(repo, state: [prep], observedJob: "77") { site in
            XCTAssertEqual(site, "vega")
            return .accounted([AccountedUse(project: "flood-dt", jobID: "77", use: AllocationUse(core: 1_839, gpu: 12)),
                               AccountedUse(project: "flood-dt", jobID: "12", use: AllocationUse(core: 1, gpu: 0)),
                               AccountedUse(project: "other", jobID: "13", use: AllocationUse(core: 99_999, gpu: 0))])
        }
        XCTAssertEqual(results.count, 1)
        let r = try XCTUnwrap(results.first)
        XCTAssertEqual(r.verdict, .pass)
        XCTAssertEqual(r.summary, "used 1,840 of 200,000 core-h on vega for flood-dt, this plan adds 16; used 12 of 5,000 GPU-h, adds 4")
        XCTAssertEqual(r.evidence.first?.detail, "2 finished jobs accounted: 1,840 core-h, 12 GPU-h")

        // a held job accounting does not know yet is counted by its prediction
        let pending = try await gate(repo, state: [prep], observedJob: "78") { _ in
            .accounted([AccountedUse(project: "flood-dt", jobID: "77", use: AllocationUse(core: 1_840, gpu: 12))])
        }
        XCTAssertEqual(pending.first?.summary,
                       "used 1,840 of 200,000 core-h on vega for flood-dt, this plan adds 16; used 12 of 5,000 GPU-h, adds 4; "
                       + "the state holds 1 core-h, 0 GPU-h not yet accounted")
    }

    func testUsedUpByRealUseBlocksThePlan() async throws {
        let repo = try repo()
        defer { repo.remove() }
        let results = try await gate(repo, state: [], observedJob: nil) { _ in
            .accounted([AccountedUse(project: "flood-dt", jobID: "5", use: AllocationUse(core: 199_990, gpu: 0))])
        }
        let r = try XCTUnwrap(results.first)
        XCTAssertEqual(r.verdict, .fail)
        XCTAssertTrue(r.blocks)
        XCTAssertTrue(r.summary.hasPrefix("used 199,990 of 200,000 core-h on vega for flood-dt, this plan adds 17"), r.summary)
        XCTAssertTrue(r.summary.hasSuffix(" — more than is left"), r.summary)
    }

    func testAnUnreadableSiteIsAWarningNamingItAndTheGateFallsBackToPredictions() async throws {
        let repo = try repo()
        defer { repo.remove() }
        let results = try await gate(repo, state: [], observedJob: nil) { _ in .unavailable("cannot reach the agent at http://127.0.0.1:4555: connection refused") }
        let r = try XCTUnwrap(results.first)
        XCTAssertEqual(r.verdict, .warn)
        XCTAssertFalse(r.blocks)
        XCTAssertTrue(r.summary.hasPrefix("usage of vega unknown (cannot reach the agent at http://127.0.0.1:4555: connection refused); this plan adds 17 core-h"),
                      r.summary)
        XCTAssertEqual(r.evidence.first?.passed, false)
        XCTAssertTrue(r.remedy?.contains("dte check site vega") == true, r.remedy ?? "")
    }
}
