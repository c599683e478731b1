import DTECompiler
import DTEModel
import XCTest

/// Behaviour of the checker that a twin developer notices: values evaluated, inputs checked
/// wherever they arrive, every problem of a run reported together.
final class CheckerTests: XCTestCase {
    let twin = twinHeader + """
    topology_template:
      inputs:
        region:
          type: string
          default: humber
          constraints: [ { valid_values: [humber, thames, severn] } ]
        memory:
          type: scalar-unit.size
          default: 2 GB
      node_templates:
        flood:
          type: dte.nodes.DigitalTwin
          properties: { project: flood-dt, source: https://github.com/example/flood }
        prep:
          type: dte.nodes.BatchJob
          properties:
            image: docker://ghcr.io/example/prep:1.0
            command: [prep, --region, { get_input: region }, { concat: [--out=, { get_property: [SELF, workdir] }, /x] }]
            workdir: /scratch
            memory: { get_input: memory }
          requirements: [ { twin: flood } ]
        model:
          type: dte.nodes.BatchJob
          properties:
            image: docker://ghcr.io/example/model:1.0
            command: [run, { get_property: [prep, workdir] }, { token: [ "a:b:c", ":", 1 ] }, { join: [ [x, y], "-" ] }]
          requirements: [ { twin: flood }, { after: prep } ]
      outputs:
        state:
          value: { get_attribute: [model, state] }
    """

    func testFunctionsAreEvaluated() throws {
        let repo = try ScratchRepository(["templates/flood.yaml": twin])
        defer { repo.remove() }
        let c = repo.compile()
        XCTAssertEqual(errors(c).count, 0, describe(c.diagnostics))
        let prep = try XCTUnwrap(c.model.node("prep"))
        XCTAssertEqual(prep.property("command"),
                       .list([.string("prep"), .string("--region"), .string("humber"), .string("--out=/scratch/x")]))
        XCTAssertEqual(prep.property("memory"), .scalar(ScalarUnit.parse("2 GB", kind: .size)!))
        let model = try XCTUnwrap(c.model.node("model"))
        XCTAssertEqual(model.property("command"), .list([.string("run"), .string("/scratch"), .string("b"), .string("x-y")]))
        XCTAssertEqual(model.requirements.map(\.target), ["flood", "prep"])
        XCTAssertEqual(c.model.outputs.first?.value, .function(.getAttribute(["model", "state"])), "get_attribute waits for apply")
    }

    func testSuppliedInputIsCheckedAgainstItsConstraints() throws {
        let repo = try ScratchRepository(["templates/flood.yaml": twin])
        defer { repo.remove() }
        let ok = repo.compile(inputs: ["region": "thames"])
        XCTAssertEqual(ok.model.node("prep")?.property("command")?.display.contains("thames"), true)
        let bad = repo.compile(inputs: ["region": "danube"])
        XCTAssertTrue(errors(bad).contains { $0.code == "constraint-valid-values" && $0.message.contains("danube") }, describe(bad.diagnostics))
        let unknown = repo.compile(inputs: ["regoin": "thames"])
        XCTAssertTrue(errors(unknown).contains { $0.code == "unknown-input" && ($0.hint ?? "").contains("region") }, describe(unknown.diagnostics))
    }

    func testConstraintIsEnforcedOnAValueArrivingThroughGetInput() throws {
        // the input accepts 128 GB; the component's memory property does not (the DTE type caps it)
        let text = twinHeader + """
        topology_template:
          inputs:
            cores: { type: integer, default: 0 }
          node_templates:
            t: { type: dte.nodes.DigitalTwin, properties: { project: p, source: https://example.org/t } }
            j:
              type: dte.nodes.BatchJob
              properties: { image: docker://x:1, command: [x], cpus: { get_input: cores } }
              requirements: [ { twin: t } ]
        """
        let repo = try ScratchRepository(["templates/t.yaml": text])
        defer { repo.remove() }
        let c = repo.compile()
        let e = try XCTUnwrap(errors(c).first, describe(c.diagnostics))
        XCTAssertTrue(e.code.hasPrefix("constraint-"), describe(c.diagnostics))
        XCTAssertTrue(e.message.contains("from get_input \"cores\""), e.message)
        XCTAssertEqual(e.line, 10, "reported where the property uses the input")
    }

    func testAllProblemsOfARunAreReportedTogether() throws {
        let text = twinHeader + """
        topology_template:
          node_templates:
            t: { type: dte.nodes.DigitalTwin, properties: { project: p, source: https://example.org/t } }
            a:
              type: dte.nodes.BatchJob
              properties: { image: docker://x:1, command: [x], memory: 32 GBB, cpuz: 2 }
              requirements: [ { twin: t }, { after: nobody } ]
            b:
              type: dte.nodes.BachJob
        """
        let repo = try ScratchRepository(["templates/t.yaml": text])
        defer { repo.remove() }
        let c = repo.compile()
        XCTAssertEqual(Set(errors(c).map(\.code)), ["bad-scalar-unit", "unknown-property", "unknown-node", "unknown-type"], describe(c.diagnostics))
        let unknownType = try XCTUnwrap(errors(c).first { $0.code == "unknown-type" })
        XCTAssertEqual(unknownType.hint, "did you mean \"dte.nodes.BatchJob\"?")
        XCTAssertEqual(errors(c).first { $0.code == "unknown-property" }?.hint?.hasPrefix("did you mean \"cpus\"?"), true)
        XCTAssertEqual(errors(c).first { $0.code == "bad-scalar-unit" }?.path, "topology_template.node_templates.a.properties.memory")
    }

