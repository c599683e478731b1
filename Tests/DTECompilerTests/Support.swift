import DTECompiler
import DTEModel
import Foundation
import XCTest

/// The repository root, found from this file's path (tests read the shipped files in place).
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// A scratch repository in a temporary folder: `dte.yaml`, the DTE types, and files given inline.
struct ScratchRepository {
    let root: String

    init(_ files: [String: String], withTypes: Bool = true, config: String = "version: 1\n") throws {
        root = NSTemporaryDirectory() + "dte-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try config.write(toFile: root + "/dte.yaml", atomically: true, encoding: .utf8)
        if withTypes {
            try FileManager.default.createDirectory(atPath: root + "/templates/dte", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: repositoryRoot + "/templates/dte/types.yaml", toPath: root + "/templates/dte/types.yaml")
        }
        for (path, text) in files {
            let full = root + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
    }

    func compile(_ paths: [String]? = nil, inputs: [String: String] = [:]) -> Compilation {
        var o = CheckOptions()
        for (k, v) in inputs { o.inputs[k] = YAMLLoader.load(string: v, file: "--input").root }
        return Compiler.compile(paths.map { .files($0) } ?? .repository("."), options: o, workingDirectory: root)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

func errors(_ c: Compilation) -> [Diagnostic] { c.diagnostics.filter { $0.severity == .error } }

func describe(_ ds: [Diagnostic]) -> String {
    ds.map { "\($0.location): \($0.code): \($0.message)" }.joined(separator: "\n")
}

/// A twin file header importing the DTE types from templates/.
let twinHeader = """
tosca_definitions_version: tosca_simple_yaml_1_3
imports: [dte/types.yaml]

"""
