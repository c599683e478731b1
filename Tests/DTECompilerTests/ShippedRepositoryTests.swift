import DTECompiler
import DTEModel
import DTETestSupport
import Foundation
import XCTest

/// The repository DTE ships (sites/, templates/, recipes/) is what users copy: it must be valid,
/// in DTE and in other TOSCA tools.
final class ShippedRepositoryTests: XCTestCase {
    func testEveryShippedFileValidates() {
        let c = Compiler.compile(.repository("."), workingDirectory: repositoryRoot)
        // only warnings about what DTE does not act on yet (docs/types.md lists them)
        XCTAssertEqual(c.diagnostics.filter { $0.code != "not-enforced" || $0.severity != .warning }.count, 0, describe(c.diagnostics))
        for folder in ["sites", "templates", "recipes"] {
            XCTAssertTrue(c.files.contains { $0.hasPrefix(folder + "/") }, "no file of \(folder)/ was read: \(c.files)")
        }
    }

    func testEachShippedFileValidatesOnItsOwn() throws {
        let config = RepositoryConfig(root: repositoryRoot)
        let files = config.sourceFiles()
        XCTAssertGreaterThanOrEqual(files.count, 12)
        for f in files {
            let c = Compiler.compile(.files([f]), workingDirectory: repositoryRoot)
            XCTAssertFalse(c.diagnostics.hasErrors, "\(f):\n" + describe(c.diagnostics))
        }
    }

    func testShippedExamplesHaveWhatTheJourneysPromise() throws {
        let c = Compiler.compile(.repository("."), workingDirectory: repositoryRoot)
        let sites = c.model.nodes.filter { $0.isA("dte.nodes.Site") }
        XCTAssertGreaterThanOrEqual(sites.count, 3)
        XCTAssertTrue(sites.contains { $0.isA("dte.nodes.Site.HTCondor") })
        let local = try XCTUnwrap(c.model.node("local"))
        XCTAssertEqual(local.property("agent")?["endpoint"], .string("http://127.0.0.1:4555"))
        let twins = c.model.nodes.filter { $0.isA("dte.nodes.DigitalTwin") }.map(\.name)
        for twin in ["demo"] { XCTAssertTrue(twins.contains(twin), "\(twins)") }
        XCTAssertGreaterThanOrEqual(twins.count, 4)
        let recipes = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/recipes")
        XCTAssertGreaterThanOrEqual(recipes.count, 4)
    }

    /// Other TOSCA tools (the Infrastructure Manager, the PaaS Orchestrator) parse with
    /// OpenStack's tosca-parser; every shipped file must load there too.
    func testShippedFilesLoadInToscaParser() throws {
        let r = try runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["python3", repositoryRoot + "/scripts/toscaparser_check.py"],
                               in: repositoryRoot)
        let text = r.out + r.err
        XCTAssertEqual(r.status, 0, text)
        XCTAssertGreaterThanOrEqual(text.split(separator: "\n").filter { $0.hasPrefix("ok ") }.count, 12, text)
    }
}
