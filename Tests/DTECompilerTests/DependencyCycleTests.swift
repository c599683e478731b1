import DTECompiler
import DTEModel
import DTETestSupport
import Foundation
import XCTest

/// The order of components (from `after` and from `get_attribute`) is checked once, by the
/// compiler: `dte validate` reports every cycle at the places that make it.
final class DependencyCycleTests: XCTestCase {
    /// Twin `t` with `prep` (line 7) and `model` (line 10); their properties and requirements as given.
    func twin(prep: String = "{ image: docker://x:1 }", prepNeeds: String = "",
              model: String = "{ image: docker://x:1 }", modelNeeds: String = "") -> String {
        twinHeader + """
        topology_template:
          node_templates:
            t: { type: dte.nodes.DigitalTwin, properties: { project: p, source: https://example.org/t } }
            prep:
              type: dte.nodes.BatchJob
              properties: \(prep)
              requirements: [ { twin: t }\(prepNeeds) ]
            model:
              type: dte.nodes.BatchJob
              properties: \(model)
              requirements: [ { twin: t }\(modelNeeds) ]
        """
    }

    func cycleErrors(_ text: String) throws -> [Diagnostic] {
        let repo = try ScratchRepository(["templates/t.yaml": text])
        defer { repo.remove() }
        let c = repo.compile()
        let cycles = errors(c).filter { $0.code == "dependency-cycle" }
        XCTAssertEqual(cycles.count, errors(c).count, "nothing but the cycle is wrong: \(describe(c.diagnostics))")
        return cycles
    }

    func testAComponentReadingItsOwnAttributeIsALocatedError() throws {
        let ds = try cycleErrors(twin(model: "{ image: docker://x:1, env: { SELF: { get_attribute: [model, job_id] } } }"))
        XCTAssertEqual(ds.count, 1, describe(ds))
        let d = try XCTUnwrap(ds.first)
        XCTAssertEqual(d.message, "\"model\" reads its own attribute in env.SELF, so it can never start")
        XCTAssertEqual(d.file, "templates/t.yaml")
        XCTAssertEqual(d.line, 12, "model's properties")
        XCTAssertEqual(d.column, 47, "the env value")
        XCTAssertEqual(d.path, "topology_template.node_templates.model.properties.env.SELF")
        XCTAssertTrue(d.hint?.contains("get_attribute") == true, d.hint ?? "")
    }

    func testTwoComponentsReadingEachOthersAttributesAreReportedAtBothPlaces() throws {
        let ds = try cycleErrors(twin(prep: "{ image: docker://x:1, command: [run, { get_attribute: [model, job_id] }] }",
                                      model: "{ image: docker://x:1, env: { PREP: { concat: [job-, { get_attribute: [prep, job_id] }] } } }"))
        XCTAssertEqual(ds.map(\.message), [
            "\"prep\" reads an attribute of \"model\" in command.1, but the order is a cycle: model → prep → model",
            "\"model\" reads an attribute of \"prep\" in env.PREP, but the order is a cycle: model → prep → model",
        ], describe(ds))
        XCTAssertEqual(ds.map(\.line), [8, 12])
    }

    func testAnAfterAndAnAttributeMakeOneCycle() throws {
        let ds = try cycleErrors(twin(prepNeeds: ", { after: model }",
                                      model: "{ image: docker://x:1, env: { PREP: { get_attribute: [prep, exit_code] } } }"))
        XCTAssertEqual(ds.map(\.message), [
            "\"prep\" runs after \"model\", but the order is a cycle: model → prep → model",
            "\"model\" reads an attribute of \"prep\" in env.PREP, but the order is a cycle: model → prep → model",
        ], describe(ds))
        XCTAssertEqual(ds.first?.line, 9, "the after requirement")
    }

    func testAfterCyclesAreReportedAtEachRequirement() throws {
        let ds = try cycleErrors(twin(prepNeeds: ", { after: model }", modelNeeds: ", { after: prep }"))
        XCTAssertEqual(ds.map(\.line), [9, 13])
        XCTAssertEqual(ds.first?.message, "\"prep\" runs after \"model\", but the order is a cycle: model → prep → model")
        XCTAssertEqual(ds.first?.hint, "remove one of the after requirements in the cycle")
    }

    func testReadingAnotherComponentsAttributeOrdersWithoutACycle() throws {
        let repo = try ScratchRepository(["templates/t.yaml": twin(model: "{ image: docker://x:1, env: { PREP: { get_attribute: [prep, job_id] } } }")])
        defer { repo.remove() }
        let c = repo.compile()
        XCTAssertTrue(errors(c).isEmpty, describe(c.diagnostics))
        let graph = DependencyGraph(model: c.model)
        XCTAssertEqual(graph.dependencies(of: "model"), ["prep"])
        XCTAssertEqual(graph.edges(from: "model").map(\.reason), [.attribute(path: "env.PREP")])
        XCTAssertEqual(graph.dependencies(of: "prep"), [])
    }

    func testAnAttributeThatNamesAKnownPropertyOrdersNothing() throws {
        // get_attribute of a property with a value is answered by the compiler: no order, no cycle
        let ds = try ScratchRepository(["templates/t.yaml": twin(model: "{ image: docker://x:1, env: { ME: { get_attribute: [model, image] } } }")])
        defer { ds.remove() }
        let c = ds.compile()
        XCTAssertTrue(errors(c).isEmpty, describe(c.diagnostics))
        XCTAssertEqual(DependencyGraph(model: c.model).dependencies(of: "model"), [])
    }

    func testValidateExitsOneWithTheLocatedCycle() throws {
        let repo = try ScratchRepository(["templates/t.yaml": twin(model: "{ image: docker://x:1, env: { SELF: { get_attribute: [model, job_id] } } }")])
        defer { repo.remove() }
        let r = try runDTE(["validate"], in: repo.root)
        XCTAssertEqual(r.status, 1, r.out + r.err)
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("templates/t.yaml:12:47: error: \"model\" reads its own attribute in env.SELF, so it can never start"), r.out)
        XCTAssertTrue(lines.contains("  at: topology_template.node_templates.model.properties.env.SELF"), r.out)
        XCTAssertEqual(lines.last, "1 error in 1 file (2 files checked)", r.out)
    }
}
