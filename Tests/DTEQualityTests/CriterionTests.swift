import DTEQuality
import Foundation
import XCTest

/// Each criterion passes on what it asks for and fails, saying what was seen, when it is not there.
final class CriterionTests: XCTestCase {
    var repos: [TestRepository] = []
    override func tearDown() { repos.forEach { $0.remove() } }

    func report(_ files: [String: String], tags: [String] = [], git: Bool = true, settings: QualitySettings = Fixture.settings) async throws -> QualityReport {
        let repo = try TestRepository(files, tags: tags, git: git)
        repos.append(repo)
        return try await assess(".", root: repo.folder, settings: settings)
    }

    func testAFolderOutsideGitFailsVersionControl() async throws {
        let r = try await report(Fixture.bronze, git: false)
        XCTAssertFalse(r.isValid(.acc))
        XCTAssertTrue(seen(r, .acc).contains("is not a git work tree"), seen(r, .acc))
        XCTAssertNil(r.badgeStatus)
    }

    func testLicenceFromAnSPDXLineIsRecognisedAndChecked() async throws {
        var files = Fixture.bronze
        files["LICENSE"] = "SPDX-License-Identifier: GPL-3.0-or-later\n\nSee https://www.gnu.org/licenses/.\n"
        let r = try await report(files)
        XCTAssertTrue(r.isValid(.lic), seen(r, .lic))
        XCTAssertTrue(seen(r, .lic).contains("GPL-3.0-or-later is OSI-approved"), seen(r, .lic))
    }

    func testAnApacheLicenceTextIsRecognised() async throws {
        var files = Fixture.bronze
        files["LICENSE"] = nil
        files["LICENSE.txt"] = "                                 Apache License\n                           Version 2.0, January 2004\n                        http://www.apache.org/licenses/\n"
        let r = try await report(files)
        XCTAssertTrue(r.isValid(.lic), seen(r, .lic))
        XCTAssertTrue(seen(r, .lic).contains("LICENSE.txt: Apache-2.0"), seen(r, .lic))
    }

    func testANonOSILicenceFailsNamingIt() async throws {
        var files = Fixture.bronze
        files["LICENSE"] = "SPDX-License-Identifier: CC-BY-NC-4.0\n"
        let r = try await report(files)
        XCTAssertFalse(r.isValid(.lic))
        XCTAssertTrue(seen(r, .lic).contains("CC-BY-NC-4.0 is not an OSI-approved licence"), seen(r, .lic))
    }

    func testAnUnrecognisedLicenceFails() async throws {
        var files = Fixture.bronze
        files["LICENSE"] = "Copyright 2026 Somebody. All rights reserved.\n"
        let r = try await report(files)
        XCTAssertFalse(r.isValid(.lic))
        XCTAssertTrue(seen(r, .lic).contains("the licence is not recognised"), seen(r, .lic))
    }

    func testNoLicenceFileFails() async throws {
        var files = Fixture.bronze
        files["LICENSE"] = nil
        let r = try await report(files)
        XCTAssertFalse(r.isValid(.lic))
        XCTAssertTrue(seen(r, .lic).contains("no LICENSE, LICENCE or COPYING file"), seen(r, .lic))
    }

    func testCitationWithoutAuthorsFailsNamingTheField() async throws {
        var files = Fixture.bronze
        files["CITATION.cff"] = "cff-version: 1.2.0\nmessage: cite me\ntitle: Flood\n"
        let r = try await report(files)
        XCTAssertFalse(r.isValid(.met))
        XCTAssertTrue(seen(r, .met).contains("CITATION.cff has no authors"), seen(r, .met))
    }

    func testCitationThatIsNotYAMLFails() async throws {
        var files = Fixture.bronze
        files["CITATION.cff"] = "title: [unclosed\n  authors: {\n"
        let r = try await report(files)
        XCTAssertFalse(r.isValid(.met))
        XCTAssertTrue(seen(r, .met).contains("CITATION.cff is not valid YAML"), seen(r, .met))
    }

    func testAValidCodemetaIsEnoughAndAnInvalidOneIsNamed() async throws {
        var files = Fixture.bronze
        files["CITATION.cff"] = nil
        files["codemeta.json"] = #"{"@context": "https://w3id.org/codemeta/3.0", "@type": "SoftwareSourceCode", "name": "Flood twin"}"#
        let good = try await report(files)
        XCTAssertTrue(good.isValid(.met), seen(good, .met))
        files["codemeta.json"] = #"{"@context": "https://schema.org", "name": "Flood twin""#
        let bad = try await report(files)
        XCTAssertFalse(bad.isValid(.met))
        XCTAssertTrue(seen(bad, .met).contains("codemeta.json is not valid JSON"), seen(bad, .met))
    }

