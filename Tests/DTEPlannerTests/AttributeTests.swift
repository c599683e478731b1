import DTECompiler
import DTEModel
import DTEPlanner
import DTEState
import Foundation
import XCTest

/// `get_attribute` and topology outputs: "(known after apply)" in plans, resolved from what the
/// sites reported once the resources exist.
final class AttributeTests: XCTestCase {
    var repo = ""

    override func setUp() async throws {
        repo = try temporaryRepository()
        try """
        tosca_definitions_version: tosca_simple_yaml_1_3
        imports: [dte/types.yaml]
        topology_template:
          node_templates:
            pipe: { type: dte.nodes.DigitalTwin, properties: { project: demo, source: https://example.org/pipe } }
            first:
              type: dte.nodes.BatchJob
              properties: { image: docker://debian:12, command: [sleep, "1"], cpus: 1, memory: 32 MB, walltime: 5 m, runtime: bwrap }
              requirements: [ { twin: pipe } ]
            second:
              type: dte.nodes.BatchJob
              properties:
                image: docker://debian:12
                command: [echo, { concat: [ "--after=", { get_attribute: [first, job_id] } ] }]
                env: { FIRST_JOB: { get_attribute: [first, job_id] }, PLAIN: x }
                cpus: 1
                memory: 32 MB
                walltime: 5 m
                runtime: bwrap
              requirements: [ { twin: pipe }, { after: first } ]
          outputs:
            first_job: { value: { get_attribute: [first, job_id] } }
            first_state: { value: { get_attribute: [first, state] } }
            first_exit: { value: { get_attribute: [first, exit_code] } }
            first_cpus: { value: { get_attribute: [first, cpus] } }
        """.write(toFile: repo + "/templates/pipe.yaml", atomically: true, encoding: .utf8)
    }

    override func tearDown() async throws { try? FileManager.default.removeItem(atPath: repo) }

    func desired() throws -> DesiredState {
        let c = Compiler.compile(.repository("."), workingDirectory: repo)
        XCTAssertFalse(c.diagnostics.hasErrors, c.diagnostics.map(\.message).joined(separator: "\n"))
        let (d, diags) = DesiredState.build(from: c.model)
        XCTAssertFalse(diags.hasErrors, diags.map(\.message).joined(separator: "\n"))
        return d
    }

    func testGetAttributeIsDeferredToApplyAndNamesTheResource() throws {
        let d = try desired()
        let second = try XCTUnwrap(d.resources.first { $0.address == "twin.pipe.second" })
        XCTAssertEqual(second.spec.deferred?["env.FIRST_JOB"], .attribute(address: "twin.pipe.first", name: "job_id"))
        XCTAssertEqual(second.spec.deferred?["command.1"], .concat([.text("--after="), .attribute(address: "twin.pipe.first", name: "job_id")]))
        XCTAssertNil(second.spec.deferred?["env.PLAIN"])
        XCTAssertEqual(second.spec.attributeReferences, ["twin.pipe.first"])
        XCTAssertNil(d.resources.first { $0.address == "twin.pipe.first" }?.spec.deferred)
        XCTAssertEqual(d.outputs?.map(\.name), ["pipe.first_cpus", "pipe.first_exit", "pipe.first_job", "pipe.first_state"])
        // a get_attribute naming a property is answered from the template
        XCTAssertEqual(d.outputs?.first { $0.name == "pipe.first_cpus" }?.value, .text("1"))
    }