    func testNodeTemplateNamesAreGlobalInTheRepository() throws {
        let t = { (name: String) in twinHeader + "topology_template:\n  node_templates:\n    \(name): { type: dte.nodes.DigitalTwin, properties: { project: p, source: https://example.org/x } }\n" }
        let repo = try ScratchRepository(["templates/a.yaml": t("same"), "templates/b.yaml": t("same")])
        defer { repo.remove() }
        let c = repo.compile()
        XCTAssertEqual(errors(c).map(\.code), ["duplicate-node-template"], describe(c.diagnostics))
        XCTAssertEqual(errors(c).first?.file, "templates/b.yaml")
    }

    func testURLImportsResolveThroughTheImportMapOnly() throws {
        let url = "https://example.org/dte/types.yaml"
        let text = "tosca_definitions_version: tosca_simple_yaml_1_3\nimports: [\"\(url)\"]\ntopology_template:\n  node_templates:\n    t: { type: dte.nodes.DigitalTwin, properties: { project: p, source: https://example.org/x } }\n"
        let mapped = try ScratchRepository(["templates/t.yaml": text], config: "version: 1\nimport_map:\n  \"\(url)\": templates/dte/types.yaml\n")
        defer { mapped.remove() }
        XCTAssertEqual(mapped.compile().diagnostics.count, 0, describe(mapped.compile().diagnostics))
        let unmapped = try ScratchRepository(["templates/t.yaml": text])
        defer { unmapped.remove() }
        let c = unmapped.compile()
        XCTAssertEqual(errors(c).first?.code, "import-unmapped-url", describe(c.diagnostics))
        XCTAssertEqual(errors(c).first?.line, 2)
    }

    func testImportCycleIsReportedNotLoopedOn() throws {
        let a = "tosca_definitions_version: tosca_simple_yaml_1_3\nimports: [b.yaml]\nnode_types:\n  A: { derived_from: tosca.nodes.Root }\n"
        let b = "tosca_definitions_version: tosca_simple_yaml_1_3\nimports: [a.yaml]\nnode_types:\n  B: { derived_from: A }\n"
        let repo = try ScratchRepository(["recipes/a.yaml": a, "recipes/b.yaml": b], withTypes: false)
        defer { repo.remove() }
        let c = repo.compile()
        // one error at each import of the cycle, and nothing else (the types stay visible)
        XCTAssertEqual(errors(c).map(\.code), ["import-cycle", "import-cycle"], describe(c.diagnostics))
        XCTAssertEqual(errors(c).compactMap(\.file), ["recipes/a.yaml", "recipes/b.yaml"])
        XCTAssertTrue(errors(c).allSatisfy { $0.message.contains("recipes/a.yaml → recipes/b.yaml → recipes/a.yaml") }, describe(c.diagnostics))
    }

    /// A pull request cannot make CI read files outside the repository through imports: `../`
    /// above the root, an absolute path, `file://`, or a symlink inside the repository that leads
    /// out are located errors; a FIFO named like a template is not read (it would stall the run).
    func testImportsStayInsideTheRepository() throws {
        let outside = NSTemporaryDirectory() + "dte-outside-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        let types = "tosca_definitions_version: tosca_simple_yaml_1_3\nnode_types:\n  Out: { derived_from: tosca.nodes.Root }\n"
        try types.write(toFile: outside + "/types.yaml", atomically: true, encoding: .utf8)
        let header = "tosca_definitions_version: tosca_simple_yaml_1_3\nimports:\n"
        let repo = try ScratchRepository([
            "recipes/up.yaml": header + "  - ../../\((outside as NSString).lastPathComponent)/types.yaml\n",
            "recipes/absolute.yaml": header + "  - \(outside)/types.yaml\n",
            "recipes/url.yaml": header + "  - file://\(outside)/types.yaml\n",
            "recipes/linked.yaml": header + "  - shared/types.yaml\n",
            "recipes/fine.yaml": header + "  - own/types.yaml\n",
            "recipes/own/types.yaml": types.replacingOccurrences(of: "Out", with: "Own"),
        ], withTypes: false)
        defer { repo.remove() }
        // the scratch repository and the outside folder are siblings: ../../ from recipes/ reaches it
        XCTAssertEqual((repo.root as NSString).deletingLastPathComponent, (outside as NSString).deletingLastPathComponent)
        let moved = outside
        try FileManager.default.createSymbolicLink(atPath: repo.root + "/recipes/shared", withDestinationPath: moved)
        XCTAssertEqual(mkfifo(repo.root + "/recipes/stall.yaml", 0o600), 0)

        let c = repo.compile()
        let outsideErrors = errors(c).filter { $0.code == "import-outside-repository" }
        XCTAssertEqual(Set(outsideErrors.compactMap(\.file)), ["recipes/up.yaml", "recipes/absolute.yaml", "recipes/url.yaml", "recipes/linked.yaml"],
                       describe(c.diagnostics))
        XCTAssertTrue(outsideErrors.allSatisfy { $0.line == 3 && $0.message.contains("leads outside the repository") }, describe(c.diagnostics))
        XCTAssertTrue(errors(c).contains { $0.code == "file-unreadable" && $0.file == "recipes/stall.yaml" }, describe(c.diagnostics))
        XCTAssertFalse(c.diagnostics.contains { $0.file == "recipes/fine.yaml" || $0.file == "recipes/own/types.yaml" }, describe(c.diagnostics))
        XCTAssertFalse(c.diagnostics.contains { $0.message.contains("Out") }, "nothing of the outside file was read")
    }

