import DTEQuality
import Foundation
import XCTest

/// Local repositories made in the test reach no badge, bronze, silver and gold as SQAaaS awards them.
final class BadgeLevelTests: XCTestCase {
    var repos: [TestRepository] = []
    override func tearDown() { repos.forEach { $0.remove() } }

    func make(_ files: [String: String], tags: [String] = []) throws -> TestRepository {
        let r = try TestRepository(files, tags: tags)
        repos.append(r)
        return r
    }

    func testARepositoryWithOnlyCodeGetsNoBadgeAndTheReportSaysWhatBronzeMisses() async throws {
        let repo = try make(["flood.py": Fixture.code])
        let report = try await assess(repo.url, root: repo.folder)
        XCTAssertNil(report.badgeStatus)
        XCTAssertTrue(report.isValid(.acc), seen(report, .acc))
        let bronze = try XCTUnwrap(report.badge.software?.criteria["bronze"])
        XCTAssertEqual(bronze.toFulfill, ["QC.Acc", "QC.Lic", "QC.Met", "QC.Doc"])
        XCTAssertEqual(bronze.missing, ["QC.Lic", "QC.Met", "QC.Doc"])
        XCTAssertEqual(bronze.fulfilled, ["QC.Acc"])
        XCTAssertTrue(report.json().contains("\"badge_status\" : null"), report.json())
        XCTAssertTrue(report.text().contains("Badge: none (bronze needs QC.Lic, QC.Met, QC.Doc)"), report.text())
    }

    func testLicenceMetadataAndDocumentationGiveBronzeAndSilverStillNeedsStyleSecurityAndATag() async throws {
        let repo = try make(Fixture.bronze)
        let report = try await assess(repo.url, root: repo.folder, settings: QualitySettings())
        XCTAssertEqual(report.badgeStatus, .bronze)
        XCTAssertEqual(report.badge.software?.criteria["silver"]?.missing, ["QC.Sty", "QC.Sec", "QC.Ver"])
        XCTAssertTrue(seen(report, .lic).contains("LICENSE: MIT (from the licence text)"), seen(report, .lic))
        XCTAssertTrue(seen(report, .sty).contains("no QC.Sty command configured"), seen(report, .sty))
        XCTAssertTrue(seen(report, .ver).contains("no release tag on the assessed commit"), seen(report, .ver))
    }

    func testPassingStyleAndSecurityCommandsAndASemVerTagGiveSilver() async throws {
        let repo = try make(Fixture.silver, tags: ["v1.4.0"])
        let report = try await assess(repo.url, root: repo.folder)
        XCTAssertEqual(report.badgeStatus, .silver, report.text())
        XCTAssertTrue(seen(report, .ver).contains("release tag v1.4.0"), seen(report, .ver))
        XCTAssertEqual(report.repository.first?.tag, "v1.4.0")
        XCTAssertEqual(report.badge.software?.criteria["gold"]?.missing, ["QC.Uni", "QC.Wor", "QC.Man", "QC.Del"])
    }

    func testUnitTestsCIIssueTemplatesAndPublishedArtifactGiveGold() async throws {
        let repo = try make(Fixture.gold, tags: ["2.0.1"])
        let report = try await assess(repo.url, root: repo.folder)
        XCTAssertEqual(report.badgeStatus, .gold, report.text())
        XCTAssertEqual(report.badge.software?.criteria["gold"]?.missing, [])
        XCTAssertTrue(seen(report, .uni).contains("`python3 -m unittest discover -s tests -t .` passed"), seen(report, .uni))
        XCTAssertTrue(seen(report, .del).contains("published by .github/workflows/ci.yml (docker push)"), seen(report, .del))
    }

    func testAFailingUnitTestKeepsGoldAwayAndShowsTheTestOutput() async throws {
        var files = Fixture.gold
        files["tests/test_flood.py"] = Fixture.unitTest.replacingOccurrences(of: "depth(7, 5), 2", with: "depth(7, 5), 3")
        let repo = try make(files, tags: ["v2.0.1"])
        let report = try await assess(repo.url, root: repo.folder)
        XCTAssertEqual(report.badgeStatus, .silver)
        let uni = try XCTUnwrap(report.report["QC.Uni"]?.subcriteria["QC.Uni01"]?.evidence.first)
        XCTAssertFalse(uni.valid)
        XCTAssertEqual(uni.dataUnstructured?.exitStatus, 1)
        XCTAssertTrue(uni.dataUnstructured?.output.contains("AssertionError") ?? false, uni.dataUnstructured?.output ?? "")
    }

    func testALevelIsOnlyAwardedWhenEveryLowerLevelIsMet() async throws {
        // Everything of gold except a licence: no badge at all.
        var files = Fixture.gold
        files["LICENSE"] = nil
        let repo = try make(files, tags: ["v1.0.0"])
        let report = try await assess(repo.url, root: repo.folder)
        XCTAssertNil(report.badgeStatus)
        XCTAssertEqual(report.badge.software?.criteria["gold"]?.missing, ["QC.Lic"])
    }
}
