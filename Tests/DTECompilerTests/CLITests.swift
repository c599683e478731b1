import DTETestSupport
import Foundation
import XCTest

/// The `dte` executable as CI runs it: exit codes, formats, messages.
final class CLITests: XCTestCase {
    func run(_ args: [String], in dir: String = repositoryRoot) throws -> (status: Int32, out: String, err: String) {
        try runDTE(args, in: dir)
    }

    func testValidRepositoryExitsZero() throws {
        let r = try run(["validate"])
        XCTAssertEqual(r.status, 0, r.out + r.err)
        // what DTE does not act on yet is a warning (not-enforced); nothing else may be reported
        XCTAssertFalse(r.out.contains(": error:"), r.out)
        XCTAssertTrue(r.out.split(separator: "\n").last?.contains(", no errors (") == true, r.out)
    }

    func testInvalidFileExitsOneWithFileLineColumnAndHint() throws {
        let text = twinHeader + """
        topology_template:
          node_templates:
            t: { type: dte.nodes.DigitalTwin, properties: { project: p, source: https://example.org/t } }
            preprocess:
              type: dte.nodes.BatchJob
              properties: { image: docker://x:1, memory: 32 GBB }
              requirements: [ { twin: t } ]
        """
        let repo = try ScratchRepository(["templates/flood.yaml": text])
        defer { repo.remove() }
        let r = try run(["validate"], in: repo.root)
        XCTAssertEqual(r.status, 1)
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first,
                       "templates/flood.yaml:8:50: error: property \"memory\" of \"preprocess\": \"32 GBB\" is not a scalar-unit.size", r.out)
        XCTAssertTrue(lines.contains("  at: topology_template.node_templates.preprocess.properties.memory"), r.out)
        XCTAssertTrue(lines.contains { $0.hasPrefix("  hint: use a number and one of B, kB, KiB, MB") }, r.out)
        XCTAssertEqual(lines.last, "1 error in 1 file (2 files checked)")
    }

    /// A pull request's hostile file: `dte validate` refuses it quickly with a located, readable
    /// message (the 10,000-character line is shown as a window around the column), exit 1.
    func testHostileNestingIsALocatedErrorWithAReadableExcerpt() throws {
        let text = twinHeader + "metadata:\n  x: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n"
        let repo = try ScratchRepository(["templates/deep.yaml": text])
        defer { repo.remove() }
        let r = try run(["validate"], in: repo.root)
        XCTAssertEqual(r.status, 1, r.out + r.err)
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.first?.hasPrefix("templates/deep.yaml:") == true && lines.first?.contains(": error: lists and maps are nested more than 256 levels deep here") == true,
                      lines.first ?? r.out)
        XCTAssertTrue(lines.allSatisfy { $0.count < 200 }, "no line of thousands of characters: \(lines.map(\.count))")
        let excerpt = try XCTUnwrap(lines.first { $0.contains(" | …[") }, r.out)
        let caret = try XCTUnwrap(lines.first { $0.hasSuffix("^") }, r.out)
        XCTAssertEqual(Array(excerpt)[caret.count - 1], "[", "the caret points into the excerpt: \(excerpt)\n\(caret)")
    }

    /// Files written for PyYAML say `required: no`: read as false with one warning per file that
    /// says how to write it strictly; `--strict` refuses each one where it is written.
    func testYAML11BooleansAreReadWithAWarningAndRefusedWithStrict() throws {
        let text = """
        tosca_definitions_version: tosca_simple_yaml_1_3
        node_types:
          Loose:
            derived_from: tosca.nodes.Root
            properties:
              a: { type: string, required: no }
              b: { type: string, required: yes }
              c: { type: string, required: "no", default: x }
        """
        let repo = try ScratchRepository(["recipes/loose.yaml": text], withTypes: false)
        defer { repo.remove() }
        let r = try run(["validate"], in: repo.root)
        XCTAssertEqual(r.status, 1, "a quoted \"no\" is a string, not a boolean, in any YAML: \(r.out)")
        XCTAssertTrue(r.out.contains("recipes/loose.yaml:6:36: warning: \"no\" is read as false, as YAML 1.1 tools read it (and 1 more YAML 1.1 boolean in this file)"), r.out)
        XCTAssertTrue(r.out.contains("hint: write true or false (dte validate --strict refuses the YAML 1.1 forms)"), r.out)
        XCTAssertTrue(r.out.contains("recipes/loose.yaml:8:36: error: required must be true or false"), r.out)
        try text.replacingOccurrences(of: "required: \"no\"", with: "required: false").write(toFile: repo.root + "/recipes/loose.yaml", atomically: true, encoding: .utf8)
        let loose = try run(["validate"], in: repo.root)
        XCTAssertEqual(loose.status, 0, loose.out)
        XCTAssertEqual(loose.out.components(separatedBy: "as YAML 1.1 tools read it").count, 2, "one warning for the file, not one per value: \(loose.out)")
        let strict = try run(["validate", "--strict"], in: repo.root)
        XCTAssertEqual(strict.status, 1, strict.out)
        XCTAssertTrue(strict.out.contains("recipes/loose.yaml:6:36: error: required must be true or false"), strict.out)
        XCTAssertTrue(strict.out.contains("recipes/loose.yaml:7:36: error: required must be true or false"), strict.out)
        XCTAssertTrue(strict.out.contains("\"no\" is a boolean in YAML 1.1 only; write true or false"), strict.out)
    }

    /// TOSCA 1.0 templates name normative interfaces by their short names without a type: read as
    /// those interfaces with one warning per file; `--strict` requires the type.
    func testInterfacesNamedByTheirShortNamesAreReadWithAWarning() throws {
        let text = """
        tosca_definitions_version: tosca_simple_yaml_1_0
        node_types:
          Old:
            derived_from: tosca.nodes.SoftwareComponent
            interfaces:
              Standard:
                create: install.sh
        relationship_types:
          OldLink:
            derived_from: tosca.relationships.ConnectsTo
            interfaces:
              Configure:
                pre_configure_source: link.sh
              Mine:
                run: x.sh
        """
        let repo = try ScratchRepository(["recipes/old.yaml": text], withTypes: false)
        defer { repo.remove() }
        let r = try run(["validate"], in: repo.root)
        XCTAssertEqual(r.status, 1, "an interface that is not normative still needs its type: \(r.out)")
        XCTAssertTrue(r.out.contains("recipes/old.yaml:6:7: warning: interface \"Standard\" has no type and is read as tosca.interfaces.node.lifecycle.Standard, as TOSCA 1.0 tools read it (and 1 more interface like it in this file)"), r.out)
        XCTAssertTrue(r.out.contains("recipes/old.yaml:14:7: error: interface \"Mine\" has no \"type\""), r.out)
        try text.replacingOccurrences(of: "\n      Mine:\n        run: x.sh", with: "").write(toFile: repo.root + "/recipes/old.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try run(["validate"], in: repo.root).status, 0)
        let strict = try run(["validate", "--strict"], in: repo.root)
        XCTAssertEqual(strict.status, 1)
        XCTAssertTrue(strict.out.contains("recipes/old.yaml:6:7: error: interface \"Standard\" has no \"type\""), strict.out)
        XCTAssertTrue(strict.out.contains("add \"type: tosca.interfaces.node.lifecycle.Standard\""), strict.out)
    }

    func testJSONAndSARIFAreMachineReadable() throws {
        let repo = try ScratchRepository(["templates/t.yaml": twinHeader + "topology_template:\n  node_templates:\n    t: { type: dte.nodes.Twin }\n"])
        defer { repo.remove() }
        let j = try run(["validate", "--format", "json"], in: repo.root)
        XCTAssertEqual(j.status, 1)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [String: Any])
        XCTAssertEqual(report["valid"] as? Bool, false)
        let diags = try XCTUnwrap(report["diagnostics"] as? [[String: Any]])
        XCTAssertEqual(diags.first?["code"] as? String, "unknown-type")
        XCTAssertEqual(diags.first?["line"] as? Int, 5)

        let s = try run(["validate", "--format", "sarif"], in: repo.root)
        XCTAssertEqual(s.status, 1)
        let sarif = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(s.out.utf8)) as? [String: Any])
        XCTAssertEqual(sarif["version"] as? String, "2.1.0")
        let runs = try XCTUnwrap(sarif["runs"] as? [[String: Any]])
        let results = try XCTUnwrap(runs.first?["results"] as? [[String: Any]])
        XCTAssertEqual(results.first?["ruleId"] as? String, "unknown-type")
        XCTAssertEqual(results.first?["level"] as? String, "error")
        let loc = try XCTUnwrap((results.first?["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any])
        XCTAssertEqual((loc["artifactLocation"] as? [String: Any])?["uri"] as? String, "templates/t.yaml")
        XCTAssertEqual((loc["region"] as? [String: Any])?["startLine"] as? Int, 5)
    }

    func testUsageErrorsExit64() throws {
        XCTAssertEqual(try run(["validate", "--format", "xml"]).status, 64)
        XCTAssertEqual(try run(["validate", "--input", "novalue"]).status, 64)
        XCTAssertEqual(try run(["frobnicate"]).status, 64)
    }

    func testOutsideARepositoryTheMessageSaysWhatToDo() throws {
        let dir = NSTemporaryDirectory() + "dte-empty-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try run(["validate"], in: dir)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.out.contains("is not in a DTE repository (no dte.yaml here or above)"), r.out)
        XCTAssertTrue(r.out.contains("hint: run in a repository, pass -C DIR, or name the files to validate"), r.out)
    }

    func testExplicitPathValidatesThatFileWithItsImports() throws {
        let r = try run(["validate", "templates/demo.yaml"])
        XCTAssertEqual(r.status, 0, r.out)
        XCTAssertEqual(r.out.split(separator: "\n").last, "1 warning, no errors (2 files checked)", r.out)
        XCTAssertTrue(r.out.contains("warning: \"demo\": labels is declared but DTE does not act on it yet (the labels are not put on the components' pods)"), r.out)
    }

    func testShowPrintsTheResolvedModel() throws {
        let r = try run(["show", "--format", "json", "templates/demo.yaml"])
        XCTAssertEqual(r.status, 0, r.err)
        let model = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let nodes = try XCTUnwrap(model["node_templates"] as? [[String: Any]])
        XCTAssertTrue(nodes.contains { $0["name"] as? String == "demo" && ($0["types"] as? [String])?.contains("dte.nodes.DigitalTwin") == true })
        let text = try run(["show", "templates/demo.yaml"])
        XCTAssertTrue(text.out.contains("demo: dte.nodes.DigitalTwin"), text.out)
    }
}

/// `dte plan` and `dte state` against a state file of their own.
final class PlanCLITests: XCTestCase {
    func testPlanOnAnEmptyStateCreatesTheDemoTwinAndSaysWhy() throws {
        let state = NSTemporaryDirectory() + "dte-cli-state-" + UUID().uuidString + "/state.db"
        defer { try? FileManager.default.removeItem(atPath: (state as NSString).deletingLastPathComponent) }
        let r = try runDTE(["plan", "--site", "local", "--state", state, "--detailed-exitcode"], in: repositoryRoot)
        XCTAssertEqual(r.status, 2, r.out + r.err)
        XCTAssertTrue(r.out.contains("+   twin.demo.hello"), r.out)
        XCTAssertTrue(r.out.contains("placed on local: batch partition fits"), r.out)
        XCTAssertTrue(r.out.contains("Plan: 3 to create, 0 to update, 0 to replace, 0 to delete."), r.out)

        let j = try runDTE(["plan", "--site", "local", "--state", state, "--json"], in: repositoryRoot)
        XCTAssertEqual(j.status, 0, j.err)
        let plan = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [String: Any])
        XCTAssertEqual(plan["format_version"] as? String, "1.0")
        XCTAssertEqual((plan["state"] as? [String: Any])?["serial"] as? Int, 0)
        XCTAssertEqual((plan["changes"] as? [[String: Any]])?.map { $0["action"] as? String }, ["create", "create", "create"])

        let list = try runDTE(["state", "list", "--state", state], in: repositoryRoot)
        XCTAssertEqual(list.status, 0)
        XCTAssertTrue(list.out.contains("serial 0, 0 resources"), list.out)
        XCTAssertEqual(try runDTE(["state", "lock", "list", "--state", state], in: repositoryRoot).out, "no lock\n")
        let broken = try runDTE(["state", "lock", "break", "nope", "--state", state], in: repositoryRoot)
        XCTAssertEqual(broken.status, 1)
        XCTAssertTrue(broken.err.contains("no lock with id nope"), broken.err)
    }

    func testPlanRefusesAnUnknownSiteAndABadAddress() throws {
        let state = NSTemporaryDirectory() + "dte-cli-state-" + UUID().uuidString + "/state.db"
        defer { try? FileManager.default.removeItem(atPath: (state as NSString).deletingLastPathComponent) }
        let r = try runDTE(["plan", "--site", "mars", "--state", state], in: repositoryRoot)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("--site mars: no such site (sites: desy-condor, local, vega)"), r.err)
        XCTAssertEqual(try runDTE(["plan", "--target", "hello", "--state", state], in: repositoryRoot).status, 64)
    }
}
