import DTECompiler
import DTEModel
import XCTest

/// The checker's phases as a user sees them: a topology large enough to be checked over all
/// cores reports exactly what a small one would, once, where it is written, and the model keeps
/// the file's order with every requirement resolved.
final class CheckerPhaseTests: XCTestCase {
    /// A twin of `count` batch jobs, each after the previous one; `broken` jobs get an unknown
    /// property and `dangling` jobs a requirement on a node template that does not exist.
    func twin(_ count: Int, broken: Set<Int> = [], dangling: Set<Int> = []) -> (text: String, lines: [Int: Int]) {
        var text = twinHeader + """
        topology_template:
          inputs:
            memory: { type: scalar-unit.size, default: 2 GB }
          node_templates:
            flood:
              type: dte.nodes.DigitalTwin
              properties: { project: flood-dt, source: https://github.com/example/flood }

        """
        var lines: [Int: Int] = [:]
        for i in 0..<count {
            text += "    job-\(i):\n      type: dte.nodes.BatchJob\n      properties:\n"
            text += "        image: docker://ghcr.io/example/job:1.0\n        command: [run, \"\(i)\"]\n"
            text += "        memory: { get_input: memory }\n"
            if broken.contains(i) {
                lines[i] = text.split(separator: "\n", omittingEmptySubsequences: false).count
                text += "        colour: blue\n"
            }
            let after = dangling.contains(i) ? "job-missing" : i > 0 ? "job-\(i - 1)" : nil
            text += "      requirements:\n        - twin: flood\n" + (after.map { "        - after: \($0)\n" } ?? "")
        }
        return (text, lines)
    }

    func testALargeTopologyReportsEachProblemOnceWhereItIsWritten() throws {
        let count = 2_400
        let (text, lines) = twin(count, broken: [7, 1_333, 2_399], dangling: [1_800])
        let repo = try ScratchRepository(["templates/big.yaml": text])
        defer { repo.remove() }
        let c = repo.compile()
        let found = errors(c)
        XCTAssertEqual(found.map(\.code).sorted(), ["unknown-node", "unknown-property", "unknown-property", "unknown-property"], describe(found))
        for (i, line) in lines {
            XCTAssertTrue(found.contains { $0.code == "unknown-property" && $0.line == line && $0.message.contains("\"job-\(i)\"") },
                          "job-\(i) at line \(line): \(describe(found))")
        }
        XCTAssertTrue(found.contains { $0.code == "unknown-node" && $0.message.contains("job-missing") && $0.file == "templates/big.yaml" })
        // the model: every node in the file's order, each job's requirements resolved to their targets
        let jobs = c.model.nodes.filter { $0.name.hasPrefix("job-") }
        XCTAssertEqual(jobs.map(\.name), (0..<count).map { "job-\($0)" })
        XCTAssertEqual(c.model.node("job-900")?.requirements.map(\.target), ["flood", "job-899"])
        XCTAssertEqual(c.model.node("job-1800")?.requirements.map(\.target), ["flood", nil])
        XCTAssertEqual(c.model.node("job-2000")?.property("memory")?.display, "2 GB")
    }

    func testALargeAndASmallTopologySayTheSameOfTheSameProblem() throws {
        let small = try ScratchRepository(["templates/t.yaml": twin(3, broken: [1]).text])
        let large = try ScratchRepository(["templates/t.yaml": twin(2_000, broken: [1]).text])
        defer { small.remove(); large.remove() }
        let a = errors(small.compile()), b = errors(large.compile())
        XCTAssertEqual(a.count, 1, describe(a))
        XCTAssertEqual(a.map { "\($0.location) \($0.code) \($0.message)" }, b.map { "\($0.location) \($0.code) \($0.message)" })
    }
}