    func testPlanShowsKnownAfterApplyUntilTheResourceExists() async throws {
        let d = try desired()
        let store = try SQLiteStateStore(path: repo + "/.dte/state.db")
        let plan = Planner.plan(desired: d, state: try await store.snapshot(), options: PlanOptions(), sourceHash: "x", gitCommit: nil)
        let second = try XCTUnwrap(plan.changes.first { $0.address == "twin.pipe.second" })
        XCTAssertEqual(second.deferredValues?["env.FIRST_JOB"], "(known after apply)")
        XCTAssertEqual(second.deferredValues?["command.1"], "(known after apply)")
        let outputs = Dictionary(uniqueKeysWithValues: (plan.outputs ?? []).map { ($0.name, $0) })
        XCTAssertNil(outputs["pipe.first_job"]?.value)
        XCTAssertEqual(outputs["pipe.first_cpus"]?.value, "1")

        // once first is recorded with what its site reported, the plan knows the values
        let spec = try XCTUnwrap(d.resources.first { $0.address == "twin.pipe.first" }?.spec)
        let attributes = ResourceAttributes.submitted(site: "local", partition: "batch", podUID: "uid-1", jobID: "4242")
        try await store.commit(ResourceRecord(address: "twin.pipe.first", site: "local", specHash: spec.hash,
                                              spec: String(decoding: try JSONEncoder().encode(spec), as: UTF8.self), podUID: "uid-1",
                                              jobID: "4242", outputs: ResourceAttributes.encode(attributes), status: "submitted"))
        let observed = ["twin.pipe.first": ObservedPod(phase: "running", jobID: "4242", exitCode: nil, startedAt: Date(timeIntervalSince1970: 0))]
        let later = Planner.plan(desired: d, state: try await store.snapshot(), options: PlanOptions(), sourceHash: "x", gitCommit: nil,
                                 observed: observed)
        let second2 = try XCTUnwrap(later.changes.first { $0.address == "twin.pipe.second" })
        XCTAssertEqual(second2.deferredValues?["env.FIRST_JOB"], "\"4242\"")
        XCTAssertEqual(second2.deferredValues?["command.1"], "\"--after=4242\"")
        let known = Dictionary(uniqueKeysWithValues: (later.outputs ?? []).map { ($0.name, $0) })
        XCTAssertEqual(known["pipe.first_job"]?.value, "4242")
        XCTAssertEqual(known["pipe.first_state"]?.value, "running", "refresh's observation wins over the recorded status")
        XCTAssertNil(known["pipe.first_exit"]?.value)
        XCTAssertEqual(known["pipe.first_exit"]?.note, "twin.pipe.first has not reported exit_code yet")
    }

    func testApplyResolvesDeferredValuesFromReportedAttributes() throws {
        let d = try desired()
        let spec = try XCTUnwrap(d.resources.first { $0.address == "twin.pipe.second" }?.spec)
        let attributes = ["twin.pipe.first": ["job_id": "77", "state": "succeeded", "exit_code": "0"]]
        let pod = try spec.resolvingDeferred { attributes[$0]?[$1] }
        XCTAssertEqual(pod.env["FIRST_JOB"], "77")
        XCTAssertEqual(pod.env["PLAIN"], "x")
        XCTAssertEqual(pod.command, ["echo", "--after=77"])
        XCTAssertNil(pod.deferred)
        XCTAssertThrowsError(try spec.resolvingDeferred { _, _ in nil }) { e in
            XCTAssertEqual("\(e)", "twin.pipe.first has not reported job_id yet")
        }
        // the recorded spec keeps the template's text: its hash does not move with the job id
        XCTAssertEqual(spec.env["FIRST_JOB"], "{ get_attribute: [first, job_id] }")
    }

    func testAttributesMergeWhatTheSiteReports() {
        let submitted = ResourceAttributes.submitted(site: "local", partition: "batch", podUID: "u", jobID: "9")
        let done = ResourceAttributes.merging(submitted, ObservedPod(phase: "failed", jobID: "9", exitCode: 3,
                                                                     startedAt: Date(timeIntervalSince1970: 1_700_000_000),
                                                                     finishedAt: Date(timeIntervalSince1970: 1_700_000_060), reason: nil))
        XCTAssertEqual(done, ["site": "local", "partition": "batch", "pod_uid": "u", "job_id": "9", "state": "failed", "exit_code": "3",
                              "started_at": "2023-11-14T22:13:20Z", "finished_at": "2023-11-14T22:14:20Z"])
        XCTAssertEqual(ResourceAttributes.decode(ResourceAttributes.encode(done)), done)
    }
}
