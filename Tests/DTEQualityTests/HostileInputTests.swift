import DTEQuality
import DTETestSupport
import Foundation
import XCTest

/// What a repository (or a source string) can do to the gate: nothing hangs, nothing is read
/// outside the checkout, nothing is run through a shell, and the report says what was refused.
final class HostileInputTests: XCTestCase {
    var repos: [TestRepository] = []
    override func tearDown() { repos.forEach { $0.remove() } }

    func repo(_ files: [String: String], tags: [String] = []) throws -> TestRepository {
        let r = try TestRepository(files, tags: tags)
        repos.append(r)
        return r
    }

    func testALicenceThatIsAFIFOIsRefusedWithoutBlocking() async throws {
        var files = Fixture.bronze
        files["LICENSE"] = nil
        let r = try repo(files)
        XCTAssertEqual(mkfifo(r.folder + "/LICENSE", 0o644), 0)
        let start = Date()
        let report = try await assess(".", root: r.folder)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        XCTAssertFalse(report.isValid(.lic))
        XCTAssertTrue(seen(report, .lic).contains("LICENSE is not a regular file"), seen(report, .lic))
    }

    func testALicenceLinkOutOfTheCheckoutIsNotRead() async throws {
        var files = Fixture.bronze
        files["LICENSE"] = nil
        let outside = try TestRepository(["LICENSE": Fixture.mit], git: false)
        repos.append(outside)
        let r = try repo(files)
        try FileManager.default.createSymbolicLink(atPath: r.folder + "/LICENSE", withDestinationPath: outside.folder + "/LICENSE")
        let report = try await assess(".", root: r.folder)
        XCTAssertFalse(report.isValid(.lic), "a licence outside the checkout must not count")
        XCTAssertTrue(seen(report, .lic).contains("LICENSE is a symbolic link out of the checkout"), seen(report, .lic))
    }

    func testALinkInsideTheCheckoutIsFollowed() async throws {
        var files = Fixture.bronze
        files["LICENSE"] = nil
        files["legal/MIT.txt"] = Fixture.mit
        let r = try repo(files)
        try FileManager.default.createSymbolicLink(atPath: r.folder + "/LICENSE", withDestinationPath: "legal/MIT.txt")
        let report = try await assess(".", root: r.folder)
        XCTAssertTrue(report.isValid(.lic), seen(report, .lic))
    }

