import DTECompiler
import DTEModel
import DTEPlanner
import DTEState
import Foundation
import XCTest

let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// A repository in a temporary folder with DTE's types and the local site; add twins to its templates/.
func temporaryRepository() throws -> String {
    let repo = NSTemporaryDirectory() + "dte-plan-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: repo + "/templates/dte", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: repo + "/sites", withIntermediateDirectories: true)
    try "version: 1\n".write(toFile: repo + "/dte.yaml", atomically: true, encoding: .utf8)
    try FileManager.default.copyItem(atPath: repositoryRoot + "/templates/dte/types.yaml", toPath: repo + "/templates/dte/types.yaml")
    try FileManager.default.copyItem(atPath: repositoryRoot + "/sites/local.yaml", toPath: repo + "/sites/local.yaml")
    return repo
}

/// Placement and diffing on the shipped repository and small inline twins.
final class PlannerTests: XCTestCase {
    func shipped() throws -> CompiledModel {
        let c = Compiler.compile(.repository("."), workingDirectory: repositoryRoot)
        XCTAssertFalse(c.diagnostics.hasErrors)
        return c.model
    }

    func testDemoTwinIsPlacedOnTheLocalBatchPartition() throws {
        let (desired, diags) = DesiredState.build(from: try shipped())
        XCTAssertFalse(diags.hasErrors, diags.map(\.message).joined(separator: "\n"))
        let demo = desired.resources.filter { $0.spec.twin == "demo" }
        XCTAssertEqual(demo.map(\.address), ["twin.demo.estimate-pi", "twin.demo.hello", "twin.demo.summary"])
        for r in demo {
            XCTAssertEqual(r.placement.site, "local")
            XCTAssertEqual(r.placement.partition, "batch")
            XCTAssertTrue(r.placement.reason.contains("batch partition fits"), r.placement.reason)
        }
        XCTAssertEqual(desired.resources.first { $0.address == "twin.demo.estimate-pi" }?.spec.after, ["hello"])
        // every component of every shipped twin has a site, and the remote ones are not on the laptop-sized local site
        XCTAssertGreaterThan(desired.resources.count, demo.count)
        XCTAssertTrue(desired.resources.contains { $0.placement.site != "local" })
    }

    func testPlacementIsDeterministicAndExplainsRejections() throws {
        let model = try shipped()
        let a = DesiredState.build(from: model).0, b = DesiredState.build(from: model).0
        XCTAssertEqual(a.resources, b.resources)
        let gpuJobs = a.resources.filter { $0.spec.gpus > 0 && $0.spec.gpuModel == "A100" }
        XCTAssertFalse(gpuJobs.isEmpty)
        for j in gpuJobs {
            XCTAssertNotEqual(j.placement.site, "local")
            if let local = j.placement.rejected.first(where: { $0.site == "local" }) {
                XCTAssertFalse(local.reason.isEmpty)
            }
        }
    }

    func testNoFeasibleSiteNamesTheUnmetRequirement() throws {
        let repo = try temporaryRepository()
        defer { try? FileManager.default.removeItem(atPath: repo) }
        try """
        tosca_definitions_version: tosca_simple_yaml_1_3
        imports: [dte/types.yaml]
        topology_template:
          node_templates:
            big: { type: dte.nodes.DigitalTwin, properties: { project: demo, source: https://example.org/big } }
            huge:
              type: dte.nodes.BatchJob
              properties: { image: docker://x:1, command: [x], cpus: 64, runtime: bwrap }
              requirements: [ { twin: big } ]
        """.write(toFile: repo + "/templates/big.yaml", atomically: true, encoding: .utf8)
        let c = Compiler.compile(.repository("."), workingDirectory: repo)
        XCTAssertFalse(c.diagnostics.hasErrors, c.diagnostics.map(\.message).joined(separator: "\n"))
        let (_, diags) = DesiredState.build(from: c.model)
        let d = try XCTUnwrap(diags.first)
        XCTAssertEqual(d.code, "no-feasible-site")
        XCTAssertTrue(d.message.contains("local: batch: 64 cpus > 8 per node"), d.message)
        XCTAssertEqual(d.file, "templates/big.yaml")
    }

