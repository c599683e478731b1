import DTETestSupport
import Foundation
import XCTest

/// `dte graph`: the twins' dependency graph as DOT and as a tree.
final class GraphCLITests: XCTestCase {
    func testDOTOfTheShippedRepositoryHasTheFloodOrderAndParses() throws {
        let r = try runDTE(["graph"], in: repositoryRoot)
        XCTAssertEqual(r.status, 0, r.err)
        let dot = r.out
        XCTAssertTrue(dot.hasPrefix("digraph \"dte\" {\n"), dot)
        XCTAssertTrue(dot.hasSuffix("}\n"), dot)
        for twin in ["demo", "flood", "lattice-qcd", "virgo-noise"] {
            XCTAssertTrue(dot.contains("  subgraph \"cluster_\(twin)\" {\n"), twin)
        }
        // the flood twin runs ingest → preprocess → model → alert, and its data flows alongside
        let floodOrder = [
            "  \"flood-ingest\" -> \"flood-preprocess\" [label=\"after\"];",
            "  \"flood-preprocess\" -> \"flood-model\" [label=\"after\"];",
            "  \"flood-model\" -> \"flood-alert\" [label=\"after\"];",
            "  \"flood-ingest\" -> \"flood-forcing\" [label=\"produces\", style=dashed];",
            "  \"flood-maps\" -> \"flood-verify\" [label=\"uses\", style=dashed];",
        ]
        let lines = Set(dot.split(separator: "\n").map(String.init))
        for edge in floodOrder { XCTAssertTrue(lines.contains(edge), edge + "\n" + dot) }
        XCTAssertFalse(dot.contains("\"flood-verify\" [label=\"after\"]"), "flood-verify waits for nothing")
        XCTAssertTrue(dot.contains("\"flood-model\" [label=\"flood-model\\nrecipes.SfincsRun\\non vega/gpu\"];"), dot)

        // structure: every edge joins declared nodes; braces balance; the same output every time
        let declared = Set(lines.compactMap { l -> String? in
            guard l.hasSuffix("];"), !l.contains(" -> "), let q = l.firstIndex(of: "\""), let end = l[l.index(after: q)...].firstIndex(of: "\"") else { return nil }
            return String(l[l.index(after: q)..<end])
        })
        for l in lines where l.contains(" -> ") {
            let names = l.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
            XCTAssertTrue(declared.contains(names[0]) && declared.contains(names[1]), l)
        }
        XCTAssertEqual(dot.filter { $0 == "{" }.count, dot.filter { $0 == "}" }.count)
        XCTAssertEqual(try runDTE(["graph"], in: repositoryRoot).out, dot, "deterministic")
        let dotProgram = try runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["sh", "-c", "command -v dot"], in: repositoryRoot)
        if dotProgram.status == 0 {
            let file = NSTemporaryDirectory() + "dte-graph-\(UUID().uuidString).dot"
            try dot.write(toFile: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: file) }
            let parsed = try runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["dot", "-Tplain", file], in: repositoryRoot)
            XCTAssertEqual(parsed.status, 0, parsed.err)
        }
    }

    func testTextTreeOfOneTwinShowsOrderPlacementAndData() throws {
        let r = try runDTE(["graph", "--format", "text", "--twin", "flood"], in: repositoryRoot)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, """
            twin flood (project flood-dt)
            ├── flood-ingest: recipes.ScheduledIngest; on vega/cpu; produces flood-forcing
            │   └── flood-preprocess: dte.nodes.BatchJob; on vega/cpu; uses flood-forcing
            │       └── flood-model: recipes.SfincsRun; on vega/gpu; produces flood-maps; uses flood-dem
            │           └── flood-alert: dte.nodes.BatchJob; on vega/cpu; uses flood-maps
            └── flood-verify: dte.nodes.BatchJob; on vega/cpu; uses flood-maps
            data: flood-dem (dte.nodes.Dataset), flood-forcing (dte.nodes.Dataset), flood-maps (dte.nodes.Dataset)

            """)
        let dot = try runDTE(["graph", "--twin", "flood"], in: repositoryRoot).out
        XCTAssertFalse(dot.contains("demo"), dot)
    }

    func testAComponentAfterTwoOthersIsShownUnderEachAndUnplacedWithoutSites() throws {
        let job = { (name: String, after: [String]) in
            "    \(name):\n      type: dte.nodes.BatchJob\n      properties: { image: docker://x:1 }\n"
                + "      requirements: [ { twin: t }\(after.map { ", { after: \($0) }" }.joined()) ]\n"
        }
        let text = twinHeader + "topology_template:\n  node_templates:\n"
            + "    t: { type: dte.nodes.DigitalTwin, properties: { project: p, source: https://example.org/t } }\n"
            + job("fetch", []) + job("left", ["fetch"]) + job("right", ["fetch"]) + job("join", ["left", "right"])
        let repo = try ScratchRepository(["templates/t.yaml": text])
        defer { repo.remove() }
        let r = try runDTE(["graph", "--format", "text"], in: repo.root)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, """
            twin t (project p)
            └── fetch: dte.nodes.BatchJob; not placed
                ├── left: dte.nodes.BatchJob; not placed
                │   └── join: dte.nodes.BatchJob; not placed; after left, right
                └── right: dte.nodes.BatchJob; not placed
                    └── join (after left, right; shown above)

            """)
        XCTAssertFalse(FileManager.default.fileExists(atPath: repo.root + "/.dte"), "graph never creates a state")
    }

    func testUnknownTwinAndUndrawableOutputAreErrors() throws {
        let r = try runDTE(["graph", "--twin", "flod"], in: repositoryRoot)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("--twin flod: no such twin; did you mean flood? twins: demo, flood, lattice-qcd, virgo-noise"), r.err)
        XCTAssertEqual(try runDTE(["graph", "--format", "svg"], in: repositoryRoot).status, 64)

        let folder = NSTemporaryDirectory() + "dte-graph-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let saved = try runDTE(["graph", "-o", folder + "/g.dot", "--twin", "demo"], in: repositoryRoot)
        XCTAssertEqual(saved.status, 0, saved.err)
        XCTAssertEqual(try String(contentsOfFile: folder + "/g.dot", encoding: .utf8),
                       try runDTE(["graph", "--twin", "demo"], in: repositoryRoot).out)
        let drawn = try runDTE(["graph", "-o", folder + "/g.svg"], in: repositoryRoot)
        if try runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["sh", "-c", "command -v dot"], in: folder).status == 0 {
            XCTAssertEqual(drawn.status, 0, drawn.err)
            XCTAssertTrue(try String(contentsOfFile: folder + "/g.svg", encoding: .utf8).contains("<svg"))
        } else {
            XCTAssertEqual(drawn.status, 1)
            XCTAssertTrue(drawn.err.contains("needs Graphviz's dot, which is not installed; write DOT with -o graph.dot"), drawn.err)
        }
    }
}
