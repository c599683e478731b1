import Foundation
import XCTest
@testable import DTECompiler
import DTEModel

/// The negative corpus: every file in `Fixtures/invalid/` is a TOSCA file with exactly one defect.
/// Its first lines say what is wrong and which diagnostics `dte validate` must report:
///
///     # defect: <one sentence>
///     # expect: <code> @ <line>[:<column>]
///     # strict: true        (optional: a defect only `dte validate --strict` refuses; by default
///                          it is accepted with a warning, as other TOSCA tools accept it)
///
/// (`# expect:` may repeat.) Files in `Fixtures/invalid/support/` are imported by fixtures and are
/// not fixtures themselves.
final class NegativeCorpusTests: XCTestCase {
    /// At least this many fixtures must be present.
    static let minimumFixtures = 70
    /// One defect gives few errors; more means a cascade.
    static let maximumErrors = 3

    struct Expectation: CustomStringConvertible {
        var code: String
        var line: Int
        var column: Int?

        var description: String { "\(code) @ \(line)" + (column.map { ":\($0)" } ?? "") }
    }

    struct Fixture {
        var name: String
        var path: String
        var defect: String?
        var expectations: [Expectation]
        /// `# expect:` lines that could not be read.
        var malformed: [String]
        /// `# strict: true`: checked as `dte validate --strict` checks.
        var strict = false
    }

    // MARK: - locations

    static let testsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let fixturesFolder = testsFolder.appendingPathComponent("Fixtures/invalid", isDirectory: true)
    /// Tests/DTECompilerTests → Tests → the repository root.
    static let repositoryRoot = testsFolder.deletingLastPathComponent().deletingLastPathComponent()

    // MARK: - reading fixtures

    static func fixtureNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: fixturesFolder.path)
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
            .sorted()
    }

    static func parseExpectation(_ text: String) -> Expectation? {
        // "<code> @ <line>[:<column>]"
        let parts = text.split(separator: "@", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, !parts[0].isEmpty, !parts[0].contains(" ") else { return nil }
        let position = parts[1].split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(position.count), let line = Int(position[0]), line > 0 else { return nil }
        var column: Int?
        if position.count == 2 {
            guard let c = Int(position[1]), c > 0 else { return nil }
            column = c
        }
        return Expectation(code: parts[0], line: line, column: column)
    }

    static func load(_ name: String) throws -> Fixture {
        let url = fixturesFolder.appendingPathComponent(name)
        let text = try String(contentsOf: url, encoding: .utf8)
        var fixture = Fixture(name: name, path: url.path, defect: nil, expectations: [], malformed: [])
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard line.hasPrefix("#") else { break }  // the header is the leading comment block
            let body = line.dropFirst().trimmingCharacters(in: .whitespaces)
            if body.hasPrefix("defect:") {
                fixture.defect = body.dropFirst("defect:".count).trimmingCharacters(in: .whitespaces)
            } else if body.hasPrefix("strict:") {
                fixture.strict = body.dropFirst("strict:".count).trimmingCharacters(in: .whitespaces) == "true"
            } else if body.hasPrefix("expect:") {
                let spec = body.dropFirst("expect:".count).trimmingCharacters(in: .whitespaces)
                if let e = parseExpectation(spec) { fixture.expectations.append(e) } else { fixture.malformed.append(spec) }
            }
        }
        return fixture
    }

    static func describe(_ diagnostics: [Diagnostic]) -> String {
        if diagnostics.isEmpty { return "    (no diagnostics)" }
        return diagnostics.map { d in
            "    \(d.severity.rawValue) \(d.code) at \(d.location): \(d.message)"
        }.joined(separator: "\n")
    }

    static func isInFixture(_ d: Diagnostic, _ name: String) -> Bool {
        guard let file = d.file else { return false }
        return file == name || file.hasSuffix("/" + name)
    }

    // MARK: - tests

    func testCorpusIsLargeAndWellFormed() throws {
        let names = try Self.fixtureNames()
        XCTAssertGreaterThanOrEqual(names.count, Self.minimumFixtures,
                                    "the negative corpus in \(Self.fixturesFolder.path) has only \(names.count) fixtures")
        var numbers: [Substring: String] = [:]
        for name in names {
            let number = name.prefix { $0.isNumber }
            XCTAssertTrue(number.count == 3 && name.dropFirst(3).hasPrefix("-"),
                          "\(name): fixture names are NNN-short-name.yaml")
            if let other = numbers.updateValue(name, forKey: number) {
                XCTFail("\(name) and \(other) have the same number")
            }
            let fixture = try Self.load(name)
            XCTAssertNotNil(fixture.defect, "\(name): no \"# defect:\" line")
            XCTAssertFalse(fixture.expectations.isEmpty, "\(name): no \"# expect: <code> @ <line>[:<column>]\" line")
            XCTAssertTrue(fixture.malformed.isEmpty, "\(name): unreadable expect line(s): \(fixture.malformed)")
        }
    }

    func testEveryFixtureReportsItsDefect() throws {
        let names = try Self.fixtureNames()
        XCTAssertFalse(names.isEmpty, "no fixtures in \(Self.fixturesFolder.path)")
        for name in names {
            let fixture = try Self.load(name)
            var options = CheckOptions()
            options.strict = fixture.strict
            let compilation = Compiler.compile(.files([fixture.path]), options: options, workingDirectory: Self.repositoryRoot.path)
            if fixture.strict {
                // without --strict the same file is accepted, with a warning at the same place
                let loose = Compiler.compile(.files([fixture.path]), workingDirectory: Self.repositoryRoot.path)
                for e in fixture.expectations {
                    XCTAssertTrue(loose.diagnostics.contains { $0.severity == .warning && $0.line == e.line && Self.isInFixture($0, name) },
                                  "\(name): without --strict, a warning at line \(e.line): \(Self.describe(loose.diagnostics))")
                }
                XCTAssertFalse(loose.diagnostics.contains { $0.severity == .error }, "\(name): accepted without --strict: \(Self.describe(loose.diagnostics))")
                for _ in [0] {
                }
            }
            let errors = compilation.diagnostics.filter { $0.severity == .error }
            let shown = Self.describe(compilation.diagnostics)

            for e in fixture.expectations {
                let found = errors.contains { d in
                    d.code == e.code && d.line == e.line && (e.column == nil || d.column == e.column) && Self.isInFixture(d, name)
                }
                XCTAssertTrue(found, """
                    \(name): expected error \(e) in \(name) — \(fixture.defect ?? "?")
                    dte reported:
                    \(shown)
                    """)
            }
            XCTAssertLessThanOrEqual(errors.count, Self.maximumErrors, """
                \(name): one defect gave \(errors.count) errors (a cascade) — \(fixture.defect ?? "?")
                dte reported:
                \(shown)
                """)
        }
    }
}
