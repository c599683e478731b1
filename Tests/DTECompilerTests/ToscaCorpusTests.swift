import DTETestSupport
import Foundation
import XCTest

/// The ecosystem's real templates (the project notes' `corpus/tosca`, next to the repository when
/// present): every template tosca-parser accepts should load in DTE, and the one it wrongly accepts
/// must stay rejected. Until all load, the number that do may only grow.
final class ToscaCorpusTests: XCTestCase {
    /// Templates of the corpus that load today (issue "Bring your TOSCA"); raise it as causes are fixed.
    static let loading = 68

    func testTheCorpusLoadsNoFewerTemplatesThanBefore() throws {
        let corpus = URL(fileURLWithPath: packageRoot).deletingLastPathComponent().appendingPathComponent("shared/corpus/tosca").path
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
}