    func testMissingCodeOfConductIsNamedAndOneInDotGitHubCounts() async throws {
        var files = Fixture.bronze
        files["CODE_OF_CONDUCT.md"] = nil
        let missing = try await report(files)
        XCTAssertFalse(missing.isValid(.doc))
        XCTAssertTrue(seen(missing, .doc).contains("no CODE_OF_CONDUCT file in the root, docs/, .github/"), seen(missing, .doc))
        files[".github/CODE_OF_CONDUCT.md"] = "Be kind.\n"
        let found = try await report(files)
        XCTAssertTrue(found.isValid(.doc), seen(found, .doc))
    }

    func testAnEmptyReadmeFails() async throws {
        var files = Fixture.bronze
        files["README.md"] = ""
        let r = try await report(files)
        XCTAssertFalse(r.isValid(.doc))
        XCTAssertTrue(seen(r, .doc).contains("README.md is empty"), seen(r, .doc))
    }

    func testATagThatIsNotSemVerFails() async throws {
        let r = try await report(Fixture.bronze, tags: ["release-5"])
        XCTAssertFalse(r.isValid(.ver))
        XCTAssertTrue(seen(r, .ver).contains("tag release-5 on commit"), seen(r, .ver))
        XCTAssertTrue(seen(r, .ver).contains("is not SemVer compliant"), seen(r, .ver))
    }

    func testASemVerTagOnAnOlderCommitDoesNotCountForTheAssessedOne() async throws {
        let repo = try TestRepository(Fixture.bronze, tags: ["v0.9.0"])
        repos.append(repo)
        try repo.write(["flood.py": Fixture.code + "\n# more\n"])
        try repo.commit("after the release")
        let r = try await assess(repo.url, root: repo.folder)
        XCTAssertFalse(r.isValid(.ver))
        XCTAssertTrue(seen(r, .ver).contains("SemVer tags on other commits: v0.9.0"), seen(r, .ver))
    }

    func testAStyleViolationFailsStyleWithTheCommandsOutput() async throws {
        var files = Fixture.silver
        files["flood.py"] = Fixture.code + "\n\tx = 1\n"
        let r = try await report(files, tags: ["v1.0.0"])
        XCTAssertFalse(r.isValid(.sty))
        XCTAssertTrue(seen(r, .sty).contains("python: `python3 tools/style.py` failed (exit status 1): flood.py:3"), seen(r, .sty))
        XCTAssertEqual(r.badgeStatus, .bronze)
    }

    func testAConfiguredProgramThatDoesNotExistFailsTheCriterionSayingSo() async throws {
        var s = Fixture.settings
        s.commands[.sec] = ["any": ["no-such-sast-tool", "."]]
        let r = try await report(Fixture.silver, tags: ["v1.0.0"], settings: s)
        XCTAssertFalse(r.isValid(.sec))
        XCTAssertTrue(seen(r, .sec).contains("no-such-sast-tool: not found in PATH"), seen(r, .sec))
    }

    func testWorkflowManagementAndDeliveryFailSayingWhatIsMissing() async throws {
        let r = try await report(Fixture.silver, tags: ["v1.0.0"])
        XCTAssertTrue(seen(r, .wor).contains("no CI definition found"), seen(r, .wor))
        XCTAssertTrue(seen(r, .man).contains("no issue template"), seen(r, .man))
        XCTAssertTrue(seen(r, .del).contains("no artifact definition"), seen(r, .del))
        XCTAssertFalse(r.isValid(.wor) || r.isValid(.man) || r.isValid(.del))
    }

    func testADockerfileWithoutPublishingIsNotDelivery() async throws {
        var files = Fixture.gold
        files[".github/workflows/ci.yml"] = "on: [push]\njobs:\n  ci:\n    steps:\n      - run: python3 -m unittest\n"
        let r = try await report(files, tags: ["v1.0.0"])
        XCTAssertTrue(r.isValid(.wor))
        XCTAssertFalse(r.isValid(.del))
        XCTAssertTrue(seen(r, .del).contains("no CI step publishes an artifact"), seen(r, .del))
        XCTAssertEqual(r.badgeStatus, .silver)
    }
}
