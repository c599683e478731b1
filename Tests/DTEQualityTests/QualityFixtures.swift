import DTEQuality
import DTETestSupport
import Foundation
import XCTest

/// A git repository made in the test: files, commits and tags, reached by a file:// URL.
struct TestRepository {
    let folder: String
    var url: String { "file://" + folder }

    static let git = URL(fileURLWithPath: "/usr/bin/git")
    static let identity = ["GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.org",
                           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.org"]

    /// Creates `folder` (or a new temporary one) with `files`, as a git repository with one
    /// commit when `git` is true, and tags that commit.
    init(_ files: [String: String], tags: [String] = [], git: Bool = true, in folder: String? = nil) throws {
        self.folder = try folder ?? TestRepository.temporaryFolder()
        try write(files)
        guard git else { return }
        try run(["init", "-q", "-b", "main"])
        try commit("first")
        for t in tags { try tag(t) }
    }

    static func temporaryFolder() throws -> String {
        let f = FileManager.default.temporaryDirectory.appendingPathComponent("dte-quality-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: f, withIntermediateDirectories: true)
        return RepositoryFilesRealPath(f)
    }

    func write(_ files: [String: String]) throws {
        for (path, text) in files {
            let full = folder + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
    }

    @discardableResult
    func run(_ args: [String]) throws -> String {
        let r = try runCommand(Self.git, args, in: folder, environment: Self.identity)
        guard r.status == 0 else { throw NSError(domain: "git", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: "git \(args): \(r.err)"]) }
        return r.out
    }

    func commit(_ message: String) throws {
        try run(["add", "-A"])
        try run(["commit", "-q", "--allow-empty", "-m", message])
    }

    func tag(_ name: String) throws { try run(["tag", "-a", name, "-m", name]) }

    func remove() { try? FileManager.default.removeItem(atPath: folder) }
}

func RepositoryFilesRealPath(_ p: String) -> String {
    guard let r = realpath(p, nil) else { return p }
    defer { free(r) }
    return String(cString: r)
}

/// File sets that reach each level (with `Fixture.silverSettings` for the commands).
enum Fixture {
    static let mit = """
        MIT License

        Copyright (c) 2026 The Flood Twin authors

        Permission is hereby granted, free of charge, to any person obtaining a copy
        of this software and associated documentation files (the "Software"), to deal
        in the Software without restriction, including without limitation the rights
        to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
        copies of the Software, and to permit persons to whom the Software is
        furnished to do so, subject to the following conditions:

        The above copyright notice and this permission notice shall be included in all
        copies or substantial portions of the Software.

        THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
        """

    static let citation = """
        cff-version: 1.2.0
        message: If you use this software, please cite it as below.
        title: Flood twin
        authors:
          - family-names: Rossi
            given-names: Anna
          - name: The Flood Twin team
        """

    static let code = """
        def depth(rain_mm, drainage_mm):
            return max(0, rain_mm - drainage_mm)
        """

    /// A style check: no tabs, lines of at most 79 characters, in every .py file.
    static let styleTool = """
        import pathlib, sys
        bad = []
        for p in pathlib.Path('.').rglob('*.py'):
            if 'tools' in p.parts:
                continue
            for n, line in enumerate(p.read_text().splitlines(), 1):
                if '\\t' in line or len(line) > 79:
                    bad.append(f'{p}:{n}')
        print('\\n'.join(bad))
        sys.exit(1 if bad else 0)
        """

    /// A security check: no eval( or exec( in the code.
    static let securityTool = """
        import pathlib, sys
        bad = [str(p) for p in pathlib.Path('.').rglob('*.py')
               if 'tools' not in p.parts and ('eval(' in p.read_text() or 'exec(' in p.read_text())]
        print('\\n'.join(bad))
        sys.exit(1 if bad else 0)
        """

    static let unitTest = """
        import unittest
        from flood import depth

        class DepthTest(unittest.TestCase):
            def test_no_negative_depth(self):
                self.assertEqual(depth(1, 5), 0)

            def test_excess_rain(self):
                self.assertEqual(depth(7, 5), 2)
        """

    static var bronze: [String: String] {
        ["LICENSE": mit, "CITATION.cff": citation, "README.md": "# Flood twin\n\nModels river floods.\n",
         "CONTRIBUTING.md": "Open a pull request.\n", "CODE_OF_CONDUCT.md": "Be kind.\n", "flood.py": code]
    }

    static var silver: [String: String] {
        bronze.merging(["tools/style.py": styleTool, "tools/sast.py": securityTool]) { a, _ in a }
    }

    static var gold: [String: String] {
        silver.merging([
            "tests/__init__.py": "",
            "tests/test_flood.py": unitTest,
            ".github/workflows/ci.yml": "on: [push, pull_request]\njobs:\n  ci:\n    steps:\n      - run: python3 -m unittest\n      - run: docker push ghcr.io/example/flood:latest\n",
            ".github/ISSUE_TEMPLATE/bug.md": "What happened?\n",
            ".github/pull_request_template.md": "What does this change?\n",
            "Dockerfile": "FROM python:3.12\nCOPY flood.py /app/\n",
        ]) { a, _ in a }
    }

    static let commands: [QualityCriterion: [String: [String]]] = [
        .sty: ["python": ["python3", "tools/style.py"]],
        .sec: ["python": ["python3", "tools/sast.py"]],
        .uni: ["python": ["python3", "-m", "unittest", "discover", "-s", "tests", "-t", "."]],
    ]

    static let settings = QualitySettings(commandTimeout: 60, gitTimeout: 60, commands: commands)

    static let dteYAML = """
        version: 1
        quality:
          timeout: 60
          commands:
            QC.Sty:
              python: [python3, tools/style.py]
            QC.Sec:
              python: [python3, tools/sast.py]
            QC.Uni:
              python: [python3, -m, unittest, discover, -s, tests, -t, .]
        """
}

extension XCTestCase {
    /// Assesses `source` with a fresh assessor rooted at `root`.
    func assess(_ source: String, root: String, settings: QualitySettings = Fixture.settings) async throws -> QualityReport {
        try await QualityAssessor(repositoryRoot: root, settings: settings).assess(source)
    }

    /// The messages of a criterion's evidence, joined.
    func seen(_ report: QualityReport, _ c: QualityCriterion) -> String {
        (report.report[c.rawValue]?.subcriteria.values.flatMap { $0.evidence.map(\.message) } ?? []).sorted().joined(separator: " | ")
            + (report.report[c.rawValue]?.filteredReason ?? []).joined(separator: " | ")
    }
}
