import DTEQuality
import DTETestSupport
import Foundation
import XCTest

/// The JSON report has SQAaaS's assessment-output shape, and `dte quality` prints it with the
/// documented exit statuses.
final class ReportShapeTests: XCTestCase {
    var repos: [TestRepository] = []
    override func tearDown() { repos.forEach { $0.remove() } }

    func object(_ json: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    func testTheJSONFollowsTheAssessmentOutputOfTheSQAaaSAPI() async throws {
        let repo = try TestRepository(Fixture.bronze, tags: ["v1.0.0"])
        repos.append(repo)
        let report = try await assess(repo.url, root: repo.folder, settings: QualitySettings())
        let o = try object(report.json())
        XCTAssertEqual(o["version"] as? String, QualityReport.specVersion)
        XCTAssertEqual(o["badge_status"] as? String, "bronze")
        let lic = try XCTUnwrap((o["report"] as? [String: Any])?["QC.Lic"] as? [String: Any])
        XCTAssertEqual(lic["valid"] as? Bool, true)
        XCTAssertEqual(lic["filtered_reason"] as? [String], [])
        let lic01 = try XCTUnwrap((lic["subcriteria"] as? [String: Any])?["QC.Lic01"] as? [String: Any])
        XCTAssertEqual(lic01["valid"] as? Bool, true)
        XCTAssertNotNil(lic01["description"] as? String)
        XCTAssertNotNil(lic01["hint"] as? String)
        XCTAssertNotNil(lic01["required_for_next_level_badge"] as? Bool)
        let evidence = try XCTUnwrap((lic01["evidence"] as? [[String: Any]])?.first)
        XCTAssertEqual(evidence["valid"] as? Bool, true)
        XCTAssertEqual(evidence["message"] as? String, "LICENSE: MIT (from the licence text)")
        let coverage = try XCTUnwrap(lic["coverage"] as? [String: Any])
        XCTAssertEqual(coverage["total_subcriteria"] as? Int, 3)
        XCTAssertEqual(coverage["success_subcriteria"] as? Int, 3)
        let sty = try XCTUnwrap((o["report"] as? [String: Any])?["QC.Sty"] as? [String: Any])
        XCTAssertEqual(sty["valid"] as? Bool, false)
        XCTAssertEqual((sty["filtered_reason"] as? [String])?.count, 1)
        let sty01 = try XCTUnwrap((sty["subcriteria"] as? [String: Any])?["QC.Sty01"] as? [String: Any])
        XCTAssertEqual(sty01["required_for_next_level_badge"] as? Bool, true, "silver is next and needs QC.Sty")
        let criteria = try XCTUnwrap(((o["badge"] as? [String: Any])?["software"] as? [String: Any])?["criteria"] as? [String: Any])
        XCTAssertEqual(Set(criteria.keys), ["bronze", "silver", "gold"])
        let silver = try XCTUnwrap(criteria["silver"] as? [String: [String]])
        XCTAssertEqual(silver["to_fulfill"], ["QC.Acc", "QC.Lic", "QC.Met", "QC.Doc", "QC.Sty", "QC.Sec", "QC.Ver"])
        XCTAssertEqual(silver["missing"], ["QC.Sty", "QC.Sec"])
        XCTAssertEqual(silver["fulfilled"], ["QC.Acc", "QC.Lic", "QC.Met", "QC.Doc", "QC.Ver"])
        let repository = try XCTUnwrap((o["repository"] as? [[String: Any]])?.first)
        XCTAssertEqual(repository["url"] as? String, repo.url)
        XCTAssertEqual(repository["tag"] as? String, "v1.0.0")
        XCTAssertEqual((repository["commit"] as? String)?.count, 40)
        // The report reads back as it was written (the same type reads a service's answer).
        XCTAssertEqual(try JSONDecoder().decode(QualityReport.self, from: Data(report.json().utf8)), report)
    }

    func testTheCommandPrintsJSONAndExitsZeroWhateverTheBadge() throws {
        let repo = try TestRepository(["flood.py": Fixture.code])
        repos.append(repo)
        let r = try runDTE(["quality", repo.url, "--json"], in: repo.folder)
        XCTAssertEqual(r.status, 0, r.err)
        let o = try object(r.out)
        XCTAssertTrue(o.keys.contains("badge_status"))
        XCTAssertTrue(o["badge_status"] is NSNull)
    }

    func testTheCommandReadsTheCommandsFromDteYamlAndPrintsTheBadgeForAPerson() throws {
        var files = Fixture.gold
        files["dte.yaml"] = Fixture.dteYAML
        let repo = try TestRepository(files, tags: ["v3.1.4"])
        repos.append(repo)
        let r = try runDTE(["quality", "."], in: repo.folder)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("Badge: gold"), r.out)
        XCTAssertTrue(r.out.contains("✓ QC.Uni"), r.out)
        XCTAssertTrue(r.out.contains("tag v3.1.4"), r.out)
    }

    func testABadSourceIsAUsageErrorNamingTheScheme() throws {
        let r = try runDTE(["quality", "ftp://example.org/flood.git"], in: NSTemporaryDirectory())
        XCTAssertEqual(r.status, 64, r.out + r.err)
        XCTAssertTrue(r.err.contains("scheme ftp is not allowed"), r.err)
        let dash = try runDTE(["quality", "--", "--upload-pack=touch /tmp/x"], in: NSTemporaryDirectory())
        XCTAssertEqual(dash.status, 64, dash.err)
        XCTAssertTrue(dash.err.contains("would be read as an option"), dash.err)
    }

    func testARepositoryThatCannotBeReachedIsAnErrorWithExitOne() throws {
        let r = try runDTE(["quality", "file:///nonexistent/flood.git"], in: NSTemporaryDirectory())
        XCTAssertEqual(r.status, 1, r.out + r.err)
        XCTAssertTrue(r.err.contains("git ls-remote file:///nonexistent/flood.git failed"), r.err)
    }

    func testBadQualitySettingsAreAnErrorNamingTheFieldAndLimit() throws {
        var files = Fixture.bronze
        files["dte.yaml"] = "version: 1\nquality:\n  timeout: 99999\n  commands:\n    QC.Sty:\n      python: \"flake8 .\"\n    QC.Foo:\n      any: [x]\n"
        let repo = try TestRepository(files)
        repos.append(repo)
        let r = try runDTE(["quality", "."], in: repo.folder)
        XCTAssertEqual(r.status, 1, r.out)
        // located as dte validate locates them: file:line:column
        XCTAssertTrue(r.err.contains("dte.yaml:3:12: quality.timeout must be a number of seconds from 1 to 3600"), r.err)
        XCTAssertTrue(r.err.contains("dte.yaml:6:15: quality.commands.QC.Sty.python must be a list of 1 to 256 strings: the program and its arguments"), r.err)
        XCTAssertTrue(r.err.contains("dte.yaml:7:5: quality.commands.QC.Foo: not a criterion checked by a command"), r.err)
    }
}
