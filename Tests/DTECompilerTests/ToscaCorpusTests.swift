import DTETestSupport
import Foundation
import XCTest

/// The ecosystem's real templates (the project notes' `corpus/tosca`, next to the repository when
/// present): every template tosca-parser accepts should load in DTE, and the one it wrongly accepts
/// must stay rejected. Until all load, the number that do may only grow.
final class ToscaCorpusTests: XCTestCase {
    /// Templates of the corpus that load today (issue "Bring your TOSCA"): all that tosca-parser
    /// accepts but `wronglyAccepted`.
    static let loading = 94
    /// The template tosca-parser accepts although it calls get_input on inputs its topology does not
    /// declare (in a policy's properties, where tosca-parser does not look; TOSCA 1.3 §4.4.1).
    static let wronglyAccepted = "indigo-dc+tosca-types/examples/cellar_webapp_mem_aws.yaml"

    var corpus: String {
        URL(fileURLWithPath: packageRoot).deletingLastPathComponent().appendingPathComponent("shared/corpus/tosca").path
    }

    func testTheCorpusLoadsNoFewerTemplatesThanBefore() throws {
        let script = corpus + "/check.sh"
        guard FileManager.default.isExecutableFile(atPath: script) else {
            throw XCTSkip("no TOSCA corpus next to the repository (\(corpus))")
        }
        let r = try runCommand(URL(fileURLWithPath: script), [builtExecutable("dte").path], in: corpus)
        let tally = try XCTUnwrap(r.out.split(separator: "\n").last { $0.hasPrefix("tosca corpus: ") }, r.out + r.err)
        let numbers = tally.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        XCTAssertEqual(numbers.count, 2, String(tally))
        XCTAssertGreaterThanOrEqual(numbers.first ?? 0, Self.loading, "fewer corpus templates load than before:\n\(r.out)")
        XCTAssertFalse(r.out.contains("want 1"), "a template tosca-parser wrongly accepts is accepted by DTE too:\n\(r.out)")
    }

    func testTheTemplateToscaParserWronglyAcceptsIsRejectedWhereItCallsAnUndeclaredInput() throws {
        guard FileManager.default.fileExists(atPath: corpus + "/" + Self.wronglyAccepted) else {
            throw XCTSkip("no TOSCA corpus next to the repository (\(corpus))")
        }
        let r = try runCommand(builtExecutable("dte"), ["validate", "--format", "json", Self.wronglyAccepted], in: corpus)
        XCTAssertEqual(r.status, 1, r.out + r.err)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let errors = (report["diagnostics"] as? [[String: Any]] ?? []).filter { $0["severity"] as? String == "error" }
        XCTAssertEqual(errors.map { $0["code"] as? String }, ["unknown-input", "unknown-input", "unknown-input"], r.out)
        for e in errors {
            XCTAssertEqual(e["file"] as? String, Self.wronglyAccepted)
            XCTAssertNotNil(e["line"] as? Int)
            XCTAssertNotNil(e["column"] as? Int)
        }
    }
}
