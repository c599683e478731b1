import DTECompiler
import DTEModel
import DTEPlanner
import DTEState
import Foundation
import XCTest

/// The package root, found from this file's path.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// A repository in a temporary folder: dte.yaml, the DTE types and the files given.
struct Repo {
    let root: String

    init(_ files: [String: String], config: String = "version: 1\n") throws {
        root = NSTemporaryDirectory() + "dte-hooks-" + UUID().uuidString
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/templates/dte", withIntermediateDirectories: true)
        try config.write(toFile: root + "/dte.yaml", atomically: true, encoding: .utf8)
        try fm.copyItem(atPath: repositoryRoot + "/templates/dte/types.yaml", toPath: root + "/templates/dte/types.yaml")
        for (path, text) in files { try write(path, text) }
    }

    func write(_ path: String, _ text: String, executable: Bool = false) throws {
        let full = root + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: true, encoding: .utf8)
        if executable { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: full) }
    }

    func compile() -> Compilation { Compiler.compile(.repository("."), workingDirectory: root) }

    /// The plan of the repository against `state` (empty by default), at a fixed time and hash.
    func plan(state: [ResourceRecord] = [], file: StaticString = #filePath, line: UInt = #line) throws -> (Plan, Compilation) {
        let c = compile()
        XCTAssertFalse(c.diagnostics.hasErrors, describe(c.diagnostics), file: file, line: line)
        let (desired, diags) = DesiredState.build(from: c.model, used: DesiredState.allocationUse(of: state))
        XCTAssertFalse(diags.hasErrors, describe(diags), file: file, line: line)
        let snapshot = try Self.snapshot(state)
        var plan = Planner.plan(desired: desired, state: snapshot, options: PlanOptions(), sourceHash: "fnv1a64:0123456789abcdef", gitCommit: "abc1234")
        plan.createdAt = Date(timeIntervalSince1970: 1_780_000_000)
        return (plan, c)
    }

    /// A state snapshot as the store gives one (decoded: the store's own type has no public initialiser).
    static func snapshot(_ resources: [ResourceRecord]) throws -> StateSnapshot {
        struct Shape: Encodable { var formatVersion = 1; var lineage = "0b7e3c9a-lineage"; var serial: Int; var resources: [ResourceRecord] }
        let data = try JSONEncoder().encode(Shape(serial: resources.isEmpty ? 0 : 4, resources: resources))
        return try JSONDecoder().decode(StateSnapshot.self, from: data)
    }

    /// The state record of a resource as apply writes it, from the desired state of this repository.
    func record(_ address: String, status: String = "succeeded") throws -> ResourceRecord {
        let (desired, _) = DesiredState.build(from: compile().model)
        let d = try XCTUnwrap(desired.resources.first { $0.address == address }, "no \(address) in the repository")
        return ResourceRecord(address: d.address, site: d.placement.site, specHash: d.spec.hash,
                              spec: String(decoding: try JSONEncoder().encode(d.spec), as: UTF8.self), status: status)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

func describe(_ ds: [Diagnostic]) -> String {
    ds.map { "\($0.location): \($0.severity.rawValue): \($0.code): \($0.message)" }.joined(separator: "\n")
}

/// A site with one partition and one allocation for `project`.
func siteFile(core: Int, gpu: Int, project: String = "flood-dt") -> String {
    """
    tosca_definitions_version: tosca_simple_yaml_1_3
    imports: [ ../templates/dte/types.yaml ]
    topology_template:
      node_templates:
        vega:
          type: dte.nodes.Site.Slurm
          properties:
            agent: { endpoint: "http://127.0.0.1:4555" }
            runtimes: [ apptainer ]
            partitions:
              - { name: gpu, nodes: 4, cpus_per_node: 64, memory_per_node: 256 GB, gpus_per_node: 4, gpu_model: A100, max_walltime: 48 h, default: true }
            allocations:
              - { project: \(project), core_hours: \(core), gpu_hours: \(gpu) }

    """
}

/// A twin `flood` (project flood-dt) with one job of 8 cpus and 2 GPUs for 2 h: 16 core-h, 4 GPU-h.
func twinFile(policies: String = "") -> String {
    """
    tosca_definitions_version: tosca_simple_yaml_1_3
    imports: [ dte/types.yaml ]
    topology_template:
      node_templates:
        flood:
          type: dte.nodes.DigitalTwin
          properties: { project: flood-dt, source: https://github.com/example/flood-twin }
        flood-model:
          type: dte.nodes.BatchJob
          properties: { image: docker://ghcr.io/example/sfincs:2, cpus: 8, memory: 64 GB, gpus: 2, walltime: 2 h, runtime: apptainer }
          requirements: [ { twin: flood } ]
    \(policies.isEmpty ? "" : "  policies:\n" + policies)
    """
}
