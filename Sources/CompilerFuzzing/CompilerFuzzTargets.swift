import DTECompiler
import DTEModel
import Foundation

/// What `dte validate` does with a template it does not control, as one function: the fuzzer
/// (`compiler-fuzz` built with `-sanitize=fuzzer`, see `scripts/fuzz.sh compiler`) and the
/// regression tests feed it arbitrary bytes. Nothing here may trap or hang, whatever the input;
/// diagnostics are fine.
///
/// The first byte picks the options (odd: `--strict`); the rest is a TOSCA file. It goes through
/// the YAML loader alone, then through the whole compiler (loader, template parser, checker, DTE's
/// rules, and the model views read) as a file of a scratch repository that holds DTE's types at
/// their usual place, so the shipped templates' and the negative corpus' imports resolve there and
/// no import can leave it.
public enum CompilerFuzzTargets {
    public static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let selector = bytes.first else { return }
        let input = Array(UnsafeRawBufferPointer(rebasing: bytes.dropFirst()))
        var options = CheckOptions()
        options.strict = selector % 2 == 1
        _ = YAMLLoader.load(bytes: input, file: "fuzz.yaml", strict: options.strict)
        guard let scratch = Scratch.shared, FileManager.default.createFile(atPath: scratch.file, contents: Data(input)) else { return }
        let compilation = Compiler.compile(.files([scratch.file]), options: options, workingDirectory: scratch.root)
        for node in compilation.model.nodes {
            _ = node.properties.map(\.value.display)
        }
        _ = compilation.diagnostics.map(\.location)
    }

    public static func run(_ data: Data) {
        data.withUnsafeBytes { run($0) }
    }

    /// The scratch repository: `dte.yaml`, DTE's types under templates/dte/, and the file the input
    /// is written to, as deep as the negative corpus' fixtures are (their imports climb four levels).
    struct Scratch: Sendable {
        var root: String
        var file: String

        static let shared: Scratch? = {
            let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
            let root = NSTemporaryDirectory() + "dte-compiler-fuzz-\(getpid())"
            let dir = root + "/Tests/DTECompilerTests/Fixtures/invalid"
            let fm = FileManager.default
            guard (try? fm.createDirectory(atPath: dir, withIntermediateDirectories: true)) != nil,
                  (try? fm.createDirectory(atPath: root + "/templates/dte", withIntermediateDirectories: true)) != nil,
                  let types = fm.contents(atPath: sources.appendingPathComponent("templates/dte/types.yaml").path),
                  fm.createFile(atPath: root + "/templates/dte/types.yaml", contents: types),
                  fm.createFile(atPath: root + "/dte.yaml", contents: Data("version: 1\n".utf8))
            else { return nil }
            return Scratch(root: root, file: dir + "/fuzz.yaml")
        }()
    }
}
