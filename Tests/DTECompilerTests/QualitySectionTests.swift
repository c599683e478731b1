import DTECompiler
import DTEModel
import DTETestSupport
import Foundation
import XCTest

/// dte.yaml's `quality:` section is checked by `dte validate`, each problem located like the rest
/// of dte.yaml's checks; the quality gate reads the same checked values.
final class QualitySectionTests: XCTestCase {
    static let broken = """
    version: 1
    quality:
      timout: 30
      git_timeout: "60"
      output_limit: 10
      commands:
        QC.Sty:
          python: "flake8 ."
          Py thon: [x]
        QC.Sek:
          any: [x]
        QC.Uni:
          any: [make, { a: b }]

    """

    func testEveryProblemOfTheSectionIsALocatedError() throws {
        let repo = try ScratchRepository([:], config: Self.broken)
        defer { repo.remove() }
        let ds = errors(repo.compile())
        XCTAssertEqual(ds.map { "\($0.location) \($0.code) \($0.path ?? "")" }, [
            "dte.yaml:3:3 unknown-key quality.timout",
            "dte.yaml:4:16 invalid-timeout quality.git_timeout",
            "dte.yaml:5:17 invalid-output-limit quality.output_limit",
            "dte.yaml:8:15 expected-command quality.commands.QC.Sty.python",
            "dte.yaml:9:7 invalid-language quality.commands.QC.Sty.Py thon",
            "dte.yaml:10:5 unknown-criterion quality.commands.QC.Sek",
            "dte.yaml:13:19 expected-string quality.commands.QC.Uni.any[1]",
        ], describe(ds))
        XCTAssertEqual(ds[0].hint, "did you mean \"timeout\"? allowed keys: timeout, git_timeout, output_limit, commands")
        XCTAssertEqual(ds[1].message, "quality.git_timeout must be a number of seconds from 1 to 3600")
        XCTAssertEqual(ds[2].message, "quality.output_limit must be a number of bytes from 1024 to 16777216")
        XCTAssertEqual(ds[3].message, "quality.commands.QC.Sty.python must be a list of 1 to 256 strings: the program and its arguments")
        XCTAssertEqual(ds[5].hint, "did you mean \"QC.Sec\"? criteria checked by a command: QC.Sty, QC.Sec, QC.Uni")
    }

    func testAQualitySectionThatIsNotAMapIsOneError() throws {
        let repo = try ScratchRepository([:], config: "version: 1\nquality: [flake8]\n")
        defer { repo.remove() }
        XCTAssertEqual(errors(repo.compile()).map { "\($0.location) \($0.code)" }, ["dte.yaml:2:10 expected-map"])
    }

    func testAValidSectionIsReadAndRaisesNothing() throws {
        let config = """
        version: 1
        quality:
          timeout: 30
          output_limit: 2048
          commands:
            QC.Sty: { python: [flake8, --max-line-length=100, .] }
            QC.Uni: { any: [make, test] }

        """
        let repo = try ScratchRepository([:], config: config)
        defer { repo.remove() }
        let c = repo.compile()
        XCTAssertTrue(c.diagnostics.isEmpty, describe(c.diagnostics))
        let q = try XCTUnwrap(c.config?.quality)
        XCTAssertEqual(q.commandTimeout, 30)
        XCTAssertEqual(q.gitTimeout, 120, "the default")
        XCTAssertEqual(q.outputLimit, 2048)
        XCTAssertEqual(q.commands, ["QC.Sty": ["python": ["flake8", "--max-line-length=100", "."]], "QC.Uni": ["any": ["make", "test"]]])
    }

    func testValidateExitsOneNamingTheLineColumnAndField() throws {
        let repo = try ScratchRepository([:], config: Self.broken)
        defer { repo.remove() }
        let r = try runDTE(["validate"], in: repo.root)
        XCTAssertEqual(r.status, 1, r.out + r.err)
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("dte.yaml:4:16: error: quality.git_timeout must be a number of seconds from 1 to 3600"), r.out)
        XCTAssertTrue(lines.contains("dte.yaml:10:5: error: quality.commands.QC.Sek: not a criterion checked by a command"), r.out)
        XCTAssertTrue(lines.last?.hasPrefix("7 errors") == true, r.out)
    }
}
