import DTECommands
import DTETestSupport
import Foundation
import XCTest

final class InitCommandTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "dte-init-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testEmbeddedScaffoldEqualsTheRepositoryFiles() throws {
        let paths = InitScaffold.files.map(\.path)
        for required in ["dte.yaml", ".gitignore", "sites/local.yaml", "templates/dte/types.yaml", "templates/demo.yaml",
                         ".github/workflows/dte.yml", ".gitlab-ci.yml"] {
            XCTAssertTrue(paths.contains(required), "the scaffold has \(required)")
        }
        XCTAssertTrue(paths.contains { $0.hasPrefix("recipes/") })
        for f in InitScaffold.files {
            let source = try String(contentsOfFile: (packageRoot as NSString).appendingPathComponent(f.source), encoding: .utf8)
            XCTAssertEqual(f.text, source, "\(f.path) embedded in dte is not \(f.source) any more: run scripts/gen-init-scaffold.sh")
        }
    }

    func testInitScaffoldsARepositoryThatValidatesAndPlans() throws {
        let repo = (dir as NSString).appendingPathComponent("my-twins")
        let r = try runDTE(["init", repo], in: dir)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("created  sites/local.yaml"), r.out)
        for f in InitScaffold.files {
            let written = try String(contentsOfFile: (repo as NSString).appendingPathComponent(f.path), encoding: .utf8)
            XCTAssertEqual(written, f.text, f.path)
        }
        let v = try runDTE(["validate"], in: repo)
        XCTAssertEqual(v.status, 0, v.out + v.err)
        XCTAssertTrue(v.out.contains("no errors"), v.out)
        let p = try runDTE(["plan", "--refresh=false"], in: repo)
        XCTAssertEqual(p.status, 0, p.out + p.err)
        for component in ["twin.demo.hello", "twin.demo.estimate-pi", "twin.demo.summary"] {
            XCTAssertTrue(p.out.contains(component), "the plan lists \(component):\n\(p.out)")
        }
        XCTAssertTrue(p.out.contains("create"), p.out)
        // The state the plan opened is one .gitignore keeps out of git.
        let ignore = try String(contentsOfFile: (repo as NSString).appendingPathComponent(".gitignore"), encoding: .utf8)
        XCTAssertTrue(ignore.split(separator: "\n").contains(".dte/"))
    }

    func testInitRefusesAFolderThatIsNotEmptyUnlessForced() throws {
        let mine = (dir as NSString).appendingPathComponent("dte.yaml")
        try Data("# mine\nversion: 1\n".utf8).write(to: URL(fileURLWithPath: mine))
        let refused = try runDTE(["init", dir], in: dir)
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.err.contains("is not empty") && refused.err.contains("--force"), refused.err)
        XCTAssertEqual(try String(contentsOfFile: mine, encoding: .utf8), "# mine\nversion: 1\n", "nothing was overwritten")
        XCTAssertFalse(FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent("sites")), "nothing was written")

        let keep = (dir as NSString).appendingPathComponent("notes.txt")
        try Data("keep".utf8).write(to: URL(fileURLWithPath: keep))
        let forced = try runDTE(["init", "--force", "."], in: dir)
        XCTAssertEqual(forced.status, 0, forced.err)
        XCTAssertTrue(forced.out.contains("replaced dte.yaml"), forced.out)
        XCTAssertNotEqual(try String(contentsOfFile: mine, encoding: .utf8), "# mine\nversion: 1\n")
        XCTAssertEqual(try String(contentsOfFile: keep, encoding: .utf8), "keep", "files outside the scaffold are left alone")
    }

    func testInitDoesNotWriteThroughASymbolicLink() throws {
        let outside = (dir as NSString).appendingPathComponent("outside")
        let repo = (dir as NSString).appendingPathComponent("repo")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: (repo as NSString).appendingPathComponent("sites"), withDestinationPath: outside)
        let r = try runDTE(["init", "--force", repo], in: dir)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("sites") && r.err.contains("symbolic link"), r.err)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: (repo as NSString).appendingPathComponent("dte.yaml")), "checked before writing")
    }
}
