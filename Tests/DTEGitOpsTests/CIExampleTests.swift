import DTEModel
import DTETestSupport
import Foundation
import XCTest

/// The CI examples are YAML, and every `dte`, `dte-plan` and `dte-apply` command they run names
/// only options those commands have.
final class CIExampleTests: XCTestCase {
    static let examples = ["examples/ci/github-actions.yml", "examples/ci/gitlab-ci.yml"]

    /// Every shell text the file runs: GitHub's `run:`, GitLab's `script:`/`before_script:`/`after_script:`.
    func shellTexts(_ node: YAMLNode) -> [String] {
        var out: [String] = []
        func walk(_ n: YAMLNode, key: String?) {
            switch n {
            case .scalar(let s):
                if let key, ["run", "script", "before_script", "after_script"].contains(key) { out.append(s.value) }
            case .sequence(let items, _):
                for i in items { walk(i, key: key) }
            case .mapping(let entries, _):
                for e in entries { walk(e.value, key: e.key) }
            }
        }
        walk(node, key: nil)
        return out
    }

    /// The invocations in shell text: commands (at the start of a line or after `|`, `&&`, `||`, `;`)
    /// that are `dte SUB`, `dte-plan` or `dte-apply`, and the `--options` they are given.
    func invocations(_ text: String) -> [(command: [String], options: [String])] {
        var out: [(command: [String], options: [String])] = []
        var segments: [String] = []
        for line in text.replacingOccurrences(of: "\\\n", with: " ").split(separator: "\n") {
            var parts = [String(line)]
            for sep in ["&&", "||", ";", "|"] { parts = parts.flatMap { $0.components(separatedBy: sep) } }
            segments += parts
        }
        for segment in segments {
            var tokens = segment.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if let redirect = tokens.firstIndex(where: { $0.hasPrefix(">") }) { tokens = Array(tokens[..<redirect]) }
            guard let program = tokens.first, ["dte", "dte-plan", "dte-apply"].contains(program) else { continue }
            var command = [program]
            var rest = tokens.dropFirst()
            if program == "dte", let sub = rest.first, !sub.hasPrefix("-") { command.append(sub); rest = rest.dropFirst() }
            out.append((command, rest.filter { $0.hasPrefix("--") }.map { String($0.split(separator: "=").first ?? "") }))
        }
        return out
    }

    func testExamplesAreYAMLAndUseOnlyOptionsThatExist() throws {
        var seen: Set<String> = []
        var help: [String: String] = [:]
        for example in Self.examples {
            let text = try String(contentsOfFile: (packageRoot as NSString).appendingPathComponent(example), encoding: .utf8)
            let loaded = YAMLLoader.load(string: text, file: example)
            XCTAssertEqual(loaded.diagnostics.filter { $0.severity == .error }.map(\.message), [], example)
            let root = try XCTUnwrap(loaded.root, example)
            XCTAssertNotNil(root.entries, "\(example) is a map")
            let calls = shellTexts(root).flatMap(invocations)
            XCTAssertFalse(calls.isEmpty, "\(example) runs dte")
            for call in calls {
                let key = call.command.joined(separator: " ")
                if help[key] == nil {
                    let program = call.command[0]
                    let r = try runCommand(builtExecutable(program), Array(call.command.dropFirst()) + ["--help"], in: packageRoot,
                                           environment: ["NO_COLOR": "1"])
                    XCTAssertEqual(r.status, 0, "\(key) --help: \(r.err)")
                    help[key] = r.out
                }
                for option in call.options {
                    XCTAssertTrue(help[key]?.contains(option) ?? false, "\(example): \(key) has no option \(option)")
                    seen.insert("\(example) \(key) \(option)")
                }
                seen.insert("\(example) \(key)")
            }
        }
        for example in Self.examples {
            for expected in ["dte validate --format", "dte-plan --markdown", "dte-plan --json", "dte-plan --junit", "dte-plan --out", "dte-apply"] {
                XCTAssertTrue(seen.contains("\(example) \(expected)"), "\(example) runs \(expected)")
            }
        }
        XCTAssertTrue(help["dte validate"]?.contains("sarif") ?? false)
    }

    func testGitHubWorkflowReportsWhereGitHubReadsThem() throws {
        let text = try String(contentsOfFile: (packageRoot as NSString).appendingPathComponent(Self.examples[0]), encoding: .utf8)
        let root = try XCTUnwrap(YAMLLoader.load(string: text, file: "github-actions.yml").root)
        let jobs = try XCTUnwrap(root["jobs"]?.entries)
        XCTAssertEqual(jobs.map(\.key), ["validate", "plan", "apply"])
        let uses = Set(jobs.flatMap { $0.value["steps"]?.items ?? [] }.compactMap { $0["uses"]?.string })
        XCTAssertTrue(uses.contains("github/codeql-action/upload-sarif@v3"))
        XCTAssertTrue(uses.contains("marocchino/sticky-pull-request-comment@v2"))
        XCTAssertTrue(uses.contains("actions/upload-artifact@v4"))
        XCTAssertEqual(root["jobs"]?["validate"]?["permissions"]?["security-events"]?.string, "write")
    }

    func testGitLabPipelineDeclaresItsReports() throws {
        let text = try String(contentsOfFile: (packageRoot as NSString).appendingPathComponent(Self.examples[1]), encoding: .utf8)
        let root = try XCTUnwrap(YAMLLoader.load(string: text, file: "gitlab-ci.yml").root)
        XCTAssertEqual(root["stages"]?.items?.compactMap(\.string), ["validate", "plan", "apply"])
        XCTAssertEqual(root["plan"]?["artifacts"]?["reports"]?["junit"]?.string, "dte-junit.xml")
        XCTAssertEqual(root["validate"]?["artifacts"]?["reports"]?["codequality"]?.string, "gl-code-quality.json")
        XCTAssertEqual(root["apply"]?["resource_group"]?.string, "dte-apply")
    }
}
