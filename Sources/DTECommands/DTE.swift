import ArgumentParser
import DTECompiler
import DTEModel
import DTEViews
import Foundation

/// The `dte` command line; `dte-plan` and `dte-apply` run its plan and apply subcommands.
public struct DTE: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dte",
        abstract: "The deployment engine of the Digital Twin Engine: TOSCA twins and sites → plans → HPC jobs.",
        version: "0.1.0",
        subcommands: [Validate.self, Show.self, PlanCommand.self, ApplyCommand.self, Status.self, Logs.self, Graph.self, StateCommand.self,
                      OutputCommand.self, QualityCommand.self, Usage.self, Check.self, ReconcileCommand.self, Notify.self, Init.self]
    )

    public init() {}
}

/// Options shared by commands that read the repository.
struct SourceOptions: ParsableArguments {
    @Option(name: [.customShort("C"), .long], help: "Run as if started in this folder.")
    var chdir: String?

    @Option(name: .customLong("input"), help: ArgumentHelp("An input value, NAME=VALUE (repeatable); VALUE is read as YAML.", valueName: "name=value"))
    var inputs: [String] = []

    @Argument(help: "Files to check (with what they import). Default: the whole repository (dte.yaml, sites/, templates/, recipes/).")
    var paths: [String] = []

    func validate() throws {
        for i in inputs where !i.contains("=") || i.hasPrefix("=") {
            throw ValidationError("--input takes NAME=VALUE, got \"\(i)\"")
        }
        if let chdir, !FileManager.default.fileExists(atPath: chdir) {
            throw ValidationError("-C: no such folder: \(chdir)")
        }
    }

    var workingDirectory: String {
        let cwd = FileManager.default.currentDirectoryPath
        guard let chdir else { return cwd }
        return SourceSet.absolute(chdir, relativeTo: cwd)
    }

    /// `strict`: what only YAML 1.1 tools accept is an error at each place (`dte validate --strict`).
    func checkOptions(strict: Bool = false) -> CheckOptions {
        var o = CheckOptions()
        o.inputsSource = "--input"
        o.strict = strict
        for i in inputs {
            guard let eq = i.firstIndex(of: "=") else { continue }
            let name = String(i[..<eq]), text = String(i[i.index(after: eq)...])
            let loaded = YAMLLoader.load(string: text, file: "--input \(name)")
            o.inputs[name] = loaded.root ?? .scalar(YAMLScalar(value: text, style: .doubleQuoted))
        }
        return o
    }

    func compile(strict: Bool = false) -> Compilation {
        let scope: Compiler.Scope = paths.isEmpty ? .repository(".") : .files(paths)
        return Compiler.compile(scope, options: checkOptions(strict: strict), workingDirectory: workingDirectory)
    }
}

/// Reads source lines for diagnostic excerpts, relative to the working directory.
final class SourceLines: @unchecked Sendable {
    private let lock = NSLock()
    private var cache: [String: [Substring]] = [:]
    let base: String

    init(base: String) { self.base = base }

    func line(_ file: String, _ n: Int) -> String? {
        lock.lock()
        defer { lock.unlock() }
        if cache[file] == nil {
            let path = file.hasPrefix("/") ? file : (base as NSString).appendingPathComponent(file)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            cache[file] = text.split(separator: "\n", omittingEmptySubsequences: false)
        }
        guard let lines = cache[file], n >= 1, n <= lines.count else { return nil }
        return String(lines[n - 1]).replacingOccurrences(of: "\r", with: "")
    }
}

/// Flushes output and exits without tearing down the loaded model.
func finish(_ code: Int32) -> Never {
    fflush(nil)
    exit(code)
}

func useColor() -> Bool {
    if ProcessInfo.processInfo.environment["NO_COLOR"] != nil { return false }
    return isatty(STDOUT_FILENO) == 1
}

extension DTE {
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check sites, twins and recipes: every problem with file:line:column, YAML path and a hint.",
            discussion: "Exit status: 0 when valid (warnings allowed), 1 when there are errors, 64 on a usage error."
        )

        @OptionGroup var source: SourceOptions

        @Option(help: "Output format: text, json or sarif (SARIF 2.1.0 for code scanning).")
        var format: DiagnosticFormatOption = .text

        @Flag(help: "Treat warnings as errors, and refuse what only YAML 1.1 tools accept (yes/no/on/off as booleans) where it is written.")
        var strict = false

        func run() throws {
            let c = source.compile(strict: strict)
            let lines = SourceLines(base: source.workingDirectory)
            let view = DiagnosticView(diagnostics: c.diagnostics, filesChecked: c.files.count, color: format == .text && useColor(),
                                      sourceLine: { lines.line($0, $1) })
            print(view.render(format.value), terminator: "")
            let failed = !c.isValid || (strict && c.diagnostics.contains { $0.severity == .warning })
            // The model of a large repository takes a while to free; the process is done with it.
            finish(failed ? 1 : 0)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the resolved model: node templates with types, evaluated properties, requirements, policies, outputs."
        )

        @OptionGroup var source: SourceOptions

        @Option(help: "Output format: text or json.")
        var format: ShowFormat = .text

        enum ShowFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

        func run() throws {
            let c = source.compile()
            if !c.isValid {
                let lines = SourceLines(base: source.workingDirectory)
                let view = DiagnosticView(diagnostics: c.diagnostics, filesChecked: c.files.count, color: useColor(),
                                          sourceLine: { lines.line($0, $1) })
                FileHandle.standardError.write(Data(view.text().utf8))
                throw ExitCode(1)
            }
            let view = ModelView(model: c.model)
            print(format == .json ? view.json() : view.text(), terminator: "")
        }
    }
}

enum DiagnosticFormatOption: String, ExpressibleByArgument, CaseIterable {
    case text, json, sarif
    var value: DiagnosticFormat { DiagnosticFormat(rawValue: rawValue) ?? .text }
}