    func testAHugeReadmeIsNotReadIntoMemory() async throws {
        let r = try repo(Fixture.bronze)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: r.folder + "/README.md"))
        try handle.truncate(atOffset: 8 << 30) // 8 GiB, sparse
        try handle.close()
        let start = Date()
        let report = try await assess(".", root: r.folder)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        XCTAssertTrue(seen(report, .doc).contains("README.md (8589934592 bytes)"), seen(report, .doc))
    }

    func testAHugeCitationIsRefusedBeyondItsLimit() async throws {
        var files = Fixture.bronze
        files["CITATION.cff"] = Fixture.citation + "\n" + String(repeating: "# padding\n", count: 200_000)
        let report = try await assess(".", root: try repo(files).folder)
        XCTAssertFalse(report.isValid(.met))
        XCTAssertTrue(seen(report, .met).contains("CITATION.cff is larger than 1 MiB"), seen(report, .met))
    }

    func testACommandThatHangsIsStoppedAtTheTimeoutWithWhatItLeftBehind() async throws {
        var s = QualitySettings(commandTimeout: 1)
        // The program forks a child that keeps the output open; both go at the timeout.
        s.commands[.uni] = ["any": ["sh", "-c", "sleep 61.234 & sleep 61.234"]]
        let r = try repo(Fixture.bronze)
        let start = Date()
        let report = try await assess(".", root: r.folder, settings: s)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertLessThan(elapsed, 10)
        XCTAssertFalse(report.isValid(.uni))
        XCTAssertTrue(seen(report, .uni).contains("did not finish within 1 s and was stopped"), seen(report, .uni))
        let data = report.report["QC.Uni"]?.subcriteria["QC.Uni01"]?.evidence.first?.dataUnstructured
        XCTAssertEqual(data?.timedOut, true)
        XCTAssertNil(data?.exitStatus)
        let left = try runCommand(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-f", "sleep 61.234"], in: "/")
        XCTAssertNotEqual(left.status, 0, "the command's process group is gone: \(left.out)")
    }

    func testACommandsOutputIsCappedAtTheLimit() async throws {
        var s = QualitySettings(outputLimit: 2048)
        s.commands[.sty] = ["any": ["python3", "-c", "print('x' * 1000000)"]]
        let report = try await assess(".", root: try repo(Fixture.bronze).folder, settings: s)
        let data = try XCTUnwrap(report.report["QC.Sty"]?.subcriteria["QC.Sty01"]?.evidence.first?.dataUnstructured)
        XCTAssertEqual(data.exitStatus, 0)
        XCTAssertTrue(data.outputTruncated)
        XCTAssertEqual(data.output.utf8.count, 2048)
        XCTAssertTrue(report.isValid(.sty))
    }

    func testArgumentsAreDataNotShell() async throws {
        let r = try repo(Fixture.bronze)
        var s = QualitySettings()
        s.commands[.sty] = ["any": ["python3", "-c", "import sys; print(sys.argv[1:])", "$(touch pwned)", "; touch pwned2"]]
        let report = try await assess(".", root: r.folder, settings: s)
        XCTAssertTrue(report.isValid(.sty))
        XCTAssertFalse(FileManager.default.fileExists(atPath: r.folder + "/pwned"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: r.folder + "/pwned2"))
        XCTAssertTrue(report.report["QC.Sty"]?.subcriteria["QC.Sty01"]?.evidence.first?.dataUnstructured?.output.contains("$(touch pwned)") ?? false)
    }

    func testSourcesWithOtherSchemesOrLikeOptionsAreRefused() {
        let refused: [(String, String)] = [
            ("--upload-pack=touch /tmp/x", "starts with '-'"),
            ("-oProxyCommand=sh", "starts with '-'"),
            ("ext::sh -c touch% /tmp/pwned", "git transports"),
            ("http://example.org/repo.git", "scheme http is not allowed"),
            ("ftp://example.org/repo.git", "scheme ftp is not allowed"),
            ("fd::17", "git transports"),
            ("ssh://-oProxyCommand=touch%20x/repo", "its host starts with '-'"),
            ("ssh://git@-oProxyCommand=x/repo", "its host starts with '-'"),
            ("git@-oProxyCommand=x:repo", "its host starts with '-'"),
            ("", "empty"),
            ("file:///tmp/a\nb", "control characters"),
        ]
        for (source, expected) in refused {
            XCTAssertThrowsError(try QualitySource.parse(source), source) { e in
                XCTAssertTrue((e as? QualityError)?.message.contains(expected) ?? false, "\(source): \(e)")
            }
        }
        XCTAssertEqual(try? QualitySource.parse("https://github.com/example/flood-twin"), .git(url: "https://github.com/example/flood-twin"))
        XCTAssertEqual(try? QualitySource.parse("git@github.com:example/flood.git"), .git(url: "git@github.com:example/flood.git"))
        XCTAssertEqual(try? QualitySource.parse("twins/flood"), .path("twins/flood"))
    }

    func testAPathThatLeavesTheRepositoryIsRefusedAndSoIsALinkThatDoes() async throws {
        let root = try repo(Fixture.bronze)
        let outside = try repo(Fixture.bronze)
        for source in ["../" + (outside.folder as NSString).lastPathComponent, outside.folder] {
            do {
                _ = try await assess(source, root: root.folder)
                XCTFail("\(source) was assessed")
            } catch let e as QualityError {
                XCTAssertEqual(e.kind, .source, e.message)
            }
        }
        try FileManager.default.createSymbolicLink(atPath: root.folder + "/twin", withDestinationPath: outside.folder)
        do {
            _ = try await assess("twin", root: root.folder)
            XCTFail("a link out of the repository was followed")
        } catch let e as QualityError {
            XCTAssertTrue(e.message.contains("it leaves the repository"), e.message)
        }
    }

    func testAFolderOfTheRepositoryIsAssessedInPlace() async throws {
        let root = try repo(["README.md": "the DTE repository\n", "twins/flood/LICENSE": Fixture.mit])
        let report = try await assess("twins/flood", root: root.folder)
        XCTAssertTrue(report.isValid(.acc), seen(report, .acc))
        XCTAssertTrue(report.isValid(.lic), seen(report, .lic))
        XCTAssertFalse(report.isValid(.doc), "the twin's folder has no README of its own")
    }

    func testAnUnreachableGitURLIsAnErrorNamingIt() async throws {
        do {
            _ = try await assess("file:///nonexistent/flood.git", root: NSTemporaryDirectory())
            XCTFail("assessed")
        } catch let e as QualityError {
            XCTAssertEqual(e.kind, .fetch)
            XCTAssertTrue(e.message.contains("git ls-remote file:///nonexistent/flood.git failed"), e.message)
        }
    }
}