    func testALongChainOfImportsIsCutWithALocatedError() throws {
        var files: [String: String] = [:]
        for i in 0..<100 {
            files["recipes/c\(i).yaml"] = "tosca_definitions_version: tosca_simple_yaml_1_3\n" + (i < 99 ? "imports: [c\(i + 1).yaml]\n" : "")
        }
        let repo = try ScratchRepository(files, withTypes: false)
        defer { repo.remove() }
        let c = repo.compile(["recipes/c0.yaml"])
        XCTAssertEqual(errors(c).map(\.code), ["import-too-deep"], describe(c.diagnostics))
        XCTAssertEqual(errors(c).first?.file, "recipes/c63.yaml")
    }

    /// One cause repeated thousands of times (every node of a big twin of an unknown type) gives
    /// the first thousand diagnostics and one that counts the rest.
    func testDiagnosticsAreCappedWithACountOfTheRest() throws {
        var text = "tosca_definitions_version: tosca_simple_yaml_1_3\ntopology_template:\n  node_templates:\n"
        for i in 0..<1_500 { text += "    n\(i): { type: No.Such.Type }\n" }
        let repo = try ScratchRepository(["recipes/big.yaml": text], withTypes: false)
        defer { repo.remove() }
        let c = repo.compile()
        XCTAssertEqual(c.diagnostics.count, Compiler.maximumDiagnostics + 1)
        let last = try XCTUnwrap(c.diagnostics.last)
        XCTAssertEqual(last.code, "too-many-diagnostics")
        XCTAssertEqual(last.severity, .error)
        XCTAssertTrue(last.message.hasPrefix("500 more diagnostics (500 of them errors)"), last.message)
        XCTAssertFalse(c.isValid)
    }

    func testInheritanceCycleIsReportedNotLoopedOn() throws {
        let a = "tosca_definitions_version: tosca_simple_yaml_1_3\nnode_types:\n  A: { derived_from: B }\n  B: { derived_from: A }\ntopology_template:\n  node_templates:\n    x: { type: A }\n"
        let repo = try ScratchRepository(["recipes/a.yaml": a], withTypes: false)
        defer { repo.remove() }
        let c = repo.compile()
        XCTAssertEqual(errors(c).map(\.code), ["inheritance-cycle", "inheritance-cycle"], describe(c.diagnostics))
    }

    func testTOSCAShortTypeNamesAndNormativeTypesWork() throws {
        let text = """
        tosca_definitions_version: tosca_simple_yaml_1_3
        topology_template:
          node_templates:
            server:
              type: Compute
              capabilities:
                host: { properties: { num_cpus: 2, mem_size: 4 GB } }
            db:
              type: tosca:Database
              properties: { name: app }
              requirements: [ { host: dbms } ]
            dbms:
              type: tosca.nodes.DBMS
              properties: { port: 5432 }
              requirements: [ { host: server } ]
              interfaces:
                Standard: { create: install.sh, configure: { implementation: cfg.sh, inputs: { port: { get_property: [SELF, port] } } } }
        """
        let repo = try ScratchRepository(["recipes/app.yaml": text], withTypes: false)
        defer { repo.remove() }
        let c = repo.compile()
        XCTAssertEqual(c.diagnostics.count, 0, describe(c.diagnostics))
        XCTAssertEqual(c.model.node("server")?.capabilities["host"]?.first { $0.key == "num_cpus" }?.value, .integer(2))
    }

    func testCronExpressionsOfSchedulesAreChecked() {
        XCTAssertNil(CronExpression.problem("0 */6 * * *"))
        XCTAssertNil(CronExpression.problem("30 2 1-15 jan,jul mon-fri"))
        XCTAssertNil(CronExpression.problem("@daily"))
        XCTAssertNotNil(CronExpression.problem("0 */6 * *"))
        XCTAssertNotNil(CronExpression.problem("61 * * * *"))
        XCTAssertNotNil(CronExpression.problem("0 0 * foo *"))
        XCTAssertNotNil(CronExpression.problem("*/0 * * * *"))
    }
}