    func testPlanDiffsDesiredAgainstRecordedState() async throws {
        let (desired, _) = DesiredState.build(from: try shipped())
        var options = PlanOptions()
        options.sites = ["local"]
        let dir = NSTemporaryDirectory() + "dte-plan-state-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStateStore(path: dir + "/state.db")

        let first = Planner.plan(desired: desired, state: try await store.snapshot(), options: options, sourceHash: "x", gitCommit: nil)
        XCTAssertEqual(first.changes.map(\.action), [.create, .create, .create])
        XCTAssertEqual(first.sitesInScope, ["local"])
        XCTAssertTrue(first.hasChanges)

        for c in first.changes {
            let spec = try XCTUnwrap(c.after)
            let json = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
            try await store.commit(ResourceRecord(address: c.address, site: c.site, specHash: spec.hash, spec: json, podUID: "uid-\(c.address)"))
        }
        let second = Planner.plan(desired: desired, state: try await store.snapshot(), options: options, sourceHash: "x", gitCommit: nil)
        XCTAssertFalse(second.hasChanges, "\(second.changes.map(\.action))")
        XCTAssertEqual(second.serial, 3)

        var changed = desired
        let i = try XCTUnwrap(changed.resources.firstIndex { $0.address == "twin.demo.hello" })
        changed.resources[i].spec.cpus = 2
        changed.resources.removeAll { $0.address == "twin.demo.summary" }
        let third = Planner.plan(desired: changed, state: try await store.snapshot(), options: options, sourceHash: "x", gitCommit: nil)
        let byAddress = Dictionary(uniqueKeysWithValues: third.changes.map { ($0.address, $0) })
        XCTAssertEqual(byAddress["twin.demo.hello"]?.action, .replace)
        XCTAssertEqual(byAddress["twin.demo.hello"]?.changedPaths, ["cpus"])
        XCTAssertEqual(byAddress["twin.demo.summary"]?.action, .delete)
        XCTAssertEqual(byAddress["twin.demo.estimate-pi"]?.action, .noop)

        let snap = try await store.snapshot()
        var protectedRecord = try XCTUnwrap(snap.resource("twin.demo.summary"))
        protectedRecord.protected = true
        try await store.commit(protectedRecord)
        let blocked = Planner.plan(desired: changed, state: try await store.snapshot(), options: options, sourceHash: "x", gitCommit: nil)
        XCTAssertEqual(blocked.diagnostics.map(\.code), ["protected-resource"])

        var other = PlanOptions()
        other.sites = ["vega"]
        let scoped = Planner.plan(desired: desired, state: try await store.snapshot(), options: other, sourceHash: "x", gitCommit: nil)
        XCTAssertTrue(scoped.changes.allSatisfy { $0.site == "vega" }, "--site vega leaves local's resources alone")
    }

    /// A job the scheduler holds (an administrator's `scontrol hold`) is drift in the site's own
    /// words; one merely queued is not.
    func testAHeldJobIsDriftAndAQueuedOneIsNot() async throws {
        let (desired, _) = DesiredState.build(from: try shipped())
        var options = PlanOptions()
        options.sites = ["local"]
        let dir = NSTemporaryDirectory() + "dte-plan-held-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStateStore(path: dir + "/state.db")
        let first = Planner.plan(desired: desired, state: try await store.snapshot(), options: options, sourceHash: "x", gitCommit: nil)
        for c in first.changes {
            let spec = try XCTUnwrap(c.after)
            let json = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
            try await store.commit(ResourceRecord(address: c.address, site: c.site, specHash: spec.hash, spec: json, podUID: "uid-\(c.address)"))
        }
        let addresses = first.changes.map(\.address).sorted()
        XCTAssertEqual(addresses.count, 3)
        let observed = [
            addresses[0]: ObservedPod(phase: "pending", jobID: "11", exitCode: nil, reason: ObservedPod.heldReason,
                                      message: "Slurm job 11 is held: JobHeldAdmin"),
            addresses[1]: ObservedPod(phase: "pending", jobID: "12", exitCode: nil),
            addresses[2]: ObservedPod(phase: "running", jobID: "13", exitCode: nil),
        ]
        let plan = Planner.plan(desired: desired, state: try await store.snapshot(), options: options, sourceHash: "x", gitCommit: nil,
                                observed: observed)
        XCTAssertEqual(plan.drift.map(\.address), [addresses[0]], "only the held job drifted: \(plan.drift)")
        XCTAssertEqual(plan.drift.first?.kind, "held")
        XCTAssertEqual(plan.drift.first?.observed, "Slurm job 11 is held: JobHeldAdmin")
    }
}
