import DTETestSupport
import Foundation
import XCTest

/// `dte show`, `plan` and `graph` run on untrusted pull requests just as `validate` does: a
/// template built to crash or stall the compiler gets the same located refusal from each of them,
/// quickly, with no crash and nothing written.
final class HostileTemplateCLITests: XCTestCase {
    /// A scratch repository: the DTE types, an empty site list and `bad.yaml`.
    private func repository(bad: String) throws -> String {
        let dir = NSTemporaryDirectory() + "dte-hostile-" + UUID().uuidString.prefix(8).lowercased()
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/templates/dte", withIntermediateDirectories: true)
        try fm.copyItem(atPath: packageRoot + "/templates/dte/types.yaml", toPath: dir + "/templates/dte/types.yaml")
        try "version: 1\n".write(toFile: dir + "/dte.yaml", atomically: true, encoding: .utf8)
        try bad.write(toFile: dir + "/templates/bad.yaml", atomically: true, encoding: .utf8)
        addTeardownBlock { try? fm.removeItem(atPath: dir) }
        return dir
    }

    /// Runs `dte ARGS` under `timeout`: a stalled compiler ends the command (exit 124) and fails
    /// the test instead of hanging the run.
    private func dte(_ arguments: [String], in dir: String) throws -> CommandOutput {
        try runCommand(URL(fileURLWithPath: "/usr/bin/timeout"), ["60", builtExecutable("dte").path] + arguments,
                       in: dir, environment: ["NO_COLOR": "1"])
    }

    private static let hostile: [(name: String, text: String, says: String, line: Int)] = {
        let header = "tosca_definitions_version: tosca_simple_yaml_1_3\n"
        var bomb = [header + "metadata:", "  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for i in 1..<10 { bomb.append("  a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]") }
        return [
            ("nested 5,000 deep", header + "metadata:\n  x: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n",
             "nested more than 256 levels deep", 3),
            ("an alias bomb", bomb.joined(separator: "\n") + "\n", "more than 1000000 nodes with its aliases expanded", 8),
            ("an import above the repository", header + "imports: [../../../../etc/passwd]\n", "leads outside the repository", 2),
        ]
    }()

    func testShowPlanAndGraphRefuseHostileTemplatesWithALocatedDiagnostic() throws {
        for bad in Self.hostile {
            let dir = try repository(bad: bad.text)
            for command in [["validate"], ["show"], ["plan", "--refresh=false", "--state", dir + "/state.db"], ["graph"]] {
                let started = Date()
                let r = try dte(command, in: dir)
                let said = r.out + r.err
                XCTAssertEqual(r.status, 1, "\(command[0]) of \(bad.name): exit \(r.status) (124 = still running after 60 s)\n\(said)")
                XCTAssertTrue(said.contains(bad.says), "\(command[0]) of \(bad.name) says why: \(said.prefix(600))")
                XCTAssertTrue(said.contains("bad.yaml:\(bad.line):"), "\(command[0]) of \(bad.name) locates it: \(said.prefix(600))")
                XCTAssertFalse(said.contains("Fatal error") || said.contains("Stack dump"), "\(command[0]) of \(bad.name) crashed: \(said.prefix(600))")
                XCTAssertLessThan(Date().timeIntervalSince(started), 30, "\(command[0]) of \(bad.name) takes seconds at most")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/state.db"), "a refused plan writes no state (\(bad.name))")
        }
    }
}
